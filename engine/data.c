// data.c — picks the loader for a data set spec.
#include "data.h"
#include <string.h>

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
