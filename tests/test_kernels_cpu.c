// test_kernels_cpu.c — the CPU backend: reference kernels against hand-computed values and
// finite differences, fast kernels against the reference, backward ops accumulating.
//
// Tolerances, |got - want| <= atol + rtol*|want|:
//   fast vs reference          atol 1e-4, rtol 1e-4 (float sums vs double sums)
//   finite differences         central, in double, of L = sum(y * r) with a fixed random r;
//                              step h = 1e-2 for ops linear in the input (exact up to
//                              rounding), 3e-3 for non-linear ones; atol 2e-3, rtol 1e-2
//   accumulation (2 calls)     atol 1e-6, rtol 1e-6 (x + x is exact; summation order aside)
#include "engine/rng.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu.h"
#include "test.h"
#include <math.h>
#include <stdlib.h>

// ---- fixtures: two backends, and scratch buffers freed when the next test starts ----

static Backend *REF, *FAST;
static Rng rng;
static float *scratch[256];
static int nscratch;

static void setup(uint64_t seed) {
  if (!REF) REF = backend_cpu_ref_create();
  if (!FAST) FAST = backend_cpu_create(2);
  while (nscratch) free(scratch[--nscratch]);
  rng_seed(&rng, seed);
}

static float *zeros(size_t n) {
  if (nscratch == 256) { fprintf(stderr, "test_kernels_cpu: too many scratch buffers\n"); abort(); }
  return scratch[nscratch++] = xcalloc(n ? n : 1, sizeof(float));
}
static float *randn(size_t n, float sd) {
  float *x = zeros(n);
  for (size_t i = 0; i < n; i++) x[i] = sd * rng_normal(&rng);
  return x;
}
static float *dup(const float *x, size_t n) { return memcpy(zeros(n), x, n * sizeof(float)); }
static double dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

// Reports the worst entry and how many are off; returns 0 when any is.
static int expect_close(const char *file, int line, const char *what, const float *got,
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
#define EXPECT_CLOSE(what, got, want, n, atol, rtol) \
  do { if (!expect_close(__FILE__, __LINE__, what, got, want, n, atol, rtol)) return; } while (0)
static const double ATOL = 1e-4, RTOL = 1e-4;  // fast vs reference

// ---- finite differences ----

// Checks g = dL/dp by central differences of loss(ctx), on every entry of p when there are
// few, else on 96 random ones (the first and last among them). The step actually taken is
// (float)(p+h) - (float)(p-h), not 2h.
static int grad_check(const char *file, int line, const char *what, double (*loss)(void *),
                      void *ctx, float *p, size_t n, const float *g, double h) {
  const double atol = 2e-3, rtol = 1e-2;
  int bad = 0;
  const size_t checks = n <= 256 ? n : 96;
  for (size_t k = 0; k < checks && bad < 3; k++) {
    size_t i = n <= 256 ? k : k == 0 ? 0 : k == 1 ? n - 1 : (size_t)rng_int(&rng, (int)n);
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
#define GRAD_CHECK(what, loss, ctx, p, n, g, h) \
  do { if (!grad_check(__FILE__, __LINE__, what, loss, ctx, p, n, g, h)) return; } while (0)
#define H_LIN 1e-2
#define H_NONLIN 3e-3

// ---- shapes ----

static const ConvDesc *conv_shapes(int *n) {
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
static size_t xsize(const ConvDesc *d) { return (size_t)d->B * d->Cin * d->H * d->W; }
static size_t wsize(const ConvDesc *d) { return (size_t)d->Cout * d->Cin * d->K * d->K; }
static size_t ysize(const ConvDesc *d) { return (size_t)d->B * d->Cout * d->Ho * d->Wo; }

// =====================================================================================
// (1) The reference against values worked out by hand
// =====================================================================================

// The unpacked product of a convolution's column block (gemm_panel.c) against a double loop:
// every row-panel height (6, 4, 2, 1) and column tail (masked loads and stores), strides
// wider than the rows, A row-major and A read through its transpose (backward-data's w^T),
// C replaced or added to (backward-filter's accumulation), and what lies between the rows of
// C left alone.
TEST(kernels_gemm_panel_matches_loop) {
  const int ldb = 80, ldc = 90;
  float *A = malloc(sizeof(float) * 13 * 40), *At = malloc(sizeof(float) * 13 * 40);
  float *B = malloc(sizeof(float) * 40 * ldb), *C = malloc(sizeof(float) * 13 * ldc);
  Rng r;
  rng_seed(&r, 12);
  for (int i = 0; i < 13 * 40; i++) A[i] = rng_normal(&r);
  for (int i = 0; i < 40 * ldb; i++) B[i] = rng_normal(&r);
  const int Ms[] = {1, 2, 3, 5, 6, 7, 13}, ns[] = {1, 15, 16, 17, 31, 32, 33, 70}, Ks[] = {1, 9, 40};
  double worst = 0;
  for (int a = 0; a < 7; a++)
    for (int b = 0; b < 8; b++)
      for (int c = 0; c < 3; c++)
        for (int mode = 0; mode < 3; mode++) {  // A row-major; A^T; row-major, adding to C
          const int M = Ms[a], n = ns[b], K = Ks[c], transposed = mode == 1, acc = mode == 2;
          for (int i = 0; i < M; i++)  // At (K, M) holds A (M, K) transposed
            for (int k = 0; k < K; k++) At[k * M + i] = A[i * K + k];
          for (int i = 0; i < 13 * ldc; i++) C[i] = -7.0f;
          const int ran = transposed ? gemm_panel(M, n, K, At, 1, M, B, ldb, C, ldc, 0)
                                     : gemm_panel(M, n, K, A, K, 1, B, ldb, C, ldc, acc);
          if (!ran) {
            test_skip("built without AVX-512: convolutions use OpenBLAS alone");
            goto done;
          }
          for (int i = 0; i < M; i++)
            for (int j = 0; j < ldc; j++) {
              if (j >= n) {
                ASSERTF(C[i * ldc + j] == -7.0f, "M %d n %d K %d: C[%d][%d] written past the columns", M, n, K, i, j);
                continue;
              }
              double want = acc ? -7.0 : 0.0, scale = acc ? 7.0 : 0.0;
              for (int k = 0; k < K; k++) want += (double)A[i * K + k] * B[k * ldb + j], scale += fabs(A[i * K + k] * B[k * ldb + j]);
              const double e = fabs(C[i * ldc + j] - want) / (scale > 0 ? scale : 1);
              if (e > worst) worst = e;
              ASSERTF(e <= 1e-6, "M %d n %d K %d%s: C[%d][%d] = %.7g, want %.7g", M, n, K,
                      transposed ? " (A^T)" : acc ? " (adding)" : "", i, j,
                      C[i * ldc + j], want);
            }
        }
  printf("    worst error relative to the sum of |terms|: %.2e\n", worst);
done:
  free(A);
  free(At);
  free(B);
  free(C);
}

TEST(kernels_ref_gemm_by_hand) {
  setup(1);
  // A = [1 2 3; 4 5 6] (2x3), B = [1 0; 0 1; 1 1] (3x2): A B = [4 5; 10 11].
  float A[6] = {1, 2, 3, 4, 5, 6}, At[6] = {1, 4, 2, 5, 3, 6};
  float B[6] = {1, 0, 0, 1, 1, 1}, Bt[6] = {1, 0, 1, 0, 1, 1};
  float want[4] = {4, 5, 10, 11};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      float C[4] = {1, 1, 1, 1}, w2[4];
      REF->gemm(REF, 1, ta, tb, 2, 2, 3, 2.0f, ta ? At : A, 0, tb ? Bt : B, 0, 0.5f, C, 0);
      for (int i = 0; i < 4; i++) w2[i] = 2 * want[i] + 0.5f;
      EXPECT_CLOSE("C", C, w2, 4, 1e-6, 0);
    }
  float C[4] = {NAN, NAN, NAN, NAN};  // beta = 0 never reads C
  REF->gemm(REF, 1, 0, 0, 2, 2, 3, 1.0f, A, 0, B, 0, 0.0f, C, 0);
  EXPECT_CLOSE("C (beta 0)", C, want, 4, 1e-6, 0);
}

TEST(kernels_ref_conv_by_hand) {
  setup(2);
  // x = 1..16 in a 4x4 image, a 3x3 kernel of ones, stride 2, pad 1: each output sums the
  // pixels of its 3x3 window that lie inside the image; bias 0.5.
  ConvDesc d = conv_desc(1, 1, 4, 4, 1, 3, 2, 1);
  ASSERT_EQ_INT(d.Ho, 2);
  float x[16], w[9], b = 0.5f, y[4];
  for (int i = 0; i < 16; i++) x[i] = i + 1;
  for (int i = 0; i < 9; i++) w[i] = 1;
  REF->conv2d_fwd(REF, &d, x, w, &b, y);
  float want[4] = {14.5f, 30.5f, 57.5f, 99.5f};
  EXPECT_CLOSE("y", y, want, 4, 1e-6, 0);
}

TEST(kernels_ref_groupnorm_normalises) {
  setup(3);
  const int B = 2, C = 6, HW = 10, G = 3;
  float *x = randn(B * C * HW, 3.0f), *y = zeros(B * C * HW), *mean = zeros(B * G),
        *rstd = zeros(B * G), *gamma = zeros(C), *beta = zeros(C);
  for (int i = 0; i < B * C * HW; i++) x[i] += 5.0f;
  for (int c = 0; c < C; c++) gamma[c] = 1;
  REF->groupnorm_fwd(REF, B, C, HW, G, x, gamma, beta, y, mean, rstd);
  for (int bg = 0; bg < B * G; bg++) {  // each group of y: mean 0, variance ~1 (eps aside)
    double s = 0, ss = 0;
    const int n = (C / G) * HW;
    for (int i = 0; i < n; i++) s += y[bg * n + i], ss += (double)y[bg * n + i] * y[bg * n + i];
    ASSERT_NEAR(s / n, 0.0, 1e-6, 0);
    ASSERT_NEAR(ss / n, 1.0, 1e-5, 0);
    ASSERT_NEAR(mean[bg], 5.0, 2.0, 0);
  }
}

TEST(kernels_adamw_one_step_by_hand) {
  setup(4);
  const size_t n = 100003;  // odd, and above the threshold where the fast kernel goes parallel
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
  const int step = 3;
  float *p0 = randn(n, 1), *g = randn(n, 1), *m0 = randn(n, 0.1f), *v0 = randn(n, 0.1f);
  for (size_t i = 0; i < n; i++) v0[i] = v0[i] * v0[i];
  float *want = zeros(n), *wm = zeros(n), *wv = zeros(n);
  for (size_t i = 0; i < n; i++) {
    double m = b1 * (double)m0[i] + (1 - (double)b1) * g[i];
    double v = b2 * (double)v0[i] + (1 - (double)b2) * (double)g[i] * g[i];
    double mhat = m / (1 - pow(b1, step)), vhat = v / (1 - pow(b2, step));
    want[i] = (float)(p0[i] - lr * wd * p0[i] - lr * mhat / (sqrt(vhat) + eps));
    wm[i] = (float)m, wv[i] = (float)v;
  }
  Backend *bes[2] = {REF, FAST};
  for (int k = 0; k < 2; k++) {
    float *p = dup(p0, n), *m = dup(m0, n), *v = dup(v0, n);
    bes[k]->adamw(bes[k], n, p, g, m, v, lr, b1, b2, eps, wd, step);
    EXPECT_CLOSE(bes[k]->name, m, wm, n, 1e-7, 1e-6);
    EXPECT_CLOSE(bes[k]->name, v, wv, n, 1e-7, 1e-6);
    EXPECT_CLOSE(bes[k]->name, p, want, n, 1e-6, 1e-6);
  }
}

TEST(kernels_ema_and_sumsq_by_hand) {
  setup(5);
  const size_t n = 100003;
  float *e0 = randn(n, 1), *p = randn(n, 1), *want = zeros(n), *ramp = zeros(n);
  for (size_t i = 0; i < n; i++) want[i] = (float)(0.99 * e0[i] + 0.01 * p[i]);
  for (size_t i = 0; i < n; i++) ramp[i] = (float)(i + 1);  // integers: every sum is exact
  const double ramp_sumsq = (double)n * (n + 1) * (2.0 * n + 1) / 6;
  Backend *bes[2] = {REF, FAST};
  for (int k = 0; k < 2; k++) {
    float *e = dup(e0, n);
    bes[k]->ema(bes[k], n, e, p, 0.99f);
    EXPECT_CLOSE(bes[k]->name, e, want, n, 1e-6, 1e-6);
    ASSERT_NEAR(bes[k]->sumsq(bes[k], n, ramp), ramp_sumsq, 0, 0);
    ASSERT_NEAR(bes[k]->sumsq(bes[k], 3, (float[]){1, -2, 3}), 14.0, 0, 0);
  }
}

TEST(kernels_backend_create_by_name) {
  Err err = {{0}};
  Backend *b = backend_create("cpu", 2, &err);
  ASSERT(b && !strcmp(b->name, "cpu"));
  backend_destroy(b);
  b = backend_create("cpu-ref", 0, &err);
  ASSERT(b && !strcmp(b->name, "cpu-ref"));
  float *p = b->alloc(b, 1000);
  ASSERT(((uintptr_t)p & 63) == 0);
  ASSERT(p[0] == 0 && p[999] == 0);
  b->free(b, p);
  backend_destroy(b);
  // Options only CUDA reads: the CPU backends take them and ignore them.
  b = backend_create_opts("cpu-ref", 1, &(BackendOpts){.tf32 = 1, .nondeterministic = 1}, &err);
  ASSERT(b && !strcmp(b->name, "cpu-ref") && b->conv_algos == NULL);
  backend_destroy(b);
  ASSERT(backend_create("tpu", 0, &err) == NULL);
  ASSERT(strstr(err.msg, "tpu") && strstr(err.msg, "cpu-ref") && strstr(err.msg, "cuda"));
#ifndef STEPSCOPE_CUDA
  ASSERT(backend_create("cuda", 0, &err) == NULL);
  ASSERT(strstr(err.msg, "without CUDA"));
  b = backend_create("auto", 1, &err);
  ASSERT(b && !strcmp(b->name, "cpu"));
  backend_destroy(b);
#endif
}

// =====================================================================================
// (2) Finite-difference checks of every backward op of the reference
// =====================================================================================

typedef struct {
  Backend *be;
  ConvDesc d;
  float *x, *w, *b, *y, *r;
} ConvProb;
static double conv_loss(void *p_) {
  ConvProb *p = p_;
  p->be->conv2d_fwd(p->be, &p->d, p->x, p->w, p->b, p->y);
  return dot(p->y, p->r, ysize(&p->d));
}

TEST(kernels_grad_conv) {
  setup(10);
  int ns;
  const ConvDesc *shapes = conv_shapes(&ns);
  for (int s = 0; s < 6; s++) {  // the small ones: stride 1 and 2, 1x1, pad 0 and 2
    const ConvDesc *d = &shapes[s];
    ConvProb p = {REF, *d, randn(xsize(d), 1), randn(wsize(d), 0.3f), randn(d->Cout, 1),
                  zeros(ysize(d)), randn(ysize(d), 1)};
    float *dx = zeros(xsize(d)), *dw = zeros(wsize(d)), *db = zeros(d->Cout);
    REF->conv2d_bwd_data(REF, d, p.r, p.w, dx);
    REF->conv2d_bwd_filter(REF, d, p.x, p.r, dw, db);
    GRAD_CHECK("conv dx", conv_loss, &p, p.x, xsize(d), dx, H_LIN);
    GRAD_CHECK("conv dw", conv_loss, &p, p.w, wsize(d), dw, H_LIN);
    GRAD_CHECK("conv db", conv_loss, &p, p.b, d->Cout, db, H_LIN);
  }
}

typedef struct {
  int B, C, HW, G;
  float *x, *gamma, *beta, *y, *mean, *rstd, *r;
} GnProb;
static double gn_loss(void *p_) {
  GnProb *p = p_;
  REF->groupnorm_fwd(REF, p->B, p->C, p->HW, p->G, p->x, p->gamma, p->beta, p->y, p->mean, p->rstd);
  return dot(p->y, p->r, (size_t)p->B * p->C * p->HW);
}

TEST(kernels_grad_groupnorm) {
  setup(11);
  GnProb p = {.B = 2, .C = 6, .HW = 5, .G = 2};  // 3 channels x 5 pixels per group: few values, strong coupling
  const size_t n = (size_t)p.B * p.C * p.HW;
  p.x = randn(n, 2), p.gamma = randn(p.C, 1), p.beta = randn(p.C, 1), p.y = zeros(n);
  p.mean = zeros(p.B * p.G), p.rstd = zeros(p.B * p.G), p.r = randn(n, 1);
  gn_loss(&p);
  float *dx = zeros(n), *dgamma = zeros(p.C), *dbeta = zeros(p.C);
  REF->groupnorm_bwd(REF, p.B, p.C, p.HW, p.G, p.x, p.r, p.gamma, p.mean, p.rstd, dx, dgamma, dbeta);
  GRAD_CHECK("groupnorm dx", gn_loss, &p, p.x, n, dx, H_NONLIN);
  GRAD_CHECK("groupnorm dgamma", gn_loss, &p, p.gamma, p.C, dgamma, H_LIN);
  GRAD_CHECK("groupnorm dbeta", gn_loss, &p, p.beta, p.C, dbeta, H_LIN);
}

typedef struct { size_t n; float *x, *y, *r; } SiluProb;
static double silu_loss(void *p_) {
  SiluProb *p = p_;
  REF->silu_fwd(REF, p->n, p->x, p->y);
  return dot(p->y, p->r, p->n);
}

TEST(kernels_grad_silu) {
  setup(12);
  SiluProb p = {200, randn(200, 3), zeros(200), randn(200, 1)};
  float *dx = zeros(p.n);
  REF->silu_bwd(REF, p.n, p.x, p.r, dx);
  GRAD_CHECK("silu dx", silu_loss, &p, p.x, p.n, dx, H_NONLIN);
}

typedef struct { int rows, n; float scale, *x, *y, *r; } SoftmaxProb;
static double softmax_loss(void *p_) {
  SoftmaxProb *p = p_;
  REF->softmax_fwd(REF, p->rows, p->n, p->scale, p->x, p->y);
  return dot(p->y, p->r, (size_t)p->rows * p->n);
}

TEST(kernels_grad_softmax) {
  setup(13);
  SoftmaxProb p = {.rows = 5, .n = 9, .scale = 0.7f};
  const size_t n = (size_t)p.rows * p.n;
  p.x = randn(n, 2), p.y = zeros(n), p.r = randn(n, 1);
  softmax_loss(&p);
  float *dx = zeros(n);
  REF->softmax_bwd(REF, p.rows, p.n, p.scale, p.y, p.r, dx);
  GRAD_CHECK("softmax dx", softmax_loss, &p, p.x, n, dx, H_NONLIN);
}

typedef struct { int B, C, H, W; float *x, *y, *r; } UpProb;
static double up_loss(void *p_) {
  UpProb *p = p_;
  REF->upsample2x_fwd(REF, p->B, p->C, p->H, p->W, p->x, p->y);
  return dot(p->y, p->r, (size_t)p->B * p->C * p->H * p->W * 4);
}

TEST(kernels_grad_upsample2x) {
  setup(14);
  UpProb p = {.B = 2, .C = 3, .H = 3, .W = 5};
  const size_t n = (size_t)p.B * p.C * p.H * p.W;
  p.x = randn(n, 1), p.y = zeros(4 * n), p.r = randn(4 * n, 1);
  float *dx = zeros(n);
  REF->upsample2x_bwd(REF, p.B, p.C, p.H, p.W, p.r, dx);
  GRAD_CHECK("upsample dx", up_loss, &p, p.x, n, dx, H_LIN);
}

typedef struct { int B, C, HW, vstride; float *v, *y0, *y, *r; } BcastProb;
static double bcast_loss(void *p_) {
  BcastProb *p = p_;
  const size_t n = (size_t)p->B * p->C * p->HW;
  memcpy(p->y, p->y0, n * sizeof(float));
  REF->bcast_add(REF, p->B, p->C, p->HW, p->v, p->vstride, p->y);
  return dot(p->y, p->r, n);
}

TEST(kernels_grad_bcast_add) {
  setup(15);
  for (int per_sample = 0; per_sample < 2; per_sample++) {
    BcastProb p = {.B = 3, .C = 4, .HW = 6, .vstride = per_sample ? 4 : 0};
    const size_t n = (size_t)p.B * p.C * p.HW, nv = per_sample ? (size_t)p.B * p.C : (size_t)p.C;
    p.v = randn(nv, 1), p.y0 = randn(n, 1), p.y = zeros(n), p.r = randn(n, 1);
    float *dv = zeros(nv);
    REF->bcast_add_bwd(REF, p.B, p.C, p.HW, p.r, p.vstride, dv);
    GRAD_CHECK(per_sample ? "bcast_add dv (vstride C)" : "bcast_add dv (vstride 0)", bcast_loss,
               &p, p.v, nv, dv, H_LIN);
  }
}

// Concatenation along channels: y = [a ; b] by two chan_copy calls with beta 0; its backward
// is chan_copy of the slices of dy with beta 1.
typedef struct { int B, Ca, Cb, HW; float *a, *b, *y, *r; } CatProb;
static double cat_loss(void *p_) {
  CatProb *p = p_;
  const int C = p->Ca + p->Cb;
  REF->chan_copy(REF, p->B, p->Ca, p->HW, p->a, p->Ca, 0, p->y, C, 0, 0.0f);
  REF->chan_copy(REF, p->B, p->Cb, p->HW, p->b, p->Cb, 0, p->y, C, p->Ca, 0.0f);
  return dot(p->y, p->r, (size_t)p->B * C * p->HW);
}

TEST(kernels_grad_chan_copy) {
  setup(16);
  CatProb p = {.B = 2, .Ca = 3, .Cb = 2, .HW = 5};
  const int C = p.Ca + p.Cb;
  const size_t na = (size_t)p.B * p.Ca * p.HW, nb = (size_t)p.B * p.Cb * p.HW;
  p.a = randn(na, 1), p.b = randn(nb, 1), p.y = randn(na + nb, 1), p.r = randn(na + nb, 1);
  float *da = zeros(na), *db = zeros(nb);
  REF->chan_copy(REF, p.B, p.Ca, p.HW, p.r, C, 0, da, p.Ca, 0, 1.0f);
  REF->chan_copy(REF, p.B, p.Cb, p.HW, p.r, C, p.Ca, db, p.Cb, 0, 1.0f);
  GRAD_CHECK("concat da", cat_loss, &p, p.a, na, da, H_LIN);
  GRAD_CHECK("concat db", cat_loss, &p, p.b, nb, db, H_LIN);
}

// L = sum_b w_b loss_b / B, whose gradient mse_loss accumulates into dpred.
typedef struct { int B, D; float *pred, *target, *w, *loss; } MseProb;
static double mse_objective(void *p_) {
  MseProb *p = p_;
  REF->mse_loss(REF, p->B, p->D, p->pred, p->target, p->w, p->loss, NULL);
  double L = 0;
  for (int b = 0; b < p->B; b++) L += (p->w ? p->w[b] : 1.0) * p->loss[b] / p->B;
  return L;
}

TEST(kernels_grad_mse_loss) {
  setup(17);
  float weights[3] = {0.5f, 2.0f, 1.5f};
  for (int weighted = 0; weighted < 2; weighted++) {
    MseProb p = {3, 7, randn(21, 1), randn(21, 1), weighted ? weights : NULL, zeros(3)};
    float *dpred = zeros(21);
    REF->mse_loss(REF, p.B, p.D, p.pred, p.target, p.w, p.loss, dpred);
    for (int b = 0; b < p.B; b++) {  // loss_b is the plain mean of squares, unweighted
      double ss = 0;
      for (int i = 0; i < p.D; i++) ss += pow((double)p.pred[b * p.D + i] - p.target[b * p.D + i], 2);
      ASSERT_NEAR(p.loss[b], ss / p.D, 1e-6, 1e-6);
    }
    GRAD_CHECK(weighted ? "mse dpred (weighted)" : "mse dpred", mse_objective, &p, p.pred, 21,
               dpred, H_NONLIN);
  }
}

// =====================================================================================
// (3) Fast kernels against the reference
// =====================================================================================

TEST(kernels_fast_gemm) {
  setup(20);
  struct { int batch, M, N, K; } shapes[] = {{1, 5, 7, 9}, {3, 5, 7, 9}, {1, 64, 512, 128},
                                             {8, 64, 64, 32}, {5, 33, 17, 65},
                                             {1, 300, 40, 100}};  // split by rows
  const double keep = cpu_par_min_macs;
  for (int all_threaded = 0; all_threaded < 2; all_threaded++)  // small products on one thread, or not
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int bz = 0; bz < 2; bz++) {
          while (nscratch) free(scratch[--nscratch]);
          const int bt = shapes[s].batch, M = shapes[s].M, N = shapes[s].N, K = shapes[s].K;
          const long sa = (long)M * K + 3, sb = (long)K * N + 1, sc = (long)M * N + 2;  // padded
          float *A = randn(bt * sa, 1), *B = randn(bt * sb, 1), *C0 = randn(bt * sc, 1);
          float *C1 = dup(C0, bt * sc), *C2 = dup(C0, bt * sc);
          const float beta = bz ? 0.5f : 0.0f;
          REF->gemm(REF, bt, ta, tb, M, N, K, 0.7f, A, sa, B, sb, beta, C1, sc);
          cpu_par_min_macs = all_threaded ? 0 : keep;
          FAST->gemm(FAST, bt, ta, tb, M, N, K, 0.7f, A, sa, B, sb, beta, C2, sc);
          cpu_par_min_macs = keep;
          EXPECT_CLOSE("gemm", C2, C1, bt * sc, ATOL, RTOL);
        }
}

// Every convolution op of `fast` against the reference on shapes[0..ns).
static void check_conv(Backend *FAST, const ConvDesc *shapes, int ns) {
  for (int s = 0; s < ns; s++) {
    while (nscratch) free(scratch[--nscratch]);  // each shape's buffers go before the next's
    const ConvDesc *d = &shapes[s];
    const float wsd = 1.0f / sqrtf((float)d->Cin * d->K * d->K);  // y of order 1
    float *x = randn(xsize(d), 1), *w = randn(wsize(d), wsd), *b = randn(d->Cout, 1);
    float *dy = randn(ysize(d), 1);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
      float *y1 = zeros(ysize(d)), *y2 = randn(ysize(d), 1);  // fast must overwrite
      REF->conv2d_fwd(REF, d, x, w, with_bias ? b : NULL, y1);
      FAST->conv2d_fwd(FAST, d, x, w, with_bias ? b : NULL, y2);
      EXPECT_CLOSE("conv fwd", y2, y1, ysize(d), ATOL, RTOL);
    }
    float *dx1 = randn(xsize(d), 1), *dx2 = dup(dx1, xsize(d));  // accumulate onto junk
    REF->conv2d_bwd_data(REF, d, dy, w, dx1);
    FAST->conv2d_bwd_data(FAST, d, dy, w, dx2);
    EXPECT_CLOSE("conv bwd data", dx2, dx1, xsize(d), ATOL, RTOL);
    float *dw1 = randn(wsize(d), 1), *dw2 = dup(dw1, wsize(d));
    float *db1 = randn(d->Cout, 1), *db2 = dup(db1, d->Cout);
    REF->conv2d_bwd_filter(REF, d, x, dy, dw1, db1);
    FAST->conv2d_bwd_filter(FAST, d, x, dy, dw2, db2);
    EXPECT_CLOSE("conv bwd filter dw", dw2, dw1, wsize(d), ATOL, RTOL);
    EXPECT_CLOSE("conv bwd filter db", db2, db1, d->Cout, ATOL, RTOL);
    float *dw3 = dup(dw1, wsize(d));  // db = NULL is allowed
    FAST->conv2d_bwd_filter(FAST, d, x, dy, dw3, NULL);
    REF->conv2d_bwd_filter(REF, d, x, dy, dw1, NULL);
    EXPECT_CLOSE("conv bwd filter dw (no db)", dw3, dw1, wsize(d), ATOL, RTOL);
    if (test_failed()) return;
  }
}

// The fast backend as it runs (same-size convolutions on conv_direct.c where the build has
// AVX-512), and with every convolution on im2col + product, the path the others take.
TEST(kernels_fast_conv) {
  setup(21);
  int ns;
  const ConvDesc *shapes = conv_shapes(&ns);
  Backend *im2col = backend_cpu_create(2);
  cpu_set_direct(im2col, 0);
  for (int all_threaded = 0; all_threaded < 2; all_threaded++) {  // small ones on one thread, or not
    const double keep = cpu_par_min_macs;
    if (all_threaded) cpu_par_min_macs = 0;
    check_conv(FAST, shapes, ns);
    check_conv(im2col, shapes, ns);
    cpu_par_min_macs = keep;
  }
  im2col->destroy(im2col);
}

// conv_direct.c on the shapes pruning leaves (odd widths, panels of 9 + 10 rows or 1), the
// model's image sides (32, 16, 8 and 4: several rows per vector below 16), a plane that ends
// inside a vector (7x7, 3x5), 5x5 taps, batch 1 on two threads (pixel blocks split) and on one.
TEST(kernels_fast_conv_direct) {
  setup(22);
  static const int sh[][5] = {  // B, Cin, H, W, Cout (3x3 unless noted)
      {1, 19, 32, 32, 19}, {3, 18, 16, 16, 19}, {2, 37, 8, 8, 37}, {3, 12, 4, 4, 7},
      {2, 5, 7, 7, 6},    {1, 3, 3, 5, 9},     {4, 24, 32, 32, 1}, {1, 72, 8, 8, 72}};
  const int n = sizeof sh / sizeof sh[0];
  ConvDesc shapes[sizeof sh / sizeof sh[0] + 2];
  for (int i = 0; i < n; i++) shapes[i] = conv_desc(sh[i][0], sh[i][1], sh[i][2], sh[i][3], sh[i][4], 3, 1, 1);
  shapes[n] = conv_desc(2, 5, 9, 11, 6, 5, 1, 2);  // 5x5
  shapes[n + 1] = conv_desc(1, 4, 6, 6, 3, 1, 1, 0);  // 1x1 is "same" too
  if (!conv_direct_ok(&shapes[0])) {
    test_skip("built without AVX-512: no direct convolution");
    return;
  }
  for (int i = 0; i < n + 2; i++) ASSERT(conv_direct_ok(&shapes[i]));
  Backend *one = backend_cpu_create(1);
  const double keep = cpu_par_min_macs;
  cpu_par_min_macs = 0;  // every shape on both threads, batch 1 included (pixel blocks split)
  check_conv(FAST, shapes, n + 2);
  cpu_par_min_macs = keep;  // the small ones on one thread
  check_conv(FAST, shapes, n + 2);
  check_conv(one, shapes, n + 2);
  one->destroy(one);
  ConvDesc other[2] = {conv_desc(1, 4, 8, 8, 4, 3, 2, 1), conv_desc(1, 4, 8, 8, 4, 3, 1, 0)};
  ASSERT(!conv_direct_ok(&other[0]) && !conv_direct_ok(&other[1]));  // strided; shrinking
}

// The fused GroupNorm + SiLU of each backend against its own two ops, and the fast one against
// the reference; with a kept and without.
TEST(kernels_fast_groupnorm_silu) {
  setup(23);
  static const int sh[][4] = {{2, 24, 64, 8}, {3, 19, 49, 1}, {1, 72, 64, 24}, {16, 48, 256, 16}};
  for (int k = 0; k < 4; k++) {
    while (nscratch) free(scratch[--nscratch]);
    const int B = sh[k][0], C = sh[k][1], HW = sh[k][2], G = sh[k][3];
    const size_t n = (size_t)B * C * HW;
    float *x = randn(n, 2), *gamma = randn(C, 1), *beta = randn(C, 1);
    float *a0 = zeros(n), *y0 = zeros(n), *m0 = zeros(B * G), *r0 = zeros(B * G);
    REF->groupnorm_fwd(REF, B, C, HW, G, x, gamma, beta, a0, m0, r0);
    REF->silu_fwd(REF, n, a0, y0);
    Backend *bes[2] = {REF, FAST};
    for (int i = 0; i < 2; i++) {
      Backend *be = bes[i];
      ASSERT(be->groupnorm_silu_fwd);
      float *a = randn(n, 1), *y = randn(n, 1), *m = zeros(B * G), *r = zeros(B * G);
      be->groupnorm_silu_fwd(be, B, C, HW, G, x, gamma, beta, a, y, m, r);
      EXPECT_CLOSE("gn+silu a", a, a0, n, ATOL, RTOL);
      EXPECT_CLOSE("gn+silu y", y, y0, n, ATOL, RTOL);
      EXPECT_CLOSE("gn+silu mean", m, m0, B * G, ATOL, RTOL);
      EXPECT_CLOSE("gn+silu rstd", r, r0, B * G, ATOL, RTOL);
      float *y2 = randn(n, 1);
      be->groupnorm_silu_fwd(be, B, C, HW, G, x, gamma, beta, NULL, y2, m, r);
      EXPECT_CLOSE("gn+silu y, a not kept", y2, y0, n, ATOL, RTOL);
    }
    // The fast fused op gives the fast ops' bits: a model's forward does not change with it.
    float *a1 = zeros(n), *y1 = zeros(n), *a2 = zeros(n), *y2 = zeros(n), *m = zeros(B * G), *r = zeros(B * G);
    FAST->groupnorm_fwd(FAST, B, C, HW, G, x, gamma, beta, a1, m, r);
    FAST->silu_fwd(FAST, n, a1, y1);
    FAST->groupnorm_silu_fwd(FAST, B, C, HW, G, x, gamma, beta, a2, y2, m, r);
    ASSERT(!memcmp(a1, a2, n * sizeof(float)) && !memcmp(y1, y2, n * sizeof(float)));
  }
}

TEST(kernels_fast_groupnorm) {
  setup(22);
  struct { int B, C, HW, G; } shapes[] = {{3, 12, 49, 4}, {4, 64, 1024, 8}, {2, 32, 64, 8}, {1, 5, 3, 5}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int B = shapes[s].B, C = shapes[s].C, HW = shapes[s].HW, G = shapes[s].G;
    const size_t n = (size_t)B * C * HW;
    float *x = randn(n, 2), *gamma = randn(C, 1), *beta = randn(C, 1), *dy = randn(n, 1);
    for (size_t i = 0; i < n; i++) x[i] += 3.0f;  // a mean far from 0
    float *y1 = zeros(n), *y2 = zeros(n), *m1 = zeros(B * G), *m2 = zeros(B * G);
    float *r1 = zeros(B * G), *r2 = zeros(B * G);
    REF->groupnorm_fwd(REF, B, C, HW, G, x, gamma, beta, y1, m1, r1);
    FAST->groupnorm_fwd(FAST, B, C, HW, G, x, gamma, beta, y2, m2, r2);
    EXPECT_CLOSE("groupnorm y", y2, y1, n, ATOL, RTOL);
    EXPECT_CLOSE("groupnorm mean", m2, m1, B * G, ATOL, RTOL);
    EXPECT_CLOSE("groupnorm rstd", r2, r1, B * G, ATOL, RTOL);
    float *dx1 = randn(n, 1), *dx2 = dup(dx1, n), *dg1 = randn(C, 1), *dg2 = dup(dg1, C);
    float *db1 = randn(C, 1), *db2 = dup(db1, C);
    REF->groupnorm_bwd(REF, B, C, HW, G, x, dy, gamma, m1, r1, dx1, dg1, db1);
    FAST->groupnorm_bwd(FAST, B, C, HW, G, x, dy, gamma, m1, r1, dx2, dg2, db2);
    EXPECT_CLOSE("groupnorm dx", dx2, dx1, n, ATOL, RTOL);
    EXPECT_CLOSE("groupnorm dgamma", dg2, dg1, C, ATOL, RTOL);
    EXPECT_CLOSE("groupnorm dbeta", db2, db1, C, ATOL, RTOL);
  }
}

TEST(kernels_fast_silu) {
  setup(23);
  const size_t sizes[] = {1001, 100003};
  for (int s = 0; s < 2; s++) {
    const size_t n = sizes[s];
    float *x = randn(n, 4), *dy = randn(n, 1);
    x[0] = -100, x[1] = 100, x[2] = 0, x[3] = -88, x[4] = 89;  // the clamps of exp_fast
    float *y1 = zeros(n), *y2 = zeros(n), *dx1 = randn(n, 1), *dx2 = dup(dx1, n);
    REF->silu_fwd(REF, n, x, y1);
    FAST->silu_fwd(FAST, n, x, y2);
    EXPECT_CLOSE("silu y", y2, y1, n, ATOL, RTOL);
    REF->silu_bwd(REF, n, x, dy, dx1);
    FAST->silu_bwd(FAST, n, x, dy, dx2);
    EXPECT_CLOSE("silu dx", dx2, dx1, n, ATOL, RTOL);
  }
}

TEST(kernels_fast_softmax) {
  setup(24);
  struct { int rows, n; float scale; } shapes[] = {{7, 13, 0.3f}, {512, 256, 0.125f}, {256, 64, 1.0f}, {3, 1, 2.0f}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int rows = shapes[s].rows, n = shapes[s].n;
    const float sc = shapes[s].scale;
    const size_t N = (size_t)rows * n;
    float *x = randn(N, 5), *dy = randn(N, 1), *y1 = zeros(N), *y2 = zeros(N);
    REF->softmax_fwd(REF, rows, n, sc, x, y1);
    FAST->softmax_fwd(FAST, rows, n, sc, x, y2);
    EXPECT_CLOSE("softmax y", y2, y1, N, 1e-6, 1e-4);
    float *dx1 = randn(N, 1), *dx2 = dup(dx1, N);
    REF->softmax_bwd(REF, rows, n, sc, y1, dy, dx1);
    FAST->softmax_bwd(FAST, rows, n, sc, y1, dy, dx2);
    EXPECT_CLOSE("softmax dx", dx2, dx1, N, ATOL, RTOL);
  }
}

TEST(kernels_fast_elementwise) {
  setup(25);
  const size_t sizes[] = {1001, 100003};
  for (int s = 0; s < 2; s++) {
    const size_t n = sizes[s];
    float *a = randn(n, 1), *b = randn(n, 1), *y0 = randn(n, 1);
    float *y1 = zeros(n), *y2 = zeros(n);
#define BOTH(call1, call2, what) \
    memcpy(y1, y0, n * 4), memcpy(y2, y0, n * 4), call1, call2; \
    EXPECT_CLOSE(what, y2, y1, n, ATOL, RTOL)
    BOTH(REF->add(REF, n, a, b, y1), FAST->add(FAST, n, a, b, y2), "add");
    BOTH(REF->axpy(REF, n, -0.3f, a, y1), FAST->axpy(FAST, n, -0.3f, a, y2), "axpy");
    BOTH(REF->scale(REF, n, 1.7f, y1), FAST->scale(FAST, n, 1.7f, y2), "scale");
    BOTH(REF->mul(REF, n, a, b, y1), FAST->mul(FAST, n, a, b, y2), "mul");
    BOTH(REF->mul_acc(REF, n, a, b, y1), FAST->mul_acc(FAST, n, a, b, y2), "mul_acc");
    BOTH(REF->ema(REF, n, y1, a, 0.9f), FAST->ema(FAST, n, y2, a, 0.9f), "ema");
    BOTH(REF->fill(REF, y1, -2.5f, n), FAST->fill(FAST, y2, -2.5f, n), "fill");
#undef BOTH
    ASSERT_NEAR(FAST->sumsq(FAST, n, a), REF->sumsq(REF, n, a), 0, 1e-9);
  }
}

TEST(kernels_fast_layout) {
  setup(26);
  struct { int B, C, H, W; } shapes[] = {{3, 5, 7, 1}, {2, 3, 5, 7}, {8, 64, 16, 16}, {4, 32, 16, 16}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int B = shapes[s].B, C = shapes[s].C, H = shapes[s].H, W = shapes[s].W, HW = H * W;
    const size_t n = (size_t)B * C * HW;
    float *x = randn(n, 1), *v = randn((size_t)B * C, 1), *dy4 = randn(4 * n, 1);
    for (int vstride = 0; vstride <= C; vstride += C) {
      float *y1 = dup(x, n), *y2 = dup(x, n);
      REF->bcast_add(REF, B, C, HW, v, vstride, y1);
      FAST->bcast_add(FAST, B, C, HW, v, vstride, y2);
      EXPECT_CLOSE("bcast_add", y2, y1, n, ATOL, RTOL);
      float *dv1 = randn((size_t)B * C, 1), *dv2 = dup(dv1, (size_t)B * C);
      REF->bcast_add_bwd(REF, B, C, HW, x, vstride, dv1);
      FAST->bcast_add_bwd(FAST, B, C, HW, x, vstride, dv2);
      EXPECT_CLOSE("bcast_add_bwd", dv2, dv1, (size_t)B * C, ATOL, RTOL);
    }
    // copy channels [1, C) of x into channels [2, C+1) of a (B, C+3) tensor, then add back
    const int dC = C + 3, nc = C - 1;
    if (nc > 0)
      for (int beta = 0; beta < 2; beta++) {
        float *d1 = randn((size_t)B * dC * HW, 1), *d2 = dup(d1, (size_t)B * dC * HW);
        REF->chan_copy(REF, B, nc, HW, x, C, 1, d1, dC, 2, (float)beta);
        FAST->chan_copy(FAST, B, nc, HW, x, C, 1, d2, dC, 2, (float)beta);
        EXPECT_CLOSE("chan_copy", d2, d1, (size_t)B * dC * HW, ATOL, RTOL);
      }
    float *u1 = zeros(4 * n), *u2 = zeros(4 * n);
    REF->upsample2x_fwd(REF, B, C, H, W, x, u1);
    FAST->upsample2x_fwd(FAST, B, C, H, W, x, u2);
    EXPECT_CLOSE("upsample fwd", u2, u1, 4 * n, ATOL, RTOL);
    float *dx1 = randn(n, 1), *dx2 = dup(dx1, n);
    REF->upsample2x_bwd(REF, B, C, H, W, dy4, dx1);
    FAST->upsample2x_bwd(FAST, B, C, H, W, dy4, dx2);
    EXPECT_CLOSE("upsample bwd", dx2, dx1, n, ATOL, RTOL);
  }
}

TEST(kernels_fast_mse_loss) {
  setup(27);
  struct { int B, D; int weighted; } shapes[] = {{5, 77, 1}, {64, 1024, 0}, {64, 1024, 1}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int B = shapes[s].B, D = shapes[s].D;
    const size_t n = (size_t)B * D;
    float *p = randn(n, 1), *t = randn(n, 1), *w = shapes[s].weighted ? randn(B, 1) : NULL;
    float *l1 = zeros(B), *l2 = zeros(B), *d1 = randn(n, 1), *d2 = dup(d1, n);
    REF->mse_loss(REF, B, D, p, t, w, l1, d1);
    FAST->mse_loss(FAST, B, D, p, t, w, l2, d2);
    EXPECT_CLOSE("mse loss", l2, l1, B, ATOL, RTOL);
    EXPECT_CLOSE("mse dpred", d2, d1, n, ATOL, RTOL);
  }
}

// =====================================================================================
// (4) Backward ops accumulate: two calls onto zeros give twice one call
// =====================================================================================

// Runs `call` on zeroed gradient buffers once, copies them, runs it again and compares.
#define TWICE(what, call, ...)                                                       \
  do {                                                                               \
    struct { float *g; size_t n; } gs[] = {__VA_ARGS__};                             \
    const int ng = sizeof gs / sizeof gs[0];                                         \
    float *once[4];                                                                  \
    for (int i = 0; i < ng; i++) memset(gs[i].g, 0, gs[i].n * sizeof(float));        \
    call;                                                                            \
    for (int i = 0; i < ng; i++) once[i] = dup(gs[i].g, gs[i].n);                    \
    call;                                                                            \
    for (int i = 0; i < ng; i++) {                                                   \
      for (size_t j = 0; j < gs[i].n; j++) once[i][j] *= 2;                          \
      EXPECT_CLOSE(what, gs[i].g, once[i], gs[i].n, 1e-6, 1e-6);                     \
    }                                                                                \
  } while (0)

TEST(kernels_backward_ops_accumulate) {
  setup(30);
  Backend *bes[2] = {REF, FAST};
  for (int k = 0; k < 2; k++) {
    Backend *be = bes[k];
    ConvDesc convs[2] = {conv_desc(3, 5, 7, 7, 6, 3, 2, 1), conv_desc(2, 4, 5, 5, 3, 1, 1, 0)};
    for (int c = 0; c < 2; c++) {
      const ConvDesc *d = &convs[c];
      float *x = randn(xsize(d), 1), *w = randn(wsize(d), 1), *dy = randn(ysize(d), 1);
      float *dx = zeros(xsize(d)), *dw = zeros(wsize(d)), *db = zeros(d->Cout);
      TWICE("conv bwd data", be->conv2d_bwd_data(be, d, dy, w, dx), {dx, xsize(d)});
      TWICE("conv bwd filter", be->conv2d_bwd_filter(be, d, x, dy, dw, db), {dw, wsize(d)}, {db, d->Cout});
    }
    const int B = 2, C = 8, HW = 9, G = 4;
    const size_t n = (size_t)B * C * HW;
    float *x = randn(n, 1), *dy = randn(n, 1), *gamma = randn(C, 1), *beta = randn(C, 1);
    float *y = zeros(n), *mean = zeros(B * G), *rstd = zeros(B * G);
    float *dx = zeros(n), *dg = zeros(C), *dbeta = zeros(C), *dv = zeros((size_t)B * C);
    be->groupnorm_fwd(be, B, C, HW, G, x, gamma, beta, y, mean, rstd);
    TWICE("groupnorm bwd", be->groupnorm_bwd(be, B, C, HW, G, x, dy, gamma, mean, rstd, dx, dg, dbeta),
          {dx, n}, {dg, C}, {dbeta, C});
    TWICE("silu bwd", be->silu_bwd(be, n, x, dy, dx), {dx, n});
    be->softmax_fwd(be, B * C, HW, 0.5f, x, y);
    TWICE("softmax bwd", be->softmax_bwd(be, B * C, HW, 0.5f, y, dy, dx), {dx, n});
    TWICE("bcast_add_bwd (vstride 0)", be->bcast_add_bwd(be, B, C, HW, dy, 0, dv), {dv, C});
    TWICE("bcast_add_bwd (vstride C)", be->bcast_add_bwd(be, B, C, HW, dy, C, dv), {dv, (size_t)B * C});
    TWICE("chan_copy (beta 1)", be->chan_copy(be, B, C / 2, HW, dy, C, 1, dx, C, 3, 1.0f), {dx, n});
    float *dy4 = randn(4 * n, 1);
    TWICE("upsample bwd", be->upsample2x_bwd(be, B, C, 3, 3, dy4, dx), {dx, n});
    TWICE("mse dpred", be->mse_loss(be, B, C * HW, x, dy, gamma, mean, dx), {dx, n});
    TWICE("axpy", be->axpy(be, n, 0.3f, x, dx), {dx, n});
    TWICE("mul_acc", be->mul_acc(be, n, x, dy, dx), {dx, n});
  }
}
