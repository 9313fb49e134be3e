// test_kernels_cpu.c — the CPU reference kernels against hand-computed values and finite
// differences, and every backward op accumulating (fixtures and tolerances: kernel_check.h;
// the fast kernels against the reference: test_kernels_fast.c).
#include "kernel_check.h"
#include "kernels/cpu/cpu.h"
#include <math.h>
#include <stdlib.h>

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
    float *p = dupf(p0, n), *m = dupf(m0, n), *v = dupf(v0, n);
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
    float *e = dupf(e0, n);
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
    for (int i = 0; i < ng; i++) once[i] = dupf(gs[i].g, gs[i].n);                    \
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
