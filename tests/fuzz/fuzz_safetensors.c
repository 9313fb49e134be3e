// fuzz_safetensors.c — the safetensors reader (engine/safetensors.c): header length, JSON
// header, dtypes, shapes, data offsets, metadata. A file it accepts must save and load back
// with the same tensors and metadata.
#include "engine/safetensors.h"
#include "tests/fuzz/fuzz.h"
#include <stdlib.h>
#include <string.h>

int fuzz_one(const uint8_t *data, size_t n) {
  const char *path = fuzz_file("in.safetensors", data, n);
  StFile f, g;
  Err e;
  if (st_load(path, &f, &e)) return 0;
  for (int k = 0; k < f.n; k++) (void)st_find(&f, f.t[k].name);
  (void)st_meta(&f, "format");
  char out[600];
  snprintf(out, sizeof out, "%s/out.safetensors", fuzz_dir());
  if (st_save(out, &f, &e) == 0) {
    if (st_load(out, &g, &e)) abort();  // what we wrote we must read
    if (g.n != f.n || g.nmeta != f.nmeta) abort();
    for (int k = 0; k < f.n; k++) {
      const StTensor *t = st_find(&g, f.t[k].name);
      if (!t || t->ndim != f.t[k].ndim || memcmp(t->data, f.t[k].data, sizeof(float) * (size_t)st_numel(t)))
        abort();
    }
    st_free(&g);
  }
  st_free(&f);
  return 0;
}
