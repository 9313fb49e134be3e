#include "models.h"
#include <math.h>

UNet *test_tiny_unet(Backend *be, const WidthMap *w) {
  UNetConfig cfg;
  unet_preset("tiny", 1, &cfg);
  Err e;
  return unet_create(&cfg, w, be, &e);
}

void test_fill_normal(Backend *be, float *dst, size_t n, uint64_t seed, float scale) {
  Rng r;
  rng_seed(&r, seed);
  float *h = xmalloc(sizeof(float) * n);
  for (size_t i = 0; i < n; i++) h[i] = scale * rng_normal(&r);
  be->upload(be, dst, h, n);
  free(h);
}

void test_randomize(UNet *m, uint64_t seed, float scale) { test_fill_normal(m->be, m->w, m->size, seed, scale); }

UNet *test_tiny_random(Backend *be, uint64_t seed, float scale) {
  UNet *m = test_tiny_unet(be, NULL);
  test_randomize(m, seed, scale);
  return m;
}

Dataset test_random_data(int n, uint64_t seed) {
  Dataset d = {.n = n, .c = 1, .h = 32, .w = 32};
  d.x = xmalloc(sizeof(float) * n * 1024);
  Rng r;
  rng_seed(&r, seed);
  for (long i = 0; i < (long)n * 1024; i++) d.x[i] = 2 * rng_uniform(&r) - 1;
  return d;
}

int test_unet_eps(void *unet, int t, const float *x, int B, float *eps, Err *e) {
  (void)e;
  unet_eps_host(unet, t, x, B, eps);
  return 0;
}

double test_rel_l2(const float *a, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}
