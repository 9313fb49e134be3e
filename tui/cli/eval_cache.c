#include "tui/cli/eval_cache.h"
#include "engine/safetensors.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// mkdir -p for the one or two levels a cache path adds.
static int make_dirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int rc = mkdir(path, 0777);
    *p = '/';
    if (rc && errno != EEXIST) return -1;
  }
  return mkdir(path, 0777) && errno != EEXIST ? -1 : 0;
}

int eval_cache_dir(const char *dir, char *out, size_t cap) {
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int n;
  if (dir) {
    if (!dir[0]) return -1;
    n = snprintf(out, cap, "%s", dir);
  } else if (xdg && xdg[0]) {
    n = snprintf(out, cap, "%s/stepscope", xdg);
  } else if (home && home[0]) {
    n = snprintf(out, cap, "%s/.cache/stepscope", home);
  } else {
    return -1;
  }
  if (n < 0 || (size_t)n >= cap) return -1;
  if (make_dirs(out)) {
    fprintf(stderr, "stepscope: note: cannot create the cache folder %s (%s): nothing is cached\n", out,
            strerror(errno));
    return -1;
  }
  return 0;
}

void fp_init(Fingerprint *f) { f->h = 1469598103934665603ull; }

void fp_bytes(Fingerprint *f, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) f->h = (f->h ^ b[i]) * 1099511628211ull;
}

void fp_str(Fingerprint *f, const char *s) { fp_bytes(f, s, strlen(s) + 1); }

int fp_file(Fingerprint *f, const char *path) {
  FILE *fh = fopen(path, "rb");
  if (!fh) return -1;
  unsigned char buf[1 << 16];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, fh)) > 0) fp_bytes(f, buf, k);
  int bad = ferror(fh);
  fclose(fh);
  return bad ? -1 : 0;
}

void fp_hex(const Fingerprint *f, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)f->h); }

static void entry_path(char *out, size_t cap, const char *dir, const char *name) {
  snprintf(out, cap, "%s/%s.safetensors", dir, name);
}

int eval_cache_load(const char *dir, const char *name, long rows, int cols, float *out) {
  if (!dir || !dir[0]) return -1;
  char path[4096];
  entry_path(path, sizeof path, dir, name);
  StFile f;
  Err e;
  if (st_load(path, &f, &e)) return -1;  // absent or damaged: recomputed, then overwritten
  const StTensor *t = st_find(&f, "x");
  const char *fp = st_meta(&f, "fingerprint");
  int ok = t && t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols && fp && !strcmp(fp, name);
  if (ok) memcpy(out, t->data, sizeof(float) * rows * cols);
  st_free(&f);
  return ok ? 0 : -1;
}

void eval_cache_save(const char *dir, const char *name, long rows, int cols, const float *m) {
  if (!dir || !dir[0]) return;
  char path[4096];
  entry_path(path, sizeof path, dir, name);
  StFile f;
  Err e;
  st_init(&f);
  st_add(&f, "x", 2, (int64_t[]){rows, cols}, m);
  st_set_meta(&f, "format", "stepscope-eval-cache/1");
  st_set_meta(&f, "fingerprint", name);
  if (st_save(path, &f, &e)) fprintf(stderr, "stepscope: note: not cached: %s\n", e.msg);
  st_free(&f);
}
