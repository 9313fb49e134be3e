// conv_direct.c — "same" convolutions at stride 1 without an im2col copy (AVX-512).
//
// A convolution with stride 1 and 2*pad = K - 1 keeps the image's size, and then the input
// pixel that tap (ky, kx) of output pixel p reads sits at a fixed offset from p in the flat
// plane: p + (ky - pad)*W + (kx - pad). So 16 consecutive output pixels read 16 consecutive
// input floats per tap, one unaligned vector load, with a mask for the lanes whose tap hangs
// off the image (left or right edge, first or last rows, or the end of the plane). These are
// the column block's rows that im2col (fast_blas.c) copies out first; here the product reads
// them straight from the activation, so the copy, its scratch and its page faults go. An
// image narrower than 16 (8x8, 4x4) packs several rows into one vector the same way.
//
// Register block: R <= 12 output channels by 32 output pixels (24 AVX-512 accumulators), one
// broadcast of a weight per row and two masked loads of the input per (tap, input channel),
// the bias added as the block is stored. Output channels are dealt into panels as evenly as
// possible (19 -> 9 + 10, 37 -> 9 + 9 + 9 + 10), so an odd pruned width costs what its MACs
// say. Twelve rows rather than six halve the input's loads, which at 32x32 (planes 4 KB apart,
// every channel's rows in the same L1 sets) come from L2: one thread, batch 16, GMAC/s, six |
// twelve rows: 24->24 @32x32 52 | 68, 19->19 @32x32 47 | 81, 72->24 @32x32 55 | 58,
// 48->48 @16x16 77 | 78, 72->72 @8x8 82 | 85 (the machine loaded; ~115 is the core's peak).
// The backward of the data is the same convolution of dy with the weights transposed and
// flipped, accumulated into dx: no col2im either.
//
// Threads: one OpenMP region per call, none below cpu_par_min_macs (cpu.h). Batch >= threads:
// a sample per thread; smaller batches: the samples' 32-pixel blocks are dealt to the threads.
// Sums run over taps, then input channels, in float: results differ from the reference in
// the last bits (tests/test_kernels_fast.c: kernels_fast_conv_direct).
#include "cpu.h"
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

#ifdef __AVX512F__
#include <immintrin.h>

enum { MAXKK = 49 };  // up to 7x7
#ifndef MAXR
#define MAXR 12  // rows per panel at most (24 accumulators)
#endif

// The weights as the kernels read them: row r, tap t, input channel c at w[r*rs + t*ts + c*cs].
typedef struct { const float *w; long rs, ts, cs; } WView;

// Rows [0, R) of dst for the 32 pixels from p0 (dst points at row 0, pixel p0). src points at
// the sample's input, pixel p0; the weight of row r, tap t, input channel c is
// w[r*rs + t*ts + c*cs]. off[t] is tap t's offset, mk[2t], mk[2t+1] its masks.
#define DPANEL(R)                                                                                          \
  static void dpanel##R(int Cs, int KK, const float *src, long HW, const int *off, const __mmask16 *mk,      \
                        const float *w, long rs, long ts, long cs, const float *bias, float *dst,          \
                        __mmask16 s0, __mmask16 s1, int acc) {                                             \
    __m512 a0[R], a1[R];                                                                                   \
    _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm512_setzero_ps();                 \
    for (int t = 0; t < KK; t++) {                                                                         \
      const __mmask16 m0 = mk[2 * t], m1 = mk[2 * t + 1];                                                  \
      const float *sp = src + off[t], *wt = w + (long)t * ts;                                              \
      if (!(m0 | m1)) continue;                                                                            \
      for (int c = 0; c < Cs; c++, sp += HW, wt += cs) {                                                   \
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, sp), b1 = _mm512_maskz_loadu_ps(m1, sp + 16);          \
        _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) {                                              \
          const __m512 v = _mm512_set1_ps(wt[r * rs]);                                                     \
          a0[r] = _mm512_fmadd_ps(v, b0, a0[r]);                                                           \
          a1[r] = _mm512_fmadd_ps(v, b1, a1[r]);                                                           \
        }                                                                                                  \
      }                                                                                                    \
    }                                                                                                      \
    _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) {                                                  \
      float *d = dst + r * HW;                                                                             \
      if (bias) {                                                                                          \
        a0[r] = _mm512_add_ps(a0[r], _mm512_set1_ps(bias[r]));                                             \
        a1[r] = _mm512_add_ps(a1[r], _mm512_set1_ps(bias[r]));                                             \
      }                                                                                                    \
      if (acc) {                                                                                           \
        a0[r] = _mm512_add_ps(a0[r], _mm512_maskz_loadu_ps(s0, d));                                        \
        a1[r] = _mm512_add_ps(a1[r], _mm512_maskz_loadu_ps(s1, d + 16));                                   \
      }                                                                                                    \
      _mm512_mask_storeu_ps(d, s0, a0[r]);                                                                 \
      _mm512_mask_storeu_ps(d + 16, s1, a1[r]);                                                            \
    }                                                                                                      \
  }
DPANEL(1)
DPANEL(2)
DPANEL(3)
DPANEL(4)
DPANEL(5)
DPANEL(6)
DPANEL(7)
DPANEL(8)
DPANEL(9)
DPANEL(10)
DPANEL(11)
DPANEL(12)

typedef void (*DPanelFn)(int, int, const float *, long, const int *, const __mmask16 *, const float *, long,
                         long, long, const float *, float *, __mmask16, __mmask16, int);
static const DPanelFn dpanel[MAXR + 1] = {NULL,    dpanel1, dpanel2, dpanel3,  dpanel4,  dpanel5, dpanel6,
                                         dpanel7, dpanel8, dpanel9, dpanel10, dpanel11, dpanel12};

int conv_direct_ok(const ConvDesc *d) {
  return d->stride == 1 && 2 * d->pad == d->K - 1 && d->K * d->K <= MAXKK && d->Ho == d->H && d->Wo == d->W;
}


// Tap t's offset in the plane, and for each block of 32 output pixels the masks of the lanes
// whose tap t lands inside the image: mk[(k*KK + t)*2 + half].
static __mmask16 *tap_masks_new(int H, int W, int K) {
  const int KK = K * K, pad = K / 2;
  const long HW = (long)H * W;
  const int nblk = (int)((HW + 31) / 32);
  __mmask16 *mk = xmalloc(sizeof(__mmask16) * 2 * KK * nblk);
  for (int k = 0; k < nblk; k++) {
    int oy[32], ox[32];
    for (int l = 0; l < 32; l++) {
      const long p = (long)k * 32 + l;
      oy[l] = p < HW ? (int)(p / W) : -1000000;  // a pixel past the plane reads nothing
      ox[l] = (int)(p % W);
    }
    for (int ky = 0, t = 0; ky < K; ky++)
      for (int kx = 0; kx < K; kx++, t++) {
        unsigned m = 0;
        for (int l = 0; l < 32; l++) {
          const int iy = oy[l] + ky - pad, ix = ox[l] + kx - pad;
          if (iy >= 0 && iy < H && ix >= 0 && ix < W) m |= 1u << l;
        }
        mk[((long)k * KK + t) * 2] = (__mmask16)(m & 0xffff);
        mk[((long)k * KK + t) * 2 + 1] = (__mmask16)(m >> 16);
      }
  }
  return mk;
}

// The masks of (H, W, K), made once and kept: a model has a handful of image sizes and kernels,
// and making them costs ~10 us at 32x32, a sixth of a small convolution at batch 1. The table
// is shared by every thread that runs a model (the explorer's jobs too), hence the lock; its
// entries never change once made, so a pointer stays good without it. Past MASK_CACHE shapes
// the masks are made for the call (*own, freed by the caller).
enum { MASK_CACHE = 64 };
static const __mmask16 *tap_masks(int H, int W, int K, int *off, __mmask16 **own) {
  static struct MaskEntry { int H, W, K; const __mmask16 *mk; } cache[MASK_CACHE];
  static int used;
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  for (int ky = 0, t = 0; ky < K; ky++)
    for (int kx = 0; kx < K; kx++, t++) off[t] = (ky - K / 2) * W + (kx - K / 2);
  const __mmask16 *mk = NULL;
  *own = NULL;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < used && !mk; i++)
    if (cache[i].H == H && cache[i].W == W && cache[i].K == K) mk = cache[i].mk;
  if (!mk && used < MASK_CACHE) {
    cache[used] = (struct MaskEntry){H, W, K, tap_masks_new(H, W, K)};
    mk = cache[used++].mk;
  }
  pthread_mutex_unlock(&lock);
  return mk ? mk : (*own = tap_masks_new(H, W, K));
}

// Block k (32 output pixels from 32k) of one sample: every row of dst (M of them).
static void direct_block(int Cs, int M, long HW, int KK, const float *src, WView wv, const float *bias, float *dst,
                         int k, const int *off, const __mmask16 *mk, int acc) {
  const long p0 = (long)k * 32, left = HW - p0;
  const __mmask16 s0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
  const __mmask16 s1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
  const int np = (M + MAXR - 1) / MAXR;  // panels, as even as possible
  for (int i = 0, r0 = 0; i < np; i++) {
    const int R = (M - r0) / (np - i);
    dpanel[R](Cs, KK, src + p0, HW, off, mk + (long)k * KK * 2, wv.w + r0 * wv.rs, wv.rs, wv.ts, wv.cs,
              bias ? bias + r0 : NULL, dst + r0 * HW + p0, s0, s1, acc);
    r0 += R;
  }
}

// dst (B, M, H, W) = (or +=, with acc) the same-size convolution of src (B, Cs, H, W) with the
// weights wv, plus bias (M) when given.
static void direct_run(int B, int Cs, int M, int H, int W, int K, const float *src, WView wv, const float *bias,
                       float *dst, int acc, int nt) {
  const long HW = (long)H * W, xs = (long)Cs * HW, ys = (long)M * HW;
  const int nblk = (int)((HW + 31) / 32), KK = K * K;
  int off[MAXKK];
  __mmask16 *own;
  const __mmask16 *mk = tap_masks(H, W, K, off, &own);
  nt = cpu_threads_for(nt, (double)B * HW * Cs * M * KK);
  if (B >= nt || nt == 1) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int b = 0; b < B; b++)
      for (int k = 0; k < nblk; k++) direct_block(Cs, M, HW, KK, src + b * xs, wv, bias, dst + b * ys, k, off, mk, acc);
  } else {
    const long tasks = (long)B * nblk;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < tasks; i++) {
      const int b = (int)(i / nblk), k = (int)(i % nblk);
      direct_block(Cs, M, HW, KK, src + b * xs, wv, bias, dst + b * ys, k, off, mk, acc);
    }
  }
  free(own);
}

// Packing the weights as (rows, KK, channels) makes each row's broadcasts read consecutive
// floats; it costs one pass over the weights, 1/(B*H*W) of the convolution's work: worth it
// once a call has a few hundred output pixels (at batch 1 on an 8x8 image it would not be).
long conv_direct_pack_min = 512;  // pixels per call (B*H*W); tests and benchmarks may change it

int conv_direct_fwd(const ConvDesc *d, const float *x, const float *w, const float *bias, float *y, int nt) {
  if (!conv_direct_ok(d)) return 0;
  const int KK = d->K * d->K, Cin = d->Cin, Cout = d->Cout;
  WView wv = {w, (long)Cin * KK, 1, KK};  // w (Cout, Cin, KK) read where it lies
  if ((long)d->B * d->H * d->W >= conv_direct_pack_min && KK > 1) {
    float *wp = cpu_scratch(CPU_SCR_PACK, (size_t)Cout * KK * Cin);
    for (int co = 0; co < Cout; co++)
      for (int c = 0; c < Cin; c++)
        for (int t = 0; t < KK; t++) wp[((long)co * KK + t) * Cin + c] = w[((long)co * Cin + c) * KK + t];
    wv = (WView){wp, (long)KK * Cin, Cin, 1};
  }
  direct_run(d->B, Cin, Cout, d->H, d->W, d->K, x, wv, bias, y, 0, nt);
  return 1;
}

// dx[ci] += sum over co and taps t of w[co, ci, KK-1-t] * dy[co] at tap t's offset: the same
// kernel with the weights transposed and flipped (read in place, or packed as (Cin, KK, Cout)).
int conv_direct_bwd_data(const ConvDesc *d, const float *dy, const float *w, float *dx, int nt) {
  if (!conv_direct_ok(d)) return 0;
  const int KK = d->K * d->K, Cin = d->Cin, Cout = d->Cout;
  WView wv = {w + KK - 1, KK, -1, (long)Cin * KK};
  if ((long)d->B * d->H * d->W >= conv_direct_pack_min) {
    float *wp = cpu_scratch(CPU_SCR_PACK, (size_t)Cout * KK * Cin);
    for (int co = 0; co < Cout; co++)
      for (int c = 0; c < Cin; c++)
        for (int t = 0; t < KK; t++) wp[((long)c * KK + (KK - 1 - t)) * Cout + co] = w[((long)co * Cin + c) * KK + t];
    wv = (WView){wp, (long)KK * Cout, Cout, 1};
  }
  direct_run(d->B, Cout, Cin, d->H, d->W, d->K, dy, wv, NULL, dx, 1, nt);
  return 1;
}
#else
int conv_direct_ok(const ConvDesc *d) { return 0; }
int conv_direct_fwd(const ConvDesc *d, const float *x, const float *w, const float *bias, float *y, int nt) {
  return 0;
}
int conv_direct_bwd_data(const ConvDesc *d, const float *dy, const float *w, float *dx, int nt) { return 0; }
#endif
