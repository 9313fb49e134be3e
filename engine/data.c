// data.c — picks the loader for a data set spec; helpers the loaders share.
#include "data.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

// The most floats one data set may hold (16 GiB); anything larger is a corrupt header.
#define DATA_MAX_FLOATS (1L << 32)

// If spec is "kind" or starts with "kind:", returns what follows (maybe ""); else NULL.
static const char *after_kind(const char *spec, const char *kind) {
  size_t k = strlen(kind);
  if (strncmp(spec, kind, k)) return NULL;
  if (spec[k] == 0) return spec + k;
  return spec[k] == ':' ? spec + k + 1 : NULL;
}

int data_load(const char *spec, int split, Dataset *ds, Err *e) {
  memset(ds, 0, sizeof *ds);
  if (split != DATA_TRAIN && split != DATA_TEST) return err_set(e, "%s: no split %d (0 train, 1 test)", spec, split);
  const char *arg, *name;
  int rc;
  if ((arg = after_kind(spec, "fashion-mnist"))) {
    name = "fashion-mnist";
    rc = data_load_idx(*arg ? arg : DATA_FASHION_MNIST_DIR, split, ds, e);
  } else if ((arg = after_kind(spec, "mnist")) && *arg) {
    name = "mnist";
    rc = data_load_idx(arg, split, ds, e);
  } else if ((arg = after_kind(spec, "cifar10")) && *arg) {
    name = "cifar10";
    rc = data_load_cifar(arg, split, ds, e);
  } else if ((arg = after_kind(spec, "png")) && *arg) {
    name = "png";
    rc = data_load_png(arg, ds, e);
  } else {
    return err_set(e, "%s: unknown data set (fashion-mnist, mnist:DIR, cifar10:DIR or png:DIR)", spec);
  }
  if (rc) { data_free(ds); return -1; }
  snprintf(ds->name, sizeof ds->name, "%s", name);
  return 0;
}

void data_free(Dataset *ds) {
  free(ds->x);
  free(ds->labels);
  memset(ds, 0, sizeof *ds);
}

int data_path(char *buf, size_t cap, const char *dir, const char *file, Err *e) {
  if ((size_t)snprintf(buf, cap, "%s/%s", dir, file) >= cap) return err_set(e, "%s/%s: path too long", dir, file);
  return 0;
}

int data_alloc(Dataset *ds, long n, int c, int h, int w, int with_labels, const char *what, Err *e) {
  if (n <= 0 || n > INT_MAX || c <= 0 || h <= 0 || w <= 0 || (double)n * c * h * w > (double)DATA_MAX_FLOATS)
    return err_set(e, "%s: absurd size (%ld images of %dx%dx%d)", what, n, c, h, w);
  size_t count = (size_t)n * c * h * w;
  ds->x = malloc(count * sizeof(float));
  ds->labels = with_labels ? malloc((size_t)n) : NULL;
  if (!ds->x || (with_labels && !ds->labels)) {
    data_free(ds);
    return err_set(e, "%s: out of memory for %ld images of %dx%dx%d", what, n, c, h, w);
  }
  ds->n = (int)n, ds->c = c, ds->h = h, ds->w = w;
  return 0;
}
