// fuzz_checkpoint.c — the model loader (engine/checkpoint.c) on a safetensors file: format,
// config and widths metadata (JSON in strings), tensor names and shapes against the model
// they describe, training state and settings.
#include "engine/checkpoint.h"
#include "engine/safetensors.h"
#include "engine/unet.h"
#include "tests/fuzz/fuzz.h"
#include <stdio.h>
#include <stdlib.h>

static Backend *be;

int fuzz_one(const uint8_t *data, size_t n) {
  if (!be) be = backend_create("cpu", 1, &(Err){0});
  const char *path = fuzz_file("in.safetensors", data, n);
  Err e;
  CkptInfo info;
  UNet *m = ckpt_load_model(path, be, 1, &info, &e);
  if (m) unet_free(m);
  int batch;
  OptimCfg oc;
  float gamma;
  (void)ckpt_load_train_settings(path, &batch, &oc, &gamma, &e);
  free(ckpt_meta(path, "config", &e));
  return 0;
}

// Seeds: a very small model (4 base channels, 8×8 images), as saved with and without
// training state.
int fuzz_make_seeds(const char *dir) {
  if (!be) be = backend_create("cpu", 1, &(Err){0});
  UNetConfig c = {.in_ch = 1, .img = 8, .ch = 4, .nlevels = 2, .mult = {1, 2}, .nres = 1, .nattn = 1,
                  .attn_res = {4}, .groups = 2};
  WidthMap w = {0};
  Err e;
  UNet *m = unet_create(&c, &w, be, &e);
  if (!m) { fprintf(stderr, "%s\n", e.msg); return -1; }
  char path[600];
  snprintf(path, sizeof path, "%s/tiny-model.safetensors", dir);
  if (ckpt_save(path, m, NULL, "fashion-mnist", NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
  unet_free(m);
  return 0;
}
