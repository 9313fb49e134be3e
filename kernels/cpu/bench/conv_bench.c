// conv_bench.c — times the two ways of threading im2col + sgemm convolution (see the top of
// fast_blas.c) on the model's shapes. Not part of the build; from the repository root:
//
//   make && cc -O3 -march=native -std=c11 -D_GNU_SOURCE -fopenmp -I.
//      -I/usr/include/x86_64-linux-gnu/openblas-pthread kernels/cpu/bench/conv_bench.c
//      build/libstepscope.a -lopenblas -lm -o /tmp/conv_bench && /tmp/conv_bench 2
//
// Variant (a) is the library's kernel for batch >= threads, (c) its kernel for smaller
// batches (forced here on the whole batch), (b) the OpenBLAS-threaded alternative, written
// out here. Prints the best of five runs in ms.
#include "../fast_blas.c"  // the static kernels and im2col/col2im themselves
#include <stdio.h>

// (b): samples in turn, OpenBLAS threaded within each product. op 0 is the forward (x, w -> y),
// 1 the backward to the data (y holds dy, x receives dx), 2 the backward to the filter (x, dy
// in y -> dw), as in conv_c.
static void conv_b(int op, int nt, const ConvDesc *d, const float *x, const float *w, float *y, float *dw) {
  const int P = d->Ho * d->Wo, CKK = d->Cin * d->K * d->K, direct = conv_is_pointwise(d);
  const long xs = (long)d->Cin * d->H * d->W, ys = (long)d->Cout * P;
  float *col = xmalloc(sizeof(float) * CKK * P);
  openblas_set_num_threads(nt);
  for (int b = 0; b < d->B; b++) {
    float *xb = (float *)x + b * xs, *yb = y + b * ys, *cols = direct ? xb : col;
    if (op != 1 && !direct) im2col(d, xb, col, 0, d->Ho, 1);
    if (op == 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->Cout, P, CKK, 1.0f, w, CKK, cols, P, 0.0f, yb, P);
    if (op == 1) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, P, d->Cout, 1.0f, w, CKK, yb, P, direct ? 1.0f : 0.0f,
                  cols, P);
      if (!direct) col2im_acc(d, col, xb, 0, d->Ho, 1);
    }
    if (op == 2)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->Cout, CKK, P, 1.0f, yb, P, cols, P, 1.0f, dw, CKK);
  }
  free(col);
}

// (c): samples in turn, each product split over OpenMP threads — the library's path for
// batches smaller than the thread count, here forced for the whole batch.
static void conv_c(int op, int nt, const ConvDesc *d, const float *x, const float *w, float *y, float *dw) {
  const long xs = (long)d->Cin * d->H * d->W, ys = (long)d->Cout * d->Ho * d->Wo;
  float *col = conv_scratch(d);
  blas_single_threaded();
  for (int b = 0; b < d->B; b++) {
    if (op == 0) conv_fwd_sample(d, x + b * xs, w, NULL, y + b * ys, col, nt);
    if (op == 1) conv_bwd_data_sample(d, y + b * ys, w, (float *)x + b * xs, col, nt);
    if (op == 2) conv_bwd_filter_sample(d, x + b * xs, y + b * ys, dw, NULL, col, NULL, nt, NULL);  // im2col blocks
  }
  free(col);
}

#define BEST_OF(ms, stmt)                                                \
  do {                                                                   \
    stmt; /* warm-up */                                                  \
    ms = 1e30;                                                           \
    for (int rep = 0; rep < 10; rep++) {                                  \
      double t0 = now_sec();                                             \
      stmt;                                                              \
      double dt_ = (now_sec() - t0) * 1e3;                               \
      if (dt_ < ms) ms = dt_;                                            \
    }                                                                    \
  } while (0)

int main(int argc, char **argv) {
  const int nt = argc > 1 ? atoi(argv[1]) : 2;
  CpuCtx ctx = {nt};
  Backend be = {.name = "cpu", .ctx = &ctx};
  ConvDesc shapes[] = {
      conv_desc(64, 32, 32, 32, 32, 3, 1, 1),  conv_desc(64, 64, 16, 16, 64, 3, 1, 1),
      conv_desc(64, 128, 8, 8, 128, 3, 1, 1),  conv_desc(64, 32, 32, 32, 32, 3, 2, 1),
      conv_desc(64, 64, 16, 16, 128, 1, 1, 0), conv_desc(64, 128, 32, 32, 64, 3, 1, 1),
  };
  printf("threads %d; ms per call, best of 10; variants a | b | c (see fast_blas.c)\n", nt);
  printf("%-26s %-22s %-22s %-22s\n", "conv, batch 64", "fwd", "bwd data", "bwd filter");
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const ConvDesc *d = &shapes[s];
    const size_t nx = (size_t)d->B * d->Cin * d->H * d->W, nw = (size_t)d->Cout * d->Cin * d->K * d->K;
    const size_t ny = (size_t)d->B * d->Cout * d->Ho * d->Wo;
    float *x = xcalloc(nx, 4), *w = xcalloc(nw, 4), *y = xcalloc(ny, 4), *dw = xcalloc(nw, 4);
    for (size_t i = 0; i < nx; i++) x[i] = (float)(i % 17) * 0.1f;
    for (size_t i = 0; i < nw; i++) w[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < ny; i++) y[i] = (float)(i % 11) * 0.1f;
    double t[9];
    BEST_OF(t[0], fast_conv2d_fwd(&be, d, x, w, NULL, y));
    BEST_OF(t[1], conv_b(0, nt, d, x, w, y, dw));
    BEST_OF(t[2], conv_c(0, nt, d, x, w, y, dw));
    BEST_OF(t[3], fast_conv2d_bwd_data(&be, d, y, w, x));
    BEST_OF(t[4], conv_b(1, nt, d, x, w, y, dw));
    BEST_OF(t[5], conv_c(1, nt, d, x, w, y, dw));
    BEST_OF(t[6], fast_conv2d_bwd_filter(&be, d, x, y, dw, NULL));
    BEST_OF(t[7], conv_b(2, nt, d, x, w, y, dw));
    BEST_OF(t[8], conv_c(2, nt, d, x, w, y, dw));
    char name[64];
    snprintf(name, sizeof name, "%dx%dx%d k%d s%d -> %d", d->Cin, d->H, d->W, d->K, d->stride, d->Cout);
    printf("%-26s", name);
    for (int k = 0; k < 9; k += 3) printf(" %5.1f|%5.1f|%5.1f     ", t[k], t[k + 1], t[k + 2]);
    printf("\n");
    free(x), free(w), free(y), free(dw);
  }
  // Attention products: (N,C)^T (C,N) scores and (C,N) (N,N)^T outputs, batch 64.
  struct { int M, N, K, ta, tb; } mm[] = {{256, 256, 64, 1, 0}, {64, 256, 256, 0, 1}, {64, 64, 128, 1, 0}};
  for (size_t s = 0; s < sizeof mm / sizeof mm[0]; s++) {
    const int B = 64, M = mm[s].M, N = mm[s].N, K = mm[s].K, ta = mm[s].ta, tb = mm[s].tb;
    const int lda = ta ? M : K, ldb = tb ? K : N;
    float *A = xcalloc((size_t)B * M * K, 4), *Bm = xcalloc((size_t)B * K * N, 4), *C = xcalloc((size_t)B * M * N, 4);
    double t[3];
    BEST_OF(t[0], fast_gemm(&be, B, ta, tb, M, N, K, 1, A, (long)M * K, Bm, (long)K * N, 0, C, (long)M * N));
    BEST_OF(t[1], openblas_set_num_threads(nt); for (int b = 0; b < B; b++)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, N, K, 1, A + (long)b * M * K, lda, Bm + (long)b * K * N, ldb, 0, C + (long)b * M * N, N));
    BEST_OF(t[2], blas_single_threaded(); for (int b = 0; b < B; b++)
            sgemm_split(nt, ta, tb, M, N, K, 1, A + (long)b * M * K, lda, Bm + (long)b * K * N, ldb, 0, C + (long)b * M * N, N));
    printf("gemm x64 %3dx%3dx%3d%s      %5.1f|%5.1f|%5.1f\n", M, N, K, ta ? " tA" : " tB", t[0], t[1], t[2]);
    free(A), free(Bm), free(C);
  }
  // One big product, as the time-embedding MLP: only b and c apply (a is c here).
  {
    const int M = 64, N = 512, K = 512;
    float *A = xcalloc((size_t)M * K, 4), *Bm = xcalloc((size_t)K * N, 4), *C = xcalloc((size_t)M * N, 4);
    double t[2];
    BEST_OF(t[0], openblas_set_num_threads(nt);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, Bm, N, 0, C, N));
    BEST_OF(t[1], fast_gemm(&be, 1, 0, 0, M, N, K, 1, A, 0, Bm, 0, 0, C, 0));
    printf("gemm x1  %3dx%3dx%3d         -   |%5.2f|%5.2f\n", M, N, K, t[0], t[1]);
    free(A), free(Bm), free(C);
  }
  return 0;
}
