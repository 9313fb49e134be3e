// kernel_check.c — the CPU kernel tests' fixtures (kernel_check.h).
#include "kernel_check.h"
#include <math.h>
#include <stdlib.h>

// ---- fixtures: two backends, and scratch buffers freed when the next test starts ----

Backend *REF, *FAST;
Rng kernels_rng;
float *scratch[256];
int nscratch;

void setup(uint64_t seed) {
  if (!REF) REF = backend_cpu_ref_create();
  if (!FAST) FAST = backend_cpu_create(2);
  while (nscratch) free(scratch[--nscratch]);
  rng_seed(&kernels_rng, seed);
}

float *zeros(size_t n) {
  if (nscratch == 256) { fprintf(stderr, "kernel_check: too many scratch buffers\n"); abort(); }
  return scratch[nscratch++] = xcalloc(n ? n : 1, sizeof(float));
}
float *randn(size_t n, float sd) {
  float *x = zeros(n);
  for (size_t i = 0; i < n; i++) x[i] = sd * rng_normal(&kernels_rng);
  return x;
}
float *dupf(const float *x, size_t n) { return memcpy(zeros(n), x, n * sizeof(float)); }
double dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

// Reports the worst entry and how many are off; returns 0 when any is.
int expect_close(const char *file, int line, const char *what, const float *got,
                        const float *want, size_t n, double atol, double rtol) {
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - want[i]), lim = atol + rtol * fabs(want[i]);
    if (!(err <= lim)) {
      bad++;
      if (!(err - lim <= worst_excess)) { worst_excess = err - lim; worst = i; }
    }
  }
  if (bad)
    test_fail(file, line, "%s: %zu of %zu off, worst [%zu] = %.8g, expected %.8g", what, bad, n,
              worst, got[worst], want[worst]);
  return bad == 0;
}

// ---- finite differences ----

// Checks g = dL/dp by central differences of loss(ctx), on every entry of p when there are
// few, else on 96 random ones (the first and last among them). The step actually taken is
// (float)(p+h) - (float)(p-h), not 2h.
int grad_check(const char *file, int line, const char *what, double (*loss)(void *),
                      void *ctx, float *p, size_t n, const float *g, double h) {
  const double atol = 2e-3, rtol = 1e-2;
  int bad = 0;
  const size_t checks = n <= 256 ? n : 96;
  for (size_t k = 0; k < checks && bad < 3; k++) {
    size_t i = n <= 256 ? k : k == 0 ? 0 : k == 1 ? n - 1 : (size_t)rng_int(&kernels_rng, (int)n);
    const float p0 = p[i], hi = (float)(p0 + h), lo = (float)(p0 - h);
    p[i] = hi;
    const double lhi = loss(ctx);
    p[i] = lo;
    const double llo = loss(ctx);
    p[i] = p0;
    const double fd = (lhi - llo) / ((double)hi - lo);
    if (!(fabs(fd - g[i]) <= atol + rtol * fabs(fd))) {
      test_fail(file, line, "%s[%zu]: analytic %.7g, finite difference %.7g", what, i, g[i], fd);
      bad++;
    }
  }
  return bad == 0;
}

// ---- shapes ----

const ConvDesc *conv_shapes(int *n) {
  static ConvDesc s[14];
  s[0] = conv_desc(3, 5, 7, 7, 6, 3, 1, 1);     // odd everything
  s[1] = conv_desc(3, 5, 7, 7, 6, 3, 2, 1);     // stride 2 downsampling
  s[2] = conv_desc(3, 5, 7, 7, 6, 1, 1, 0);     // 1x1: straight to GEMM
  s[3] = conv_desc(2, 4, 8, 6, 3, 1, 2, 0);     // 1x1 stride 2: im2col path, non-square
  s[4] = conv_desc(1, 3, 9, 5, 4, 3, 2, 0);     // batch 1 (BLAS-threaded path), no padding
  s[5] = conv_desc(2, 3, 6, 6, 5, 3, 2, 2);     // pad > stride: whole rows of zeros
  s[6] = conv_desc(4, 32, 32, 32, 64, 3, 1, 1); // realistic
  s[7] = conv_desc(4, 64, 16, 16, 32, 1, 1, 0); // realistic 1x1
  s[8] = conv_desc(1, 32, 32, 32, 64, 3, 1, 1); // batch 1: each product split over threads
  s[9] = conv_desc(1, 48, 20, 20, 40, 3, 2, 1); // ... by columns and by rows, odd slices
  s[10] = conv_desc(2, 5, 30, 20, 6, 3, 1, 1);  // column blocks of 12 rows, the last of 6
  s[11] = conv_desc(3, 3, 50, 40, 4, 5, 2, 2);  // ... strided, 5x5, a last block of one row
  s[12] = conv_desc(2, 3, 17, 18, 7, 5, 1, 2);  // 5x5, rows of 18: column tails of 2, a partial block
  s[13] = conv_desc(3, 4, 20, 20, 5, 3, 1, 0);  // no padding: rows of 18, an odd row count
  *n = 14;
  return s;
}
size_t xsize(const ConvDesc *d) { return (size_t)d->B * d->Cin * d->H * d->W; }
size_t wsize(const ConvDesc *d) { return (size_t)d->Cout * d->Cin * d->K * d->K; }
size_t ysize(const ConvDesc *d) { return (size_t)d->B * d->Cout * d->Ho * d->Wo; }
