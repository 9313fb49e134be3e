#include "models.h"

UNet *test_tiny_unet(Backend *be, const WidthMap *w) {
  UNetConfig cfg;
  unet_preset("tiny", 1, &cfg);
  Err e;
  return unet_create(&cfg, w, be, &e);
}

void test_randomize(UNet *m, uint64_t seed, float scale) {
  Rng r;
  rng_seed(&r, seed);
  float *h = xmalloc(sizeof(float) * m->size);
  for (size_t i = 0; i < m->size; i++) h[i] = scale * rng_normal(&r);
  m->be->upload(m->be, m->w, h, m->size);
  free(h);
}

UNet *test_tiny_random(Backend *be, uint64_t seed, float scale) {
  UNet *m = test_tiny_unet(be, NULL);
  test_randomize(m, seed, scale);
  return m;
}
