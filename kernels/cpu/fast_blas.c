// fast_blas.c — gemm and convolution on OpenBLAS sgemm, parallel over the batch.
//
// Convolution is im2col + sgemm per sample: the sample's input becomes a (Cin*K*K, Ho*Wo)
// matrix `col` whose row (ci,ky,kx) holds what kernel tap (ky,kx) of channel ci sees at
// every output pixel, and then
//   forward      y_b  (Cout, P)     = w (Cout, CKK) . col_b (CKK, P)
//   bwd data     dcol (CKK, P)      = w^T . dy_b,  scattered back (col2im) into dx_b
//   bwd filter   dw   (Cout, CKK)  += dy_b . col_b^T
// with P = Ho*Wo and CKK = Cin*K*K. A 1x1 convolution with stride 1 and no padding needs no
// im2col: x_b already is col_b.
//
// Threading. OpenBLAS (Debian's pthread build) has its own thread pool, and running it
// inside OpenMP threads oversubscribes the cores. Two ways avoid that:
//   (a) one sample per OpenMP thread, OpenBLAS on 1 thread (im2col runs in parallel too);
//   (b) samples in turn, OpenBLAS on nthreads threads (im2col runs on one thread).
// We use (a) whenever the batch has at least as many samples as threads, (b) otherwise
// (sampling a few images, batch-1 gemms). Measured with kernels/cpu/bench/conv_bench.c,
// 2 threads, batch 64 at 32x32 (ms per call, fwd / bwd data / bwd filter):
//   MEASUREMENTS
#include "cpu.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

// OpenBLAS's thread count is process-wide; set it only when it changes.
static void blas_threads(int n) {
  if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

// ---- dense algebra ----

static void fast_gemm(Backend *be, int batch, int transA, int transB, int M, int N, int K,
                      float alpha, const float *A, long strideA, const float *B, long strideB,
                      float beta, float *C, long strideC) {
  const int nt = cpu_threads(be), par = batch >= nt && nt > 1;
  const int lda = transA ? M : K, ldb = transB ? K : N;
  blas_threads(par ? 1 : nt);
#pragma omp parallel for num_threads(nt) schedule(static) if (par)
  for (int b = 0; b < batch; b++)
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A + b * strideA, lda,
                B + b * strideB, ldb, beta, C + b * strideC, N);
}

// ---- convolution ----

static int conv_is_pointwise(const ConvDesc *d) { return d->K == 1 && d->stride == 1 && d->pad == 0; }

// Output columns ox in [*lo, *hi) read input column ix = ox*stride - pad + kx inside [0, W).
static void valid_cols(const ConvDesc *d, int kx, int *lo, int *hi) {
  const int s = d->stride, first = d->pad - kx, last = d->W - 1 + d->pad - kx;
  *lo = first <= 0 ? 0 : (first + s - 1) / s;
  *hi = last < 0 ? 0 : last / s + 1;
  if (*hi > d->Wo) *hi = d->Wo;
  if (*lo > *hi) *lo = *hi;
}

// x is one sample (Cin,H,W); col is (Cin*K*K, Ho*Wo), zero where the kernel hangs off the image.
static void im2col(const ConvDesc *d, const float *x, float *col) {
  const int K = d->K, s = d->stride, Wo = d->Wo;
  for (int ci = 0; ci < d->Cin; ci++)
    for (int ky = 0; ky < K; ky++)
      for (int kx = 0; kx < K; kx++) {
        const float *xc = x + (long)ci * d->H * d->W;
        float *row = col + ((long)(ci * K + ky) * K + kx) * d->Ho * Wo;
        int lo, hi;
        valid_cols(d, kx, &lo, &hi);
        for (int oy = 0; oy < d->Ho; oy++) {
          float *r = row + (long)oy * Wo;
          const int iy = oy * s - d->pad + ky;
          if (iy < 0 || iy >= d->H) {
            memset(r, 0, sizeof(float) * Wo);
            continue;
          }
          const long base = (long)iy * d->W + kx - d->pad;  // xc[base + ox*s] is x[iy, ix]
          for (int ox = 0; ox < lo; ox++) r[ox] = 0;
          if (s == 1) memcpy(r + lo, xc + base + lo, sizeof(float) * (hi - lo));
          else for (int ox = lo; ox < hi; ox++) r[ox] = xc[base + ox * s];
          for (int ox = hi; ox < Wo; ox++) r[ox] = 0;
        }
      }
}

// The adjoint of im2col: dx (Cin,H,W) += every entry of dcol at the pixel it was read from.
static void col2im_acc(const ConvDesc *d, const float *dcol, float *dx) {
  const int K = d->K, s = d->stride, Wo = d->Wo;
  for (int ci = 0; ci < d->Cin; ci++)
    for (int ky = 0; ky < K; ky++)
      for (int kx = 0; kx < K; kx++) {
        float *dxc = dx + (long)ci * d->H * d->W;
        const float *row = dcol + ((long)(ci * K + ky) * K + kx) * d->Ho * Wo;
        int lo, hi;
        valid_cols(d, kx, &lo, &hi);
        for (int oy = 0; oy < d->Ho; oy++) {
          const int iy = oy * s - d->pad + ky;
          if (iy < 0 || iy >= d->H) continue;
          const float *r = row + (long)oy * Wo;
          const long base = (long)iy * d->W + kx - d->pad;
          if (s == 1) {
#pragma omp simd
            for (int ox = lo; ox < hi; ox++) dxc[base + ox] += r[ox];
          } else {
            for (int ox = lo; ox < hi; ox++) dxc[base + ox * s] += r[ox];
          }
        }
      }
}

static void fast_conv2d_fwd(Backend *be, const ConvDesc *d, const float *x, const float *w,
                            const float *bias, float *y) {
  const int nt = cpu_threads(be), par = d->B >= nt && nt > 1, direct = conv_is_pointwise(d);
  const int P = d->Ho * d->Wo, CKK = d->Cin * d->K * d->K;
  blas_threads(par ? 1 : nt);
#pragma omp parallel num_threads(nt) if (par)
  {
    float *col = direct ? NULL : xmalloc(sizeof(float) * CKK * P);
#pragma omp for schedule(static)
    for (int b = 0; b < d->B; b++) {
      const float *xb = x + (long)b * d->Cin * d->H * d->W;
      float *yb = y + (long)b * d->Cout * P;
      if (!direct) im2col(d, xb, col);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->Cout, P, CKK, 1.0f, w, CKK,
                  direct ? xb : col, P, 0.0f, yb, P);
      if (bias)
        for (int co = 0; co < d->Cout; co++) {
          float *yr = yb + (long)co * P;
#pragma omp simd
          for (int p = 0; p < P; p++) yr[p] += bias[co];
        }
    }
    free(col);
  }
}

static void fast_conv2d_bwd_data(Backend *be, const ConvDesc *d, const float *dy, const float *w,
                                 float *dx) {
  const int nt = cpu_threads(be), par = d->B >= nt && nt > 1, direct = conv_is_pointwise(d);
  const int P = d->Ho * d->Wo, CKK = d->Cin * d->K * d->K;
  blas_threads(par ? 1 : nt);
#pragma omp parallel num_threads(nt) if (par)
  {
    float *dcol = direct ? NULL : xmalloc(sizeof(float) * CKK * P);
#pragma omp for schedule(static)
    for (int b = 0; b < d->B; b++) {
      const float *dyb = dy + (long)b * d->Cout * P;
      float *dxb = dx + (long)b * d->Cin * d->H * d->W;
      if (direct) {  // dx_b += w^T dy_b straight into place
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, P, d->Cout, 1.0f, w, CKK, dyb,
                    P, 1.0f, dxb, P);
      } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, P, d->Cout, 1.0f, w, CKK, dyb,
                    P, 0.0f, dcol, P);
        col2im_acc(d, dcol, dxb);
      }
    }
    free(dcol);
  }
}

// Each thread sums its samples' dw into a private (Cout, CKK) buffer — thread 0 straight
// into dw, which accumulates anyway — and the buffers are added into dw at the end.
static void fast_conv2d_bwd_filter(Backend *be, const ConvDesc *d, const float *x, const float *dy,
                                   float *dw, float *db) {
  const int nt = cpu_threads(be), par = d->B >= nt && nt > 1, direct = conv_is_pointwise(d);
  const int P = d->Ho * d->Wo, CKK = d->Cin * d->K * d->K;
  const long nw = (long)d->Cout * CKK;
  const int nparts = par ? nt : 1;
  float **part = xmalloc(sizeof(float *) * nparts);
  part[0] = dw;
  for (int t = 1; t < nparts; t++) part[t] = xcalloc(nw, sizeof(float));
  blas_threads(par ? 1 : nt);
#pragma omp parallel num_threads(nt) if (par)
  {
    float *col = direct ? NULL : xmalloc(sizeof(float) * CKK * P);
    float *mine = part[omp_get_thread_num()];
#pragma omp for schedule(static)
    for (int b = 0; b < d->B; b++) {
      const float *xb = x + (long)b * d->Cin * d->H * d->W;
      if (!direct) im2col(d, xb, col);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->Cout, CKK, P, 1.0f,
                  dy + (long)b * d->Cout * P, P, direct ? xb : col, P, 1.0f, mine, CKK);
    }
    free(col);
    // The implicit barrier above: every part is complete.
#pragma omp for schedule(static)
    for (long i = 0; i < nw; i++)
      for (int t = 1; t < nparts; t++) dw[i] += part[t][i];
    if (db) {
#pragma omp for schedule(static)
      for (int co = 0; co < d->Cout; co++) {
        double acc = 0;
        for (int b = 0; b < d->B; b++) {
          const float *dyr = dy + ((long)b * d->Cout + co) * P;
          float s = 0;
#pragma omp simd reduction(+ : s)
          for (int p = 0; p < P; p++) s += dyr[p];
          acc += s;
        }
        db[co] += (float)acc;
      }
    }
  }
  for (int t = 1; t < nparts; t++) free(part[t]);
  free(part);
}

void cpu_fast_blas_ops(Backend *be) {
  be->gemm = fast_gemm;
  be->conv2d_fwd = fast_conv2d_fwd;
  be->conv2d_bwd_data = fast_conv2d_bwd_data;
  be->conv2d_bwd_filter = fast_conv2d_bwd_filter;
}
