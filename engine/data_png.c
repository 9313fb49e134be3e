// data_png.c — a folder of PNG images: every *.png in it, in name order.
//
// All images must share one size and channel count (grey or RGB after png_read's
// conversions); the first file sets them. There are no labels and no split: the training
// and the test set are both the whole folder.
#include "data_common.h"
#include "png_io.h"
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

static int is_png(const char *name) {
  size_t n = strlen(name);
  return n > 4 && !strcasecmp(name + n - 4, ".png");
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// The names of the *.png files in dir, sorted; *out is malloc'd, as is every name.
static int list_pngs(const char *dir, char ***out, int *count, Err *e) {
  DIR *d = opendir(dir);
  if (!d) return err_set(e, "%s: %s", dir, strerror(errno));
  char **names = NULL;
  int n = 0, cap = 0;
  for (struct dirent *ent; (ent = readdir(d));) {
    if (ent->d_name[0] == '.' || !is_png(ent->d_name)) continue;  // skips hidden files too
    if (n == cap) names = xrealloc(names, sizeof *names * (cap = cap ? 2 * cap : 64));
    names[n++] = xstrdup(ent->d_name);
  }
  closedir(d);
  if (n > 1) qsort(names, n, sizeof *names, by_name);
  *out = names, *count = n;
  return 0;
}

static const char *kind(int c) { return c == 1 ? "grey" : "RGB"; }

int data_load_png(const char *dir, Dataset *ds, Err *e) {
  memset(ds, 0, sizeof *ds);
  char **names = NULL, path[4096], first[4096];
  int n = 0, rc = -1;
  if (list_pngs(dir, &names, &n, e)) return -1;
  if (n == 0) { free(names); return err_set(e, "%s: no .png files", dir); }
  for (int i = 0; i < n; i++) {
    uint8_t *pix;
    int w, h, c;
    if (data_path(path, sizeof path, dir, names[i], e) || png_read(path, &pix, &w, &h, &c, e)) goto done;
    if (i == 0) {
      memcpy(first, path, sizeof path);
      if (data_alloc(ds, n, c, h, w, 0, path, e)) { free(pix); goto done; }
    } else if (w != ds->w || h != ds->h || c != ds->c) {
      err_set(e, "%s: %dx%d %s, but %s is %dx%d %s", path, w, h, kind(c), first, ds->w, ds->h, kind(ds->c));
      free(pix);
      goto done;
    }
    // Interleaved bytes (h,w,c) to a planar image (c,h,w) in [-1,1].
    float *dst = ds->x + (size_t)i * c * h * w;
    for (int k = 0; k < c; k++)
      for (int p = 0; p < h * w; p++) dst[(size_t)k * h * w + p] = pix[(size_t)p * c + k] / 127.5f - 1.0f;
    free(pix);
  }
  rc = 0;
done:
  if (rc) data_free(ds);
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}
