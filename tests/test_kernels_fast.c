// test_kernels_fast.c — the fast CPU kernels (OpenMP, OpenBLAS, AVX-512) against the
// reference (fixtures and tolerances: kernel_check.h).
#include "kernel_check.h"
#include "kernels/cpu/cpu.h"
#include <math.h>
#include <stdlib.h>

// =====================================================================================
// (3) Fast kernels against the reference
// =====================================================================================

// Every transpose, alpha 0.7 with beta 0 or 0.5 (OpenBLAS), and alpha 1 with beta 0 or 1, where
// batches of at least the thread count without transB run on gemm_panel (attention's shapes:
// {8, 64, 64, 32}, {6, 48, 256, 256}).
TEST(kernels_fast_gemm) {
  setup(20);
  struct { int batch, M, N, K; } shapes[] = {{1, 5, 7, 9}, {3, 5, 7, 9}, {1, 64, 512, 128},
                                             {8, 64, 64, 32}, {5, 33, 17, 65},
                                             {1, 300, 40, 100},  // split by rows
                                             {6, 48, 256, 256}, {2, 7, 33, 5},
                                             {1, 1, 72, 96}, {3, 4, 19, 40},  // few rows (B^T: dot products)
                                             {1, 72, 64, 64}};                // attention's v P^T at batch 1
  const double keep = cpu_par_min_macs;
  for (int all_threaded = 0; all_threaded < 2; all_threaded++)  // small products on one thread, or not
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int bz = 0; bz < 4; bz++) {
          while (nscratch) free(scratch[--nscratch]);
          const int bt = shapes[s].batch, M = shapes[s].M, N = shapes[s].N, K = shapes[s].K;
          const long sa = (long)M * K + 3, sb = (long)K * N + 1, sc = (long)M * N + 2;  // padded
          float *A = randn(bt * sa, 1), *B = randn(bt * sb, 1), *C0 = randn(bt * sc, 1);
          float *C1 = dupf(C0, bt * sc), *C2 = dupf(C0, bt * sc);
          const float alpha = bz < 2 ? 0.7f : 1.0f, beta = bz == 1 ? 0.5f : bz == 3 ? 1.0f : 0.0f;
          REF->gemm(REF, bt, ta, tb, M, N, K, alpha, A, sa, B, sb, beta, C1, sc);
          cpu_par_min_macs = all_threaded ? 0 : keep;
          FAST->gemm(FAST, bt, ta, tb, M, N, K, alpha, A, sa, B, sb, beta, C2, sc);
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
      REF_VS_FAST("conv fwd", y1, y2, ysize(d), be->conv2d_fwd(be, d, x, w, with_bias ? b : NULL, out));
    }
    float *dx1 = randn(xsize(d), 1), *dx2 = dupf(dx1, xsize(d));  // accumulate onto junk
    REF_VS_FAST("conv bwd data", dx1, dx2, xsize(d), be->conv2d_bwd_data(be, d, dy, w, out));
    float *dw1 = randn(wsize(d), 1), *dw2 = dupf(dw1, wsize(d));
    float *db1 = randn(d->Cout, 1), *db2 = dupf(db1, d->Cout);
    REF->conv2d_bwd_filter(REF, d, x, dy, dw1, db1);
    FAST->conv2d_bwd_filter(FAST, d, x, dy, dw2, db2);
    EXPECT_CLOSE("conv bwd filter dw", dw2, dw1, wsize(d), ATOL, RTOL);
    EXPECT_CLOSE("conv bwd filter db", db2, db1, d->Cout, ATOL, RTOL);
    float *dw3 = dupf(dw1, wsize(d));  // db = NULL is allowed
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
      {2, 5, 7, 7, 6},    {1, 3, 3, 5, 9},     {4, 24, 32, 32, 1}, {1, 72, 8, 8, 72},
      {5, 19, 8, 8, 21},  {18, 3, 4, 4, 5}};  // backward-filter's groups of images: 4 + 1, 16 + 2
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
  // the last two: a group's statistics over several blocks of 1024 values (group_stats), with a
  // partial last one and with whole ones
  static const int sh[][4] = {{2, 24, 64, 8}, {3, 19, 49, 1}, {1, 72, 64, 24}, {16, 48, 256, 16}, {2, 37, 64, 1},
                              {1, 24, 1024, 8}};
  for (int k = 0; k < 6; k++) {
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

// The fused GroupNorm + SiLU backward of each backend (which makes the GroupNorm's output a
// again from x) against the two ops it stands for, run by the reference in double on the a of
// the forward: dx, dgamma and dbeta accumulate onto what they held; planes that end inside a
// vector (49, 3), one channel per group, a group as wide as the layer.
TEST(kernels_fast_groupnorm_silu_bwd) {
  setup(24);
  static const int sh[][4] = {{2, 24, 64, 8}, {3, 19, 49, 1}, {1, 72, 64, 24}, {16, 48, 256, 16}, {2, 5, 3, 5}};
  for (int k = 0; k < 5; k++) {
    while (nscratch) free(scratch[--nscratch]);
    const int B = sh[k][0], C = sh[k][1], HW = sh[k][2], G = sh[k][3];
    const size_t n = (size_t)B * C * HW;
    float *x = randn(n, 2), *gamma = randn(C, 1), *beta = randn(C, 1), *dy = randn(n, 1);
    for (size_t i = 0; i < n; i++) x[i] += 1.0f;
    float *a = zeros(n), *m = zeros(B * G), *r = zeros(B * G);
    REF->groupnorm_fwd(REF, B, C, HW, G, x, gamma, beta, a, m, r);
    float *da = zeros(n), *dx0 = randn(n, 1), *dg0 = randn(C, 1), *db0 = randn(C, 1);
    float *dx1 = dupf(dx0, n), *dg1 = dupf(dg0, C), *db1 = dupf(db0, C);
    REF->silu_bwd(REF, n, a, dy, da);
    REF->groupnorm_bwd(REF, B, C, HW, G, x, da, gamma, m, r, dx1, dg1, db1);
    Backend *bes[2] = {REF, FAST};
    for (int i = 0; i < 2; i++) {
      Backend *be = bes[i];
      ASSERT(be->groupnorm_silu_bwd);
      float *dx = dupf(dx0, n), *dg = dupf(dg0, C), *db = dupf(db0, C);
      be->groupnorm_silu_bwd(be, B, C, HW, G, x, dy, gamma, beta, m, r, dx, dg, db);
      EXPECT_CLOSE("gn+silu bwd dx", dx, dx1, n, ATOL, RTOL);
      EXPECT_CLOSE("gn+silu bwd dgamma", dg, dg1, C, ATOL, RTOL);
      EXPECT_CLOSE("gn+silu bwd dbeta", db, db1, C, ATOL, RTOL);
    }
    if (test_failed()) return;
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
    float *dx1 = randn(n, 1), *dx2 = dupf(dx1, n), *dg1 = randn(C, 1), *dg2 = dupf(dg1, C);
    float *db1 = randn(C, 1), *db2 = dupf(db1, C);
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
    float *y1 = zeros(n), *y2 = zeros(n), *dx1 = randn(n, 1), *dx2 = dupf(dx1, n);
    REF_VS_FAST("silu y", y1, y2, n, be->silu_fwd(be, n, x, out));
    REF_VS_FAST("silu dx", dx1, dx2, n, be->silu_bwd(be, n, x, dy, out));
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
    float *dx1 = randn(N, 1), *dx2 = dupf(dx1, N);
    REF_VS_FAST("softmax dx", dx1, dx2, N, be->softmax_bwd(be, rows, n, sc, y1, dy, out));
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
      float *y1 = dupf(x, n), *y2 = dupf(x, n);
      REF_VS_FAST("bcast_add", y1, y2, n, be->bcast_add(be, B, C, HW, v, vstride, out));
      float *dv1 = randn((size_t)B * C, 1), *dv2 = dupf(dv1, (size_t)B * C);
      REF_VS_FAST("bcast_add_bwd", dv1, dv2, (size_t)B * C, be->bcast_add_bwd(be, B, C, HW, x, vstride, out));
    }
    // copy channels [1, C) of x into channels [2, C+1) of a (B, C+3) tensor, then add back
    const int dC = C + 3, nc = C - 1;
    if (nc > 0)
      for (int beta = 0; beta < 2; beta++) {
        float *d1 = randn((size_t)B * dC * HW, 1), *d2 = dupf(d1, (size_t)B * dC * HW);
        REF_VS_FAST("chan_copy", d1, d2, (size_t)B * dC * HW,
                    be->chan_copy(be, B, nc, HW, x, C, 1, out, dC, 2, (float)beta));
      }
    float *u1 = zeros(4 * n), *u2 = zeros(4 * n);
    REF_VS_FAST("upsample fwd", u1, u2, 4 * n, be->upsample2x_fwd(be, B, C, H, W, x, out));
    float *dx1 = randn(n, 1), *dx2 = dupf(dx1, n);
    REF_VS_FAST("upsample bwd", dx1, dx2, n, be->upsample2x_bwd(be, B, C, H, W, dy4, out));
  }
}

TEST(kernels_fast_mse_loss) {
  setup(27);
  struct { int B, D; int weighted; } shapes[] = {{5, 77, 1}, {64, 1024, 0}, {64, 1024, 1}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int B = shapes[s].B, D = shapes[s].D;
    const size_t n = (size_t)B * D;
    float *p = randn(n, 1), *t = randn(n, 1), *w = shapes[s].weighted ? randn(B, 1) : NULL;
    float *l1 = zeros(B), *l2 = zeros(B), *d1 = randn(n, 1), *d2 = dupf(d1, n);
    REF->mse_loss(REF, B, D, p, t, w, l1, d1);
    FAST->mse_loss(FAST, B, D, p, t, w, l2, d2);
    EXPECT_CLOSE("mse loss", l2, l1, B, ATOL, RTOL);
    EXPECT_CLOSE("mse dpred", d2, d1, n, ATOL, RTOL);
  }
}
