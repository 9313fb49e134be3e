// fast_blas.c — gemm and convolution on OpenBLAS sgemm, threaded by OpenMP.
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
// Column blocks. `col` is built and used a block of output rows at a time (about 256 output
// pixels: 8 rows of a 32x32 image, a whole 16x16 one), so that it is written and read while it
// sits in L2 instead of making a round trip through memory: for a sample of 24 channels at
// 32x32, col_b is 884 KB, a block 221 KB. Measured one thread, 16 samples, 3x3, ms per
// call, whole col_b | blocks of 8 rows: 24->24 @32x32 2.03 | 1.49; 18->19 1.60 | 0.98;
// 37->37 4.01 | 3.22; 72->24 6.18 | 4.97; at 16x16 and 8x8 a block is the whole image. The
// narrow layers that pruning leaves gain the most: their GEMMs are short, so building col
// weighed the most.
//
// Unpacked products. Where the build has AVX-512 and one thread runs a sample, each block's
// product is gemm_panel's (gemm_panel.c), which reads the block where it lies instead of
// packing it as sgemm does (a copy that costs about as much as building it): the forward's
// w . col_block, backward-data's w^T . dy_block, and backward-filter's col_block . dy_block^T
// into a transposed dw per thread (Cout along the vector lanes), added into dw at the end. The
// products then no longer depend on which kernels OpenBLAS loaded (OPENBLAS_CORETYPE). The
// (c) path and builds without AVX-512 keep sgemm. A profiled training step (batch 64, 2
// threads) spent 87 / 87 / 112 ms in forward / backward-data / backward-filter; with sgemm's
// AVX-512 kernels it spent 94 / 102 / 126. (Since then same-size convolutions take the direct
// paths, conv_direct.c and conv_dw_taps.c, and batched products with alpha 1, attention's and
// the linears', take gemm_panel too, a transposed B turned first: fast_gemm.)
//
// Threading. OpenBLAS (Debian's pthread build) keeps its own thread pool; with OpenMP's
// beside it, the two fight for the cores (each pool spins a while after its work, stealing
// time from the other). So OpenBLAS always runs single-threaded here and all parallelism is
// OpenMP's:
//   (a) batch >= threads: one sample (or one product of a batched gemm) per thread;
//   (c) batch <  threads: samples in turn, each product split by columns (or rows) across
//       the threads, each slice one single-threaded sgemm.
// The alternative (b), samples in turn with OpenBLAS on all threads, was slower. Measured
// with kernels/cpu/bench/conv_bench.c, batch 64, 2 threads of an AMD EPYC (Zen 5, AVX-512),
// best of 10, ms per call for a | b | c:
//                          forward            bwd data           bwd filter
//   3x3  32->32  @32x32    6.8 | 8.8 | 7.0    7.0 | 9.4 | 7.6    7.2 | 8.7 | 7.0
//   3x3  64->64  @16x16    6.0 | 7.6 | 6.2    6.1 | 8.2 | 6.4    6.5 | 7.7 | 6.3
//   3x3 128->128 @8x8      6.0 | 7.6 | 6.2    6.4 | 8.2 | 6.6    6.2 | 7.4 | 6.0
//   3x3  32->32  @32x32/2  2.1 | 3.1 | 2.2    2.1 | 3.2 | 2.1    2.2 | 3.2 | 2.3
//   1x1  64->128 @16x16    1.1 | 1.2 | 1.2    1.1 | 1.2 | 1.2    1.2 | 1.3 | 1.3
//   gemm x64, 256x256x64 (attention scores) 2.2 | 2.7 | 2.8;  64x256x256 2.5 | 2.7 | 2.6
// (a) runs at about 180 GFLOP/s on the 3x3 layers, 1.95x its one-thread speed. (b) also
// slowed everything after it while OpenBLAS's threads spun down, which (a) and (c) avoid.
#include "cpu.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <string.h>

// OpenBLAS's thread count is process-wide: make sure it is 1 (cheap when it already is).
static void blas_single_threaded(void) {
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

// ---- dense algebra ----

// One product C = alpha op(A) op(B) + beta C (row-major, leading dimensions given), split
// across nt threads along N, or along M when that is longer, in slices of whole cache lines.
static void sgemm_split(int nt, int transA, int transB, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C,
                        int ldc) {
  const CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
  const int by_cols = N >= M, len = by_cols ? N : M;
#pragma omp parallel num_threads(nt) if (nt > 1 && (double)M * N * K >= 1e6)
  {
    const int n = omp_get_num_threads(), t = omp_get_thread_num();
    const int chunk = ((len + n - 1) / n + 15) & ~15, i0 = t * chunk;
    const int i1 = i0 + chunk < len ? i0 + chunk : len;
    if (i0 < i1) {
      if (by_cols)  // C[:, i0:i1] = op(A) op(B)[:, i0:i1]
        cblas_sgemm(CblasRowMajor, ta, tb, M, i1 - i0, K, alpha, A, lda,
                    transB ? B + (long)i0 * ldb : B + i0, ldb, beta, C + i0, ldc);
      else          // C[i0:i1, :] = op(A)[i0:i1, :] op(B)
        cblas_sgemm(CblasRowMajor, ta, tb, i1 - i0, N, K, alpha,
                    transA ? A + i0 : A + (long)i0 * lda, lda, B, ldb, beta, C + (long)i0 * ldc, ldc);
    }
  }
}

// C = alpha A B^T + beta C for few rows of A (M <= GEMM_DOT_ROWS), B stored (N, K): every
// C(m, n) one dot product of two contiguous rows. The time embedding's linears (y = x W^T, a
// row per sample) at batch 1: sgemm took 2.5-3.6 us on 1x72x96 and 1x96x96, its call and
// packing costing ~10x the 7-9k multiply-adds.
#define GEMM_DOT_ROWS 4
static void gemm_dot_rows(int M, int N, int K, float alpha, const float *A, const float *B, float beta, float *C) {
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      const float *a = A + (long)m * K, *b = B + (long)n * K;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int k = 0; k < K; k++) s += a[k] * b[k];
      float *c = C + (long)m * N + n;
      *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;  // beta 0: C may hold anything
    }
}

// B (N, K) row-major into bt (K, N), in 16 x 16 tiles.
static void transpose(int N, int K, const float *B, float *bt) {
  for (int n0 = 0; n0 < N; n0 += 16)
    for (int k0 = 0; k0 < K; k0 += 16) {
      const int n1 = n0 + 16 < N ? n0 + 16 : N, k1 = k0 + 16 < K ? k0 + 16 : K;
      for (int k = k0; k < k1; k++)
        for (int n = n0; n < n1; n++) bt[(long)k * N + n] = B[(long)n * K + k];
    }
}

// One product of a batch on this thread, on gemm_panel: a B stored transposed is turned first
// (attention's v P^T, the linears' x W^T: O(NK) against the product's O(MNK)). 72x64x64 with
// B transposed, one thread: sgemm 7.6 us, this ~4.
static void gemm_one_panel(int transA, int transB, int M, int N, int K, const float *A, const float *B, float beta,
                           float *C) {
  if (transB) {
    float *bt = cpu_scratch(CPU_SCR_BT, (size_t)K * N);
    transpose(N, K, B, bt);
    B = bt;
  }
  gemm_panel(M, N, K, A, transA ? 1 : K, transA ? M : 1, B, N, C, N, beta == 1.0f);
}

static void fast_gemm(Backend *be, int batch, int transA, int transB, int M, int N, int K,
                      float alpha, const float *A, long strideA, const float *B, long strideB,
                      float beta, float *C, long strideC) {
  const int nt = cpu_threads_for(cpu_threads(be), (double)batch * M * N * K), lda = transA ? M : K,
            ldb = transB ? K : N;
  blas_single_threaded();
  if (!transA && transB && M <= GEMM_DOT_ROWS) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && batch >= nt)
    for (int b = 0; b < batch; b++) gemm_dot_rows(M, N, K, alpha, A + b * strideA, B + b * strideB, beta, C + b * strideC);
    return;
  }
  // One product per thread on gemm_panel, unpacked, where OpenBLAS would copy both operands.
  const int panel = alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && gemm_panel_available();
  if (batch >= nt && panel) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int b = 0; b < batch; b++)
      gemm_one_panel(transA, transB, M, N, K, A + b * strideA, B + b * strideB, beta, C + b * strideC);
  } else if (batch >= nt) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int b = 0; b < batch; b++)
      sgemm_split(1, transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb,
                  beta, C + b * strideC, N);
  } else {
    for (int b = 0; b < batch; b++)
      sgemm_split(nt, transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb,
                  beta, C + b * strideC, N);
  }
}

// ---- convolution ----

// gemm_panel (C = A . B, plus C with acc) on nt threads, each a slice of C's columns in whole
// vectors; 0 where the build has no gemm_panel.
static int gemm_panel_split(int nt, int M, int n, int K, const float *A, long rs, long cs, const float *B, int ldb,
                            float *C, int ldc, int acc) {
  if (!gemm_panel_available()) return 0;
  if (nt <= 1 || n < 64) return gemm_panel(M, n, K, A, rs, cs, B, ldb, C, ldc, acc);
#pragma omp parallel num_threads(nt)
  {
    const int T = omp_get_num_threads(), t = omp_get_thread_num();
    const int chunk = ((n + T - 1) / T + 15) & ~15, j0 = t * chunk < n ? t * chunk : n;
    const int j1 = j0 + chunk < n ? j0 + chunk : n;
    if (j0 < j1) gemm_panel(M, j1 - j0, K, A, rs, cs, B + j0, ldb, C + j0, ldc, acc);
  }
  return 1;
}

static int conv_is_pointwise(const ConvDesc *d) { return d->K == 1 && d->stride == 1 && d->pad == 0; }

// Output columns ox in [*lo, *hi) read input column ix = ox*stride - pad + kx inside [0, W).
static void valid_cols(const ConvDesc *d, int kx, int *lo, int *hi) {
  const int s = d->stride, first = d->pad - kx, last = d->W - 1 + d->pad - kx;
  *lo = first <= 0 ? 0 : (first + s - 1) / s;
  *hi = last < 0 ? 0 : last / s + 1;
  if (*hi > d->Wo) *hi = d->Wo;
  if (*lo > *hi) *lo = *hi;
}

// Output rows per column block: about 256 output pixels, at least one row.
static int block_rows(const ConvDesc *d) {
  const int r = 256 / d->Wo;
  return r < 1 ? 1 : r > d->Ho ? d->Ho : r;
}

// x is one sample (Cin,H,W); col is the (Cin*K*K, n) block of output rows [oy0, oy1), n =
// (oy1 - oy0)*Wo, zero where the kernel hangs off the image. Rows are independent: nt threads
// share them.
static void im2col(const ConvDesc *d, const float *x, float *col, int oy0, int oy1, int nt) {
  const int K = d->K, s = d->stride, Wo = d->Wo;
  const long n = (long)(oy1 - oy0) * Wo;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int row = 0; row < d->Cin * K * K; row++) {
    const int ci = row / (K * K), ky = row / K % K, kx = row % K;
    const float *xc = x + (long)ci * d->H * d->W;
    float *rowp = col + row * n;
    int lo, hi;
    valid_cols(d, kx, &lo, &hi);
    for (int oy = oy0; oy < oy1; oy++) {
      float *r = rowp + (long)(oy - oy0) * Wo;
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

#ifdef __AVX512F__
// col2im_acc at stride 1, gathering: each row of dx touched by the block is loaded once, the
// K*K rows of dcol that land on it are added in registers (masked, shifted loads: lanes whose
// source lies outside the block's output columns add nothing), and it is stored once, instead
// of being read and written K*K times. The sums run in col2im_acc's order: the same bits.
// One thread, 16 samples, 3x3, ms: 24 ch @32x32 0.57 -> 0.40; 48 @16x16 0.42 -> 0.19;
// 72 @8x8 0.31 -> 0.14.
static void col2im_acc_s1(const ConvDesc *d, const float *dcol, float *dx, int oy0, int oy1, int ci) {
  const int K = d->K, Wo = d->Wo, W = d->W, pad = d->pad;
  const long n = (long)(oy1 - oy0) * Wo;
  const int iy0 = oy0 - pad < 0 ? 0 : oy0 - pad, iy1 = oy1 - 1 - pad + K > d->H ? d->H : oy1 - 1 - pad + K;
  float *dxc = dx + (long)ci * d->H * W;
  for (int iy = iy0; iy < iy1; iy++) {
    float *dr = dxc + (long)iy * W;
    for (int ix0 = 0; ix0 < W; ix0 += 16) {
      const int left = W - ix0 < 16 ? W - ix0 : 16;
      const __mmask16 in_row = (__mmask16)((1u << left) - 1);
      __m512 acc = _mm512_maskz_loadu_ps(in_row, dr + ix0);
      for (int ky = 0; ky < K; ky++) {
        const int oy = iy + pad - ky;
        if (oy < oy0 || oy >= oy1) continue;
        for (int kx = 0; kx < K; kx++) {
          const int sh = pad - kx;  // lane l (ix = ix0 + l) reads output column ox = ix + sh
          const int a = -sh - ix0 > 0 ? -sh - ix0 : 0, b = Wo - sh - ix0 < left ? Wo - sh - ix0 : left;
          if (b <= a) continue;
          const __mmask16 m = (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1));
          const float *src = dcol + ((long)(ci * K + ky) * K + kx) * n + (long)(oy - oy0) * Wo + ix0 + sh;
          acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, src));
        }
      }
      _mm512_mask_storeu_ps(dr + ix0, in_row, acc);
    }
  }
}
#endif

// The adjoint of im2col: dx (Cin,H,W) += every entry of the block dcol (output rows [oy0, oy1))
// at the pixel it was read from. Channels are independent (each writes only its own plane of
// dx): nt threads share them.
static void col2im_acc(const ConvDesc *d, const float *dcol, float *dx, int oy0, int oy1, int nt) {
  const int K = d->K, s = d->stride, Wo = d->Wo;
  const long n = (long)(oy1 - oy0) * Wo;
#ifdef __AVX512F__
  if (s == 1) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int ci = 0; ci < d->Cin; ci++) col2im_acc_s1(d, dcol, dx, oy0, oy1, ci);
    return;
  }
#endif
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int ci = 0; ci < d->Cin; ci++)
    for (int ky = 0; ky < K; ky++)
      for (int kx = 0; kx < K; kx++) {
        float *dxc = dx + (long)ci * d->H * d->W;
        const float *row = dcol + ((long)(ci * K + ky) * K + kx) * n;
        int lo, hi;
        valid_cols(d, kx, &lo, &hi);
        for (int oy = oy0; oy < oy1; oy++) {
          const int iy = oy * s - d->pad + ky;
          if (iy < 0 || iy >= d->H) continue;
          const float *r = row + (long)(oy - oy0) * Wo;
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

// The three convolution ops each run one sample at a time through a `*_sample` function
// given `nt` threads for that sample: 1 when the samples are spread over the threads
// (batch >= threads), all of them otherwise. `col` is that sample's scratch for one column
// block (conv_scratch), NULL for a pointwise convolution, which needs none.

static void conv_fwd_sample(const ConvDesc *d, const float *xb, const float *w, const float *bias,
                            float *yb, float *col, int nt) {
  const int P = d->Ho * d->Wo, CKK = d->Cin * d->K * d->K, rows = block_rows(d);
  if (!col) {  // pointwise: y_b = w . x_b, x_b read where it lies
    if (!gemm_panel_split(nt, d->Cout, P, CKK, w, CKK, 1, xb, P, yb, P, 0))
      sgemm_split(nt, 0, 0, d->Cout, P, CKK, 1.0f, w, CKK, xb, P, 0.0f, yb, P);
  } else {
    for (int oy = 0; oy < d->Ho; oy += rows) {  // y_b[:, block] = w . col_block
      const int oy1 = oy + rows < d->Ho ? oy + rows : d->Ho, n = (oy1 - oy) * d->Wo;
      im2col(d, xb, col, oy, oy1, nt);
      if (!gemm_panel_split(nt, d->Cout, n, CKK, w, CKK, 1, col, n, yb + (long)oy * d->Wo, P, 0))
        sgemm_split(nt, 0, 0, d->Cout, n, CKK, 1.0f, w, CKK, col, n, 0.0f, yb + (long)oy * d->Wo, P);
    }
  }
  if (bias)
    for (int co = 0; co < d->Cout; co++) {
      float *yr = yb + (long)co * P;
#pragma omp simd
      for (int p = 0; p < P; p++) yr[p] += bias[co];
    }
}

static void conv_bwd_data_sample(const ConvDesc *d, const float *dyb, const float *w, float *dxb,
                                 float *dcol, int nt) {
  const int P = d->Ho * d->Wo, CKK = d->Cin * d->K * d->K, rows = block_rows(d);
  if (!dcol) {  // pointwise: dx_b += w^T dy_b straight into place
    if (!gemm_panel_split(nt, CKK, P, d->Cout, w, 1, CKK, dyb, P, dxb, P, 1))
      sgemm_split(nt, 1, 0, CKK, P, d->Cout, 1.0f, w, CKK, dyb, P, 1.0f, dxb, P);
    return;
  }
  for (int oy = 0; oy < d->Ho; oy += rows) {  // dcol_block = w^T . dy_b[:, block], scattered into dx_b
    const int oy1 = oy + rows < d->Ho ? oy + rows : d->Ho, n = (oy1 - oy) * d->Wo;
    if (nt > 1 || !gemm_panel(CKK, n, d->Cout, w, 1, CKK, dyb + (long)oy * d->Wo, P, dcol, n, 0))  // w^T . dy
      sgemm_split(nt, 1, 0, CKK, n, d->Cout, 1.0f, w, CKK, dyb + (long)oy * d->Wo, P, 0.0f, dcol, n);
    col2im_acc(d, dcol, dxb, oy, oy1, nt);
  }
}

// dwT, when given (one thread per sample, gemm_panel available), is the thread's (CKK, Cout)
// accumulator of dw transposed: each block adds col_block . dy_block^T to it on gemm_panel,
// where M = CKK is long and the short side Cout lies along the vector lanes, after turning the
// block of dy (Cout, n) into dyT (n, Cout). Otherwise dw += dy_block . col_block^T on OpenBLAS.
// A same-size convolution's (conv_direct_ok) column block without im2col: xp is the block's
// input rows [oy0 - pad, oy1 + pad) zero-padded to Wp = W + 2 pad columns (~1.1x the block's
// input where im2col writes 9x), and output pixel q of the block in that padded layout reads
// tap (ky, kx) of channel ci at xp[ci*S + ky*Wp + kx + q]. So for each tap the rows ci of
// dwT (ci*KK + t, Cout) += xp rows (stride S) . dyT (q, Cout), one gemm_panel per tap, where
// dyT's rows for the padding columns are zero. The k loop runs over Wp/W more pixels.
// A training step of the default model at batch 64, one thread, CPU time in the same run,
// every convolution on im2col against the direct paths: 882 -> 669 ms (1.32x; 1.16-1.28x with
// backward-filter still on im2col).
static void bwd_filter_block_padded(const ConvDesc *d, const float *xb, const float *dyb, float *dwT, float *xp,
                                    float *dyT, int oy0, int oy1) {
  const int K = d->K, pad = d->pad, W = d->W, H = d->H, Wp = W + 2 * pad, KK = K * K, Cout = d->Cout;
  const int R = oy1 - oy0 + 2 * pad, nq = (oy1 - oy0) * Wp;
  const long S = (long)R * Wp, P = (long)H * W;
  for (int ci = 0; ci < d->Cin; ci++) cpu_pad_rows(xb + ci * P, H, W, pad, oy0 - pad, R, xp + ci * S);
  memset(xp + d->Cin * S, 0, sizeof(float) * (Wp + K));  // read (times zero rows of dyT) past the end
  for (int q = 0; q < nq; q++) {
    const int oy = oy0 + q / Wp, ox = q % Wp;
    float *t = dyT + (long)q * Cout;
    if (ox >= W) {
      memset(t, 0, sizeof(float) * Cout);
      continue;
    }
    const float *src = dyb + (long)oy * W + ox;
    for (int co = 0; co < Cout; co++) t[co] = src[co * P];
  }
  for (int ky = 0, t = 0; ky < K; ky++)  // one product per tap
    for (int kx = 0; kx < K; kx++, t++)
      gemm_panel(d->Cin, Cout, nq, xp + ky * Wp + kx, S, 1, dyT, Cout, dwT + (long)t * Cout, KK * Cout, 1);
}

// Floats of xp and of dyT that bwd_filter_block_padded needs for d's column blocks.
static size_t padded_xp_size(const ConvDesc *d) {
  const int Wp = d->W + 2 * d->pad;
  return (size_t)d->Cin * (block_rows(d) + 2 * d->pad) * Wp + Wp + d->K;
}
static size_t padded_dyt_size(const ConvDesc *d) { return (size_t)block_rows(d) * (d->W + 2 * d->pad) * d->Cout; }

static void conv_bwd_filter_sample(const ConvDesc *d, const float *xb, const float *dyb, float *dw,
                                   float *dwT, float *col, float *dyT, int nt, float *xp) {
  const int P = d->Ho * d->Wo, CKK = d->Cin * d->K * d->K, rows = block_rows(d);
  if (!col) {
    sgemm_split(nt, 0, 1, d->Cout, CKK, P, 1.0f, dyb, P, xb, P, 1.0f, dw, CKK);
    return;
  }
  for (int oy = 0; oy < d->Ho; oy += rows) {
    if (xp) {
      bwd_filter_block_padded(d, xb, dyb, dwT, xp, dyT, oy, oy + rows < d->Ho ? oy + rows : d->Ho);
      continue;
    }
    const int oy1 = oy + rows < d->Ho ? oy + rows : d->Ho, n = (oy1 - oy) * d->Wo;
    im2col(d, xb, col, oy, oy1, nt);
    if (dwT) {
      for (int co = 0; co < d->Cout; co++) {
        const float *src = dyb + (long)co * P + (long)oy * d->Wo;
        for (int j = 0; j < n; j++) dyT[(long)j * d->Cout + co] = src[j];
      }
      gemm_panel(CKK, d->Cout, n, col, n, 1, dyT, d->Cout, dwT, d->Cout, 1);
    } else {
      sgemm_split(nt, 0, 1, d->Cout, CKK, n, 1.0f, dyb + (long)oy * d->Wo, P, col, n, 1.0f, dw, CKK);
    }
  }
}

// One column block's scratch (NULL for a pointwise convolution).
static float *conv_scratch(const ConvDesc *d) {
  return conv_is_pointwise(d) ? NULL
                              : cpu_scratch(CPU_SCR_COL, (size_t)d->Cin * d->K * d->K * block_rows(d) * d->Wo);
}

static void fast_conv2d_fwd(Backend *be, const ConvDesc *d, const float *x, const float *w,
                            const float *bias, float *y) {
  const int nt = cpu_threads_for(cpu_threads(be), conv_macs(d)), par = d->B >= nt;
  if (cpu_direct(be) && conv_direct_fwd(d, x, w, bias, y, nt)) return;
  const long xs = (long)d->Cin * d->H * d->W, ys = (long)d->Cout * d->Ho * d->Wo;
  blas_single_threaded();
#pragma omp parallel num_threads(nt) if (par)
  {
    float *col = conv_scratch(d);
#pragma omp for schedule(static)
    for (int b = 0; b < d->B; b++) conv_fwd_sample(d, x + b * xs, w, bias, y + b * ys, col, par ? 1 : nt);
  }
}

static void fast_conv2d_bwd_data(Backend *be, const ConvDesc *d, const float *dy, const float *w,
                                 float *dx) {
  const int nt = cpu_threads_for(cpu_threads(be), conv_macs(d)), par = d->B >= nt;
  if (cpu_direct(be) && conv_direct_bwd_data(d, dy, w, dx, nt)) return;
  const long xs = (long)d->Cin * d->H * d->W, ys = (long)d->Cout * d->Ho * d->Wo;
  blas_single_threaded();
#pragma omp parallel num_threads(nt) if (par)
  {
    float *dcol = conv_scratch(d);
#pragma omp for schedule(static)
    for (int b = 0; b < d->B; b++) conv_bwd_data_sample(d, dy + b * ys, w, dx + b * xs, dcol, par ? 1 : nt);
  }
}

// With samples spread over threads, each thread sums its samples' dw into a private
// (Cout, CKK) buffer — thread 0 straight into dw, which accumulates anyway — and the
// buffers are added into dw at the end.
static void fast_conv2d_bwd_filter(Backend *be, const ConvDesc *d, const float *x, const float *dy,
                                   float *dw, float *db) {
  const int nt = cpu_threads_for(cpu_threads(be), conv_macs(d)), par = d->B >= nt;
  const long xs = (long)d->Cin * d->H * d->W, ys = (long)d->Cout * d->Ho * d->Wo;
  const long nw = (long)d->Cout * d->Cin * d->K * d->K;
  float *part[64];
  int nused = 1;
  CHECK(nt <= 64, "at most 64 threads");
  part[0] = dw;
  blas_single_threaded();
#pragma omp parallel num_threads(nt) if (par)
  {
    const int me = omp_get_thread_num();
    if (me == 0) nused = omp_get_num_threads();  // OpenMP may give fewer than asked
    if (me > 0) {
      part[me] = cpu_scratch(CPU_SCR_PART, nw);
      memset(part[me], 0, sizeof(float) * nw);
    }
#pragma omp barrier
    float *col = conv_scratch(d), *mine = part[me];
    const int CKK = d->Cin * d->K * d->K, panel = par && col && gemm_panel_available();
    // same-size convolutions: padded blocks instead of im2col (bwd_filter_block_padded), 3x3
    // ones on conv_dw_taps.c, whose dwT holds four partial sums per weight (quads)
    const int direct = panel && cpu_direct(be) && conv_direct_ok(d), quads = direct && conv_dw_quads_ok(d);
    const size_t nT = (size_t)CKK * d->Cout * (quads ? 4 : 1);
    float *mineT = panel ? cpu_scratch(CPU_SCR_DWT, nT) : NULL;
    float *xp = direct ? cpu_scratch(CPU_SCR_XP, quads ? conv_dw_quads_xp_size(d) : padded_xp_size(d)) : NULL;
    float *dyT = !panel  ? NULL
                 : quads ? cpu_scratch(CPU_SCR_DYT, conv_dw_quads_dyq_size(d))
                         : cpu_scratch(CPU_SCR_DYT, xp ? padded_dyt_size(d) : (size_t)block_rows(d) * d->Wo * d->Cout);
    if (mineT) memset(mineT, 0, sizeof(float) * nT);
    if (quads) {
      const int g = conv_dw_quads_imgs(d);
#pragma omp for schedule(static)
      for (int b = 0; b < d->B; b += g)
        conv_dw_quads(d, x + b * xs, dy + b * ys, b + g <= d->B ? g : d->B - b, xp, dyT, mineT);
      for (int co = 0; co < d->Cout; co++)
        for (int k = 0; k < CKK; k++) {
          const float *q = mineT + ((long)k * d->Cout + co) * 4;
          mine[(long)co * CKK + k] += (q[0] + q[1]) + (q[2] + q[3]);
        }
    } else {
#pragma omp for schedule(static)
      for (int b = 0; b < d->B; b++)
        conv_bwd_filter_sample(d, x + b * xs, dy + b * ys, mine, mineT, col, dyT, par ? 1 : nt, xp);
      if (mineT)
        for (int co = 0; co < d->Cout; co++)
          for (int k = 0; k < CKK; k++) mine[(long)co * CKK + k] += mineT[(long)k * d->Cout + co];
    }
  }  // every part is complete here
#pragma omp parallel num_threads(nt)
  {
    if (nused > 1) {
#pragma omp for schedule(static)
      for (long i = 0; i < nw; i++)
        for (int t = 1; t < nused; t++) dw[i] += part[t][i];
    }
    if (db) {
#pragma omp for schedule(static)
      for (int co = 0; co < d->Cout; co++) {
        double acc = 0;
        for (int b = 0; b < d->B; b++) {
          const float *dyr = dy + b * ys + (long)co * d->Ho * d->Wo;
          float sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int p = 0; p < d->Ho * d->Wo; p++) sum += dyr[p];
          acc += sum;
        }
        db[co] += (float)acc;
      }
    }
  }
}

void cpu_fast_blas_ops(Backend *be) {
  be->gemm = fast_gemm;
  be->conv2d_fwd = fast_conv2d_fwd;
  be->conv2d_bwd_data = fast_conv2d_bwd_data;
  be->conv2d_bwd_filter = fast_conv2d_bwd_filter;
}
