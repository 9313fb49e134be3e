// conv_dw_taps.c — the weight gradient of a same-size 3x3 convolution, all taps of an input
// channel at once, four pixels by four output channels in each vector (AVX-512).
//
// As bwd_filter_block_padded (fast_blas.c) for other same-size convolutions, this works on a
// block of output rows: xp holds the block's input rows zero-padded to Wp = W + 2 columns, so
// that output pixel (r, ox) reads tap (ky, kx) of input channel ci at
// xp[ci*S + (r + ky)*Wp + ox + kx]. Then
//     dw[co][ci][t] += sum over the block's pixels q of xp[ci*S + off_t + q] * dy[co][q].
// Lanes. Output channels along the lanes (one channel per lane) fill 24 of 32 lanes at 24
// channels, 72 of 80 at 72, 19 of 32 at a pruned 19. Here a lane holds a (channel, pixel) pair:
// lane 4c + p of a vector is output channel c of a group of four, at pixel p of four
// consecutive pixels of a row. The block's dy is laid out to match, dyQ (rows, W/4 quads,
// Cout, 4): each quad of a channel is four consecutive floats of its dy row, copied as one. xp's
// four pixels are one 16-byte load broadcast to the four groups of lanes. So the lanes are full
// whenever Cout is a multiple of 4, and a pruned width wastes at most 3 channels' lanes.
// Register block: one channel's nine taps by up to three vectors (12 output channels), 27
// accumulators; per quad of pixels three loads of dyQ, nine broadcasts of xp, 27 FMAs. Each
// weight's four partial sums (one per pixel of a quad) are added once per call, when the caller
// folds dwQ into dw. Blocks are ~256 output pixels: 8 rows of a 32x32 image, or several whole
// small images (conv_dw_quads_imgs).
// Measured (`stepscope bench train --threads 2 --no-torch --profile`, default model, batch 64,
// three runs each, old and new taking turns): backward-filter 1.29-1.39x the forward's time
// with one output channel per lane, 1.15-1.20x with quads; 24->24 @32x32 and the 1-channel
// output convolution gain the most.
#include "cpu.h"
#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>

enum { TAPS = 9 };  // 3x3: a constant, so that the accumulators live in registers

// dwQ rows ci*9 + t, floats [j, j + 16V) (the last vector masked by mlast): += the block's
// products, dyQ pointing at float j of the first quad.
#define DW_TAPS(V)                                                                                               \
  static void dw_taps##V(const int *off, const float *x, int nimg, long xi, int rows, int W, int Wp,             \
                         const float *dyQ, int Cq, float *dw, __mmask16 mlast) {                                 \
    __m512 acc[TAPS][V];                                                                                         \
    _Pragma("GCC unroll 9") for (int t = 0; t < TAPS; t++)                                                       \
      _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) acc[t][v] = _mm512_setzero_ps();                       \
    for (int i = 0; i < nimg; i++)                                                                               \
      for (int r = 0; r < rows; r++)                                                                             \
        for (int ox = 0; ox < W; ox += 4, dyQ += Cq) {                                                           \
          const float *xq = x + i * xi + (long)r * Wp + ox;                                                      \
          __m512 b[V];                                                                                           \
          _Pragma("GCC unroll 3") for (int v = 0; v < V; v++)                                                    \
            b[v] = _mm512_maskz_loadu_ps(v == V - 1 ? mlast : 0xffff, dyQ + 16 * v);                             \
          _Pragma("GCC unroll 9") for (int t = 0; t < TAPS; t++) {                                               \
            const __m512 a = _mm512_broadcast_f32x4(_mm_loadu_ps(xq + off[t]));                                  \
            _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) acc[t][v] = _mm512_fmadd_ps(a, b[v], acc[t][v]); \
          }                                                                                                      \
        }                                                                                                        \
    _Pragma("GCC unroll 9") for (int t = 0; t < TAPS; t++)                                                       \
      _Pragma("GCC unroll 3") for (int v = 0; v < V; v++) {                                                      \
        const __mmask16 m = v == V - 1 ? mlast : 0xffff;                                                         \
        float *o = dw + (long)t * Cq + 16 * v;                                                                   \
        _mm512_mask_storeu_ps(o, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, o), acc[t][v]));                      \
      }                                                                                                          \
  }
DW_TAPS(1)
DW_TAPS(2)
DW_TAPS(3)

int conv_dw_quads_ok(const ConvDesc *d) { return conv_direct_ok(d) && d->K == 3 && d->W % 4 == 0; }

// A block: rows [oy0, oy1) of one image, or whole images when they are small (~256 pixels in
// all: 4 images at 8x8, 16 at 4x4), so that each register block runs long enough to pay for
// adding its 27 vectors into dwQ (at 8x8 one image alone gave it 16 quads).
int conv_dw_quads_imgs(const ConvDesc *d) {
  const long n = 256 / ((long)d->H * d->W);
  return n < 1 ? 1 : n > d->B ? d->B : (int)n;
}
static int quads_rows(const ConvDesc *d) {  // output rows per block of one image
  const int r = 256 / d->W;
  return r < 1 ? 1 : r > d->H ? d->H : r;
}
size_t conv_dw_quads_xp_size(const ConvDesc *d) {
  return (size_t)d->Cin * conv_dw_quads_imgs(d) * (quads_rows(d) + 2) * (d->W + 2);
}
size_t conv_dw_quads_dyq_size(const ConvDesc *d) {
  return (size_t)conv_dw_quads_imgs(d) * quads_rows(d) * d->W * d->Cout;
}

// One block's products over its nine taps; xp, dyQ: the layouts above, made here.
static void quads_block(const ConvDesc *d, const float *x, const float *dy, int nimg, int oy0, int oy1, float *xp,
                        float *dyQ, float *dwQ) {
  const int Cin = d->Cin, Cout = d->Cout, H = d->H, W = d->W, Wp = W + 2, rows = oy1 - oy0, R = rows + 2;
  const long P = (long)H * W, xi = (long)R * Wp, S = nimg * xi, Cq = 4L * Cout;
  for (int ci = 0; ci < Cin; ci++)  // xp: channel ci's padded rows [oy0 - 1, oy1 + 1) of each image
    for (int i = 0; i < nimg; i++)
      cpu_pad_rows(x + ((long)i * Cin + ci) * P, H, W, 1, oy0 - 1, R, xp + ci * S + i * xi);
  float *q = dyQ;  // dyQ: (nimg, rows, W/4, Cout, 4)
  for (int i = 0; i < nimg; i++)
    for (int oy = oy0; oy < oy1; oy++)
      for (int ox = 0; ox < W; ox += 4, q += Cq)
        for (int co = 0; co < Cout; co++) memcpy(q + 4 * co, dy + ((long)i * Cout + co) * P + (long)oy * W + ox, 16);
  int off[TAPS];
  for (int ky = 0, t = 0; ky < 3; ky++)
    for (int kx = 0; kx < 3; kx++, t++) off[t] = ky * Wp + kx;
  const int nvec = (int)((Cq + 15) / 16), passes = (nvec + 2) / 3;
  for (int ci = 0; ci < Cin; ci++) {
    float *dw = dwQ + ci * TAPS * Cq;
    const float *xc = xp + ci * S;
    // Vectors in passes of up to three, as even as possible (5 -> 3 + 2).
    for (int p = 0, v0 = 0; p < passes; p++) {
      const int V = (nvec - v0) / (passes - p), j = 16 * v0, left = (int)Cq - j - 16 * (V - 1);
      const __mmask16 mlast = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
      if (V == 3) dw_taps3(off, xc, nimg, xi, rows, W, Wp, dyQ + j, Cq, dw + j, mlast);
      else if (V == 2) dw_taps2(off, xc, nimg, xi, rows, W, Wp, dyQ + j, Cq, dw + j, mlast);
      else dw_taps1(off, xc, nimg, xi, rows, W, Wp, dyQ + j, Cq, dw + j, mlast);
      v0 += V;
    }
  }
}

void conv_dw_quads(const ConvDesc *d, const float *x, const float *dy, int nimg, float *xp, float *dyQ, float *dwQ) {
  const int rows = nimg > 1 ? d->H : quads_rows(d);
  for (int oy = 0; oy < d->H; oy += rows)
    quads_block(d, x, dy, nimg, oy, oy + rows < d->H ? oy + rows : d->H, xp, dyQ, dwQ);
}
#else
int conv_dw_quads_ok(const ConvDesc *d) { return 0; }
int conv_dw_quads_imgs(const ConvDesc *d) { return 1; }
size_t conv_dw_quads_xp_size(const ConvDesc *d) { return 0; }
size_t conv_dw_quads_dyq_size(const ConvDesc *d) { return 0; }
void conv_dw_quads(const ConvDesc *d, const float *x, const float *dy, int nimg, float *xp, float *dyQ, float *dwQ) {}
#endif
