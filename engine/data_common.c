// data_common.c — see data_common.h.
#include "data_common.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

// The most floats one data set may hold (16 GiB); anything larger is a corrupt header.
#define DATA_MAX_FLOATS (1L << 32)

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
