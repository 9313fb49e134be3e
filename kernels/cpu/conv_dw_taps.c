// conv_dw_taps.c — the weight gradient of a same-size convolution, all taps of an input
// channel at once (AVX-512).
//
// Backward-filter of a same-size convolution (fast_blas.c, bwd_filter_block_padded) works on a
// block of output rows: xp holds the block's input rows zero-padded to Wp = W + 2 pad columns,
// dyT the block's dy transposed to (pixel, Cout), and output pixel q = r*Wp + ox reads tap
// (ky, kx) of input channel ci at xp[ci*S + ky*Wp + kx + q]. So
//     dwT[ci*KK + t][co] += sum over q of xp[ci*S + off_t + q] * dyT[q][co].
// One product per tap (gemm_panel over Cin rows, Cout columns) streams dyT from L2 once per
// tap and per six channels, and walks the padding columns, where dyT is zero: 25 % of the
// pixels at 8x8. Here one channel's KK taps are the rows of one register block: each pixel's
// dyT row is loaded once (V vectors of Cout) and met by KK broadcasts of xp, all within three
// neighbouring rows (L1); the padding columns are skipped. KK*V accumulators: 3x3 taps with
// up to 3 vectors (48 output channels) per pass, 27 of the 32 registers.
// The default model's training step at batch 64 on 2 threads, profiled in one run each
// (`stepscope bench train --no-torch --profile`, the machine loaded): backward-filter from 1.82x
// the forward's time to 1.34x (131 -> 109 ms per step); README "Pruned models as fast as their MACs".
#include "cpu.h"

#ifdef __AVX512F__
#include <immintrin.h>

enum { TAPS = 9 };  // 3x3: a constant, so that the accumulators live in registers

// Columns [j, j + 16V) of dwT's KK rows of channel ci (the last vector masked by mlast).
#define DW_TAPS(V)                                                                                      \
  static void dw_taps##V(const int *off, const float *x, int rows, int W, int Wp, const float *dyT, \
                         int Cout, float *dw, __mmask16 mlast) {                                         \
    __m512 acc[TAPS][V];                                                                             \
    _Pragma("GCC unroll 9") for (int t = 0; t < TAPS; t++)                                              \
      _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) acc[t][v] = _mm512_setzero_ps();               \
    for (int r = 0; r < rows; r++)                                                                      \
      for (int ox = 0; ox < W; ox++) {                                                                  \
        const long q = (long)r * Wp + ox;                                                               \
        const float *d = dyT + q * Cout, *xq = x + q;                                                   \
        __m512 b[V];                                                                                    \
        _Pragma("GCC unroll 3") for (int v = 0; v < V; v++)                                             \
          b[v] = _mm512_maskz_loadu_ps(v == V - 1 ? mlast : 0xffff, d + 16 * v);                        \
        _Pragma("GCC unroll 9") for (int t = 0; t < TAPS; t++) {                                        \
          const __m512 a = _mm512_set1_ps(xq[off[t]]);                                                  \
          _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) acc[t][v] = _mm512_fmadd_ps(a, b[v], acc[t][v]); \
        }                                                                                               \
      }                                                                                                 \
    _Pragma("GCC unroll 9") for (int t = 0; t < TAPS; t++)                                              \
      _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) {                                             \
        const __mmask16 m = v == V - 1 ? mlast : 0xffff;                                                \
        float *o = dw + (long)t * Cout + 16 * v;                                                        \
        _mm512_mask_storeu_ps(o, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, o), acc[t][v]));             \
      }                                                                                                 \
  }
DW_TAPS(1)
DW_TAPS(2)
DW_TAPS(3)

int conv_dw_taps(int Cin, int Cout, int K, int rows, int W, const float *xp, long S, const float *dyT, float *dwT) {
  const int KK = K * K, Wp = W + K - 1;
  if (KK != TAPS) return 0;
  int off[TAPS];
  for (int ky = 0, t = 0; ky < K; ky++)
    for (int kx = 0; kx < K; kx++, t++) off[t] = ky * Wp + kx;
  const int nvec = (Cout + 15) / 16, passes = (nvec + 2) / 3;
  for (int ci = 0; ci < Cin; ci++) {
    float *dw = dwT + (long)ci * KK * Cout;
    // Output channels in passes of up to three vectors, as even as possible (5 -> 3 + 2).
    for (int p = 0, v0 = 0; p < passes; p++) {
      const int V = (nvec - v0) / (passes - p), j = 16 * v0, left = Cout - j - 16 * (V - 1);
      const __mmask16 mlast = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
      const float *x = xp + ci * S;
      if (V == 3) dw_taps3(off, x, rows, W, Wp, dyT + j, Cout, dw + j, mlast);
      else if (V == 2) dw_taps2(off, x, rows, W, Wp, dyT + j, Cout, dw + j, mlast);
      else dw_taps1(off, x, rows, W, Wp, dyT + j, Cout, dw + j, mlast);
      v0 += V;
    }
  }
  return 1;
}
#else
int conv_dw_taps(int Cin, int Cout, int K, int rows, int W, const float *xp, long S, const float *dyT, float *dwT) {
  return 0;
}
#endif
