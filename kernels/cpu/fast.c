// fast.c — the fast CPU kernels that need no BLAS: OpenMP across rows, SIMD along them.
//
// Every op matches ref.c within float rounding (tests/test_kernels_fast.c holds them to it).
// Work is split across cpu_threads(be) OpenMP threads only when there is enough of it
// (PAR_MIN floats); below that, a fork/join costs more than it saves.
#include "cpu.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#define PAR_MIN 32768

// The loops below run `#pragma omp parallel` over explicit chunks, each chunk an `omp simd`
// loop, rather than `omp parallel for simd ... if (n >= PAR_MIN)`: with the if false, GCC runs
// that construct's loop scalar (measured: silu 4.1 ns per float below PAR_MIN, 0.39 above), and
// a sampler at batch 1 runs every elementwise op below it.
// This thread's chunk [*i0, *i1) of n, in whole cache lines.
static inline void thread_chunk(size_t n, size_t *i0, size_t *i1) {
  const size_t T = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
  const size_t c = ((n + T - 1) / T + 15) & ~(size_t)15;
  *i0 = t * c < n ? t * c : n;
  *i1 = *i0 + c < n ? *i0 + c : n;
}
#define CHUNKED(n, body)                                                        \
  _Pragma("omp parallel num_threads(nt) if (n >= PAR_MIN)") {                 \
    size_t i0, i1;                                                            \
    thread_chunk(n, &i0, &i1);                                                \
    _Pragma("omp simd") for (size_t i = i0; i < i1; i++) body;                \
  }

// exp(x) for float, written so that `#pragma omp simd` loops vectorise it (the libm call
// does not without -fno-math-errno). Cephes' method: x = n ln2 + r with |r| <= ln2/2,
// exp(r) = 1 + r + r^2 p(r) with p of degree 5, and 2^n written into the exponent bits.
// Relative error about 1e-7 over [-87, 88]; inputs are clamped there, so the result is never
// inf or a denormal.
static inline float exp_fast(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds x/ln2 to an integer n,
  float t = x * 1.44269504089f + magic;  // which then sits in the low mantissa bits of t
  float n = t - magic;
  float r = x - n * 0.693359375f;   // ln2 split in two for an exact first product
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  unsigned bits;
  memcpy(&bits, &t, sizeof bits);
  bits = (bits - 0x4B400000u + 127u) << 23;  // n + 127, the biased exponent of 2^n
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

#ifdef __AVX512F__
#include <immintrin.h>
// exp_fast(-v) for 16 lanes, the same method written out: GCC's vectorisation of exp_fast runs
// its clamps as masked copies of the whole computation (three divisions per vector in silu),
// and -std=c11 leaves its products unfused. Measured 0.52 -> 0.29 ns per float in silu.
static inline __m512 expneg16(__m512 v) {
  const __m512 x = _mm512_max_ps(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), v), _mm512_set1_ps(88.3f)),
                                 _mm512_set1_ps(-87.3f));
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504089f), magic), n = _mm512_sub_ps(t, magic);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i e = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000)), _mm512_set1_epi32(127)),
      23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}
// The lanes of a 16-float vector that `left` values still fill (all 16 when left >= 16).
static inline __mmask16 tail16(long left) { return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1); }
static inline __m512 silu16(__m512 v) { return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), expneg16(v))); }
// y[i] = silu(x[i]) for i < n (and a[i] = x[i] * k + b first, when kb: GroupNorm's affine map).
static inline void silu_row(long n, const float *x, float *y, int kb, float k, float b, float *a) {
  for (long i = 0; i < n; i += 16) {
    const __mmask16 m = tail16(n - i);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    if (kb) {
      v = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(k)), _mm512_set1_ps(b));  // groupnorm_fwd's bits
      if (a) _mm512_mask_storeu_ps(a + i, m, v);
    }
    _mm512_mask_storeu_ps(y + i, m, silu16(v));
  }
}

// yr = exp(scale*xr - mx) / its sum over the row's n values, with expneg16 (GCC's vectorising of
// exp_fast costs about twice as much per float: see expneg16).
static inline void softmax_row(int n, float scale, float mx, const float *xr, float *yr) {
  const __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(mx);
  __m512 acc = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = tail16(n - j);
    const __m512 e = expneg16(_mm512_fnmadd_ps(vs, _mm512_maskz_loadu_ps(m, xr + j), vm));
    acc = _mm512_mask_add_ps(acc, m, acc, e);
    _mm512_mask_storeu_ps(yr + j, m, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = tail16(n - j);
    _mm512_mask_storeu_ps(yr + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, yr + j), inv));
  }
}
#endif

// ---- normalisation and activations ----

// Mean and 1/sqrt(var + eps) of one group's Cg channels of HW values (xg: its first value; the
// group's values are contiguous). Float sums over blocks of STAT_BLOCK values (SIMD), double
// across blocks; two passes, so no cancellation. Blocks rather than channels: at 8x8 a channel is
// 4 vectors, and a reduction per channel cost as much as the sums (GroupNorm + SiLU of 72
// channels at 8x8 spent 0.56 ns per value against 0.32 at 32x32).
#define STAT_BLOCK 1024
static inline void group_stats(const float *xg, int Cg, int HW, float *mu_out, float *rs_out) {
  const long n = (long)Cg * HW;
  double sum = 0;
  for (long i0 = 0; i0 < n; i0 += STAT_BLOCK) {
    const long i1 = i0 + STAT_BLOCK < n ? i0 + STAT_BLOCK : n;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (long i = i0; i < i1; i++) s += xg[i];
    sum += s;
  }
  const float mu = (float)(sum / n);
  double ss = 0;
  for (long i0 = 0; i0 < n; i0 += STAT_BLOCK) {
    const long i1 = i0 + STAT_BLOCK < n ? i0 + STAT_BLOCK : n;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (long i = i0; i < i1; i++) s += (xg[i] - mu) * (xg[i] - mu);
    ss += s;
  }
  *mu_out = mu;
  *rs_out = (float)(1.0 / sqrt(ss / n + 1e-5));
}

// One task per (sample, group); the group's channels are contiguous. Statistics: float sums
// along a channel (SIMD), double across channels; two passes, so no cancellation.
static void fast_groupnorm_fwd(Backend *be, int B, int C, int HW, int G, const float *x,
                               const float *gamma, const float *beta, float *y, float *mean,
                               float *rstd) {
  const int Cg = C / G, nt = cpu_threads(be);
#pragma omp parallel for num_threads(nt) schedule(static) if ((long)B * C * HW >= PAR_MIN)
  for (int bg = 0; bg < B * G; bg++) {
    const long off = (long)bg * Cg * HW;  // (b*C + g*Cg) * HW
    float mu, rs;
    group_stats(x + off, Cg, HW, &mu, &rs);
    const int g = bg % G;
    for (int c = 0; c < Cg; c++) {
      const int ch = g * Cg + c;
      const float a = rs * gamma[ch], b = beta[ch] - mu * a;  // y = x*a + b
      const float *xc = x + off + (long)c * HW;
      float *yc = y + off + (long)c * HW;
#pragma omp simd
      for (int p = 0; p < HW; p++) yc[p] = xc[p] * a + b;
    }
    mean[bg] = mu;
    rstd[bg] = rs;
  }
}

// groupnorm_fwd, then y = silu(a) on the values just computed (a kept only when given): one
// pass over x and y less than the two ops, and one parallel region instead of two.
static void fast_groupnorm_silu_fwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *gamma,
                                    const float *beta, float *a, float *y, float *mean, float *rstd) {
  const int Cg = C / G, nt = cpu_threads(be);
#pragma omp parallel for num_threads(nt) schedule(static) if ((long)B * C * HW >= PAR_MIN)
  for (int bg = 0; bg < B * G; bg++) {
    const long off = (long)bg * Cg * HW;
    float mu, rs;
    group_stats(x + off, Cg, HW, &mu, &rs);
    const int g = bg % G;
    for (int c = 0; c < Cg; c++) {
      const int ch = g * Cg + c;
      const float k = rs * gamma[ch], b = beta[ch] - mu * k;
      const float *xc = x + off + (long)c * HW;
      float *yc = y + off + (long)c * HW;
#ifdef __AVX512F__
      silu_row(HW, xc, yc, 1, k, b, a ? a + off + (long)c * HW : NULL);
      continue;
#endif
      if (a) {
        float *ac = a + off + (long)c * HW;
#pragma omp simd
        for (int p = 0; p < HW; p++) {
          const float v = xc[p] * k + b;
          ac[p] = v;
          yc[p] = v / (1.0f + exp_fast(-v));
        }
      } else {
#pragma omp simd
        for (int p = 0; p < HW; p++) {
          const float v = xc[p] * k + b;
          yc[p] = v / (1.0f + exp_fast(-v));
        }
      }
    }
    mean[bg] = mu;
    rstd[bg] = rs;
  }
}

// Per (sample, channel) sums sdy = sum dy and sdx = sum dy*(x - mean) give everything:
// dbeta[c] += sum_b sdy, dgamma[c] += sum_b rstd*sdx, and per (sample, group)
//   dx += dy * rstd*gamma[c] - xhat * rstd*mean(g*xhat) - rstd*mean(g),   g = dy*gamma.
// The per-channel sums go through a (B,C) scratch so that dgamma/dbeta need no atomics.
//
// With beta given, this is groupnorm_silu_bwd: the dy above is dy * silu'(a) of the op's
// incoming dy, where a = x*ka + ba is the GroupNorm output made again as the forward made it.
// That product is made once per (sample, group) into the thread's scratch (a group is ~10-40
// KB, L1/L2) while the group's sums are taken, and read back for dx. The two ops in turn cost
// a pass writing da, one reading it, and da's zeroing. Default model, batch 64, 2 threads,
// profiled step (two runs whose forward convolutions took the same time): silu_bwd +
// groupnorm_bwd + fill 10.9 + 7.1 + 10.7 ms, fused 16.5 + fill 6.6 ms; on its own, cold
// caches, 1.25-1.4x the two ops.
static inline float silu_grad(float a, float dy) {
  const float s = 1.0f / (1.0f + exp_fast(-a));
  return dy * s * (1.0f + a * (1.0f - s));
}

// One channel of the SiLU case: gc = dyc * silu'(xc*ka + ba), *s1 = sum gc, *s2 = sum gc*(xc - mu).
static void silu_grad_sums(int HW, const float *xc, const float *dyc, float ka, float ba, float mu, float *gc,
                           float *s1_out, float *s2_out) {
  float s1 = 0, s2 = 0;
#ifdef __AVX512F__
  __m512 v1 = _mm512_setzero_ps(), v2 = _mm512_setzero_ps();
  for (int p = 0; p < HW; p += 16) {
    const __mmask16 m = tail16(HW - p);
    const __m512 xv = _mm512_maskz_loadu_ps(m, xc + p), one = _mm512_set1_ps(1.0f);
    const __m512 av = _mm512_add_ps(_mm512_mul_ps(xv, _mm512_set1_ps(ka)), _mm512_set1_ps(ba));
    const __m512 sg = _mm512_div_ps(one, _mm512_add_ps(one, expneg16(av)));
    const __m512 d = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dyc + p),
                                   _mm512_mul_ps(sg, _mm512_fmadd_ps(av, _mm512_sub_ps(one, sg), one)));
    _mm512_mask_storeu_ps(gc + p, m, d);
    v1 = _mm512_add_ps(v1, d);
    v2 = _mm512_fmadd_ps(d, _mm512_sub_ps(xv, _mm512_set1_ps(mu)), v2);
  }
  s1 = _mm512_reduce_add_ps(v1);
  s2 = _mm512_reduce_add_ps(v2);
#else
#pragma omp simd reduction(+ : s1, s2)
  for (int p = 0; p < HW; p++) {
    const float d = silu_grad(xc[p] * ka + ba, dyc[p]);
    gc[p] = d;
    s1 += d;
    s2 += d * (xc[p] - mu);
  }
#endif
  *s1_out = s1;
  *s2_out = s2;
}

static void groupnorm_bwd_run(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy,
                              const float *gamma, const float *beta, const float *mean, const float *rstd,
                              float *dx, float *dgamma, float *dbeta) {
  const int Cg = C / G, nt = cpu_threads(be);
  const double n = (double)Cg * HW;
  float *sdy = xmalloc(sizeof(float) * 2 * B * C), *sdx = sdy + (long)B * C;
#pragma omp parallel num_threads(nt) if ((long)B * C * HW >= PAR_MIN)
  {
    float *gs = beta ? cpu_scratch(CPU_SCR_GN, (size_t)Cg * HW) : NULL;
#pragma omp for schedule(static)
    for (int bg = 0; bg < B * G; bg++) {
      const long off = (long)bg * Cg * HW;
      const int b = bg / G, g = bg % G;
      const float mu = mean[bg], rs = rstd[bg];
      const float *gg = beta ? gs : dy + off;  // the group's g, channels HW apart
      double sum_g = 0, sum_gx = 0;            // sum of g and of g*xhat over the group
      for (int c = 0; c < Cg; c++) {
        const int ch = g * Cg + c;
        const float *xc = x + off + (long)c * HW, *dyc = dy + off + (long)c * HW;
        float s1 = 0, s2 = 0;
        if (beta) {
          const float ka = rs * gamma[ch];  // a = x*ka + ba, as the forward made it
          silu_grad_sums(HW, xc, dyc, ka, beta[ch] - mu * ka, mu, gs + (long)c * HW, &s1, &s2);
        } else {
#pragma omp simd reduction(+ : s1, s2)
          for (int p = 0; p < HW; p++) {
            s1 += dyc[p];
            s2 += dyc[p] * (xc[p] - mu);
          }
        }
        sdy[(long)b * C + ch] = s1;
        sdx[(long)b * C + ch] = s2;
        sum_g += (double)gamma[ch] * s1;
        sum_gx += (double)gamma[ch] * s2 * rs;
      }
      const float mg = (float)(sum_g / n), mgx = (float)(sum_gx / n);
      for (int c = 0; c < Cg; c++) {
        const int ch = g * Cg + c;
        const float a = rs * gamma[ch], k = rs * rs * mgx, b0 = mu * k - rs * mg;
        const float *xc = x + off + (long)c * HW, *gc = gg + (long)c * HW;
        float *dxc = dx + off + (long)c * HW;
#pragma omp simd
        for (int p = 0; p < HW; p++) dxc[p] += gc[p] * a - xc[p] * k + b0;
      }
    }
#pragma omp for schedule(static)
    for (int c = 0; c < C; c++) {
      double dg = 0, db = 0;
      for (int b = 0; b < B; b++) {
        dg += (double)sdx[(long)b * C + c] * rstd[b * G + c / Cg];
        db += sdy[(long)b * C + c];
      }
      dgamma[c] += (float)dg;
      dbeta[c] += (float)db;
    }
  }
  free(sdy);
}

static void fast_groupnorm_bwd(Backend *be, int B, int C, int HW, int G, const float *x,
                               const float *dy, const float *gamma, const float *mean,
                               const float *rstd, float *dx, float *dgamma, float *dbeta) {
  groupnorm_bwd_run(be, B, C, HW, G, x, dy, gamma, NULL, mean, rstd, dx, dgamma, dbeta);
}

static void fast_groupnorm_silu_bwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy,
                                    const float *gamma, const float *beta, const float *mean, const float *rstd,
                                    float *dx, float *dgamma, float *dbeta) {
  groupnorm_bwd_run(be, B, C, HW, G, x, dy, gamma, beta, mean, rstd, dx, dgamma, dbeta);
}

static void fast_silu_fwd(Backend *be, size_t n, const float *x, float *y) {
  const int nt = cpu_threads(be);
#ifdef __AVX512F__
#pragma omp parallel num_threads(nt) if (n >= PAR_MIN)
  {
    size_t i0, i1;
    thread_chunk(n, &i0, &i1);
    silu_row((long)(i1 - i0), x + i0, y + i0, 0, 0, 0, NULL);
  }
#else
  CHUNKED(n, y[i] = x[i] / (1.0f + exp_fast(-x[i])))
#endif
}

static void fast_silu_bwd(Backend *be, size_t n, const float *x, const float *dy, float *dx) {
  const int nt = cpu_threads(be);
  CHUNKED(n, dx[i] += silu_grad(x[i], dy[i]))
}

static void fast_softmax_fwd(Backend *be, int rows, int n, float scale, const float *x, float *y) {
  const int nt = cpu_threads(be);
#pragma omp parallel for num_threads(nt) schedule(static) if ((long)rows * n >= PAR_MIN)
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * n;
    float *yr = y + (long)r * n;
    float mx = -INFINITY, sum = 0;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++) mx = scale * xr[j] > mx ? scale * xr[j] : mx;
#ifdef __AVX512F__
    softmax_row(n, scale, mx, xr, yr);
    continue;
#endif
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
      yr[j] = exp_fast(scale * xr[j] - mx);
      sum += yr[j];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < n; j++) yr[j] *= inv;
  }
}

static void fast_softmax_bwd(Backend *be, int rows, int n, float scale, const float *y,
                             const float *dy, float *dx) {
  const int nt = cpu_threads(be);
#pragma omp parallel for num_threads(nt) schedule(static) if ((long)rows * n >= PAR_MIN)
  for (int r = 0; r < rows; r++) {
    const float *yr = y + (long)r * n, *dyr = dy + (long)r * n;
    float *dxr = dx + (long)r * n;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int j = 0; j < n; j++) dot += dyr[j] * yr[j];
#pragma omp simd
    for (int j = 0; j < n; j++) dxr[j] += scale * yr[j] * (dyr[j] - dot);
  }
}

// ---- elementwise and layout ----

#define ELEMENTWISE(name, params, body)                                               \
  static void name params {                                                           \
    const int nt = cpu_threads(be);                                                   \
    CHUNKED(n, body)                                                                  \
  }
ELEMENTWISE(fast_add, (Backend *be, size_t n, const float *a, const float *b, float *y), y[i] = a[i] + b[i])
ELEMENTWISE(fast_axpy, (Backend *be, size_t n, float alpha, const float *x, float *y), y[i] += alpha * x[i])
ELEMENTWISE(fast_scale, (Backend *be, size_t n, float alpha, float *x), x[i] *= alpha)
ELEMENTWISE(fast_mul, (Backend *be, size_t n, const float *a, const float *b, float *y), y[i] = a[i] * b[i])
ELEMENTWISE(fast_mul_acc, (Backend *be, size_t n, const float *a, const float *b, float *y), y[i] += a[i] * b[i])
// The arena's zeroed gradients (arena_zeros): ~120 calls per training step, 4 % of it on one thread.
ELEMENTWISE(fast_fill, (Backend *be, float *x, float v, size_t n), x[i] = v)
ELEMENTWISE(fast_ema, (Backend *be, size_t n, float *e, const float *p, float decay),
            e[i] = decay * e[i] + (1.0f - decay) * p[i])
#undef ELEMENTWISE

static void fast_bcast_add(Backend *be, int B, int C, int HW, const float *v, int vstride, float *y) {
  const int nt = cpu_threads(be);
#pragma omp parallel for num_threads(nt) schedule(static) if ((long)B * C * HW >= PAR_MIN)
  for (int bc = 0; bc < B * C; bc++) {
    const float a = v[(bc / C) * vstride + bc % C];
    float *yr = y + (long)bc * HW;
#pragma omp simd
    for (int p = 0; p < HW; p++) yr[p] += a;
  }
}

// Parallel over channels, samples inside: with vstride = 0 all samples of channel c land in
// dv[c], which then belongs to one thread.
static void fast_bcast_add_bwd(Backend *be, int B, int C, int HW, const float *dy, int vstride,
                               float *dv) {
  const int nt = cpu_threads(be);
#pragma omp parallel for num_threads(nt) schedule(static) if ((long)B * C * HW >= PAR_MIN)
  for (int c = 0; c < C; c++)
    for (int b = 0; b < B; b++) {
      const float *dyr = dy + ((long)b * C + c) * HW;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int p = 0; p < HW; p++) s += dyr[p];
      dv[b * vstride + c] += s;
    }
}

static void fast_chan_copy(Backend *be, int B, int nc, int HW, const float *src, int src_C,
                           int src_off, float *dst, int dst_C, int dst_off, float beta) {
  const int nt = cpu_threads(be);
#pragma omp parallel for num_threads(nt) schedule(static) if ((long)B * nc * HW >= PAR_MIN)
  for (int bc = 0; bc < B * nc; bc++) {
    const int b = bc / nc, c = bc % nc;
    const float *s = src + ((long)b * src_C + src_off + c) * HW;
    float *t = dst + ((long)b * dst_C + dst_off + c) * HW;
    if (beta == 0.0f) {
      memcpy(t, s, sizeof(float) * HW);
    } else {
#pragma omp simd
      for (int p = 0; p < HW; p++) t[p] = beta * t[p] + s[p];
    }
  }
}

// One task per input row: it writes two output rows, each pixel twice.
static void fast_upsample2x_fwd(Backend *be, int B, int C, int H, int W, const float *x, float *y) {
  const int nt = cpu_threads(be);
  const long rows = (long)B * C * H;
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * W >= PAR_MIN)
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * W;
    float *y0 = y + r * 4 * W, *y1 = y0 + 2 * W;  // output rows 2*(r%H) and +1 of plane r/H
    for (int i = 0; i < W; i++) y0[2 * i] = y0[2 * i + 1] = xr[i];
    memcpy(y1, y0, sizeof(float) * 2 * W);
  }
}

static void fast_upsample2x_bwd(Backend *be, int B, int C, int H, int W, const float *dy, float *dx) {
  const int nt = cpu_threads(be);
  const long rows = (long)B * C * H;
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * W >= PAR_MIN)
  for (long r = 0; r < rows; r++) {
    const float *d0 = dy + r * 4 * W, *d1 = d0 + 2 * W;
    float *dxr = dx + r * W;
    for (int i = 0; i < W; i++) dxr[i] += (d0[2 * i] + d0[2 * i + 1]) + (d1[2 * i] + d1[2 * i + 1]);
  }
}

// ---- loss and optimiser ----

static void fast_mse_loss(Backend *be, int B, int D, const float *pred, const float *target,
                          const float *w, float *loss, float *dpred) {
  const int nt = cpu_threads(be);
#pragma omp parallel for num_threads(nt) schedule(static) if ((long)B * D >= PAR_MIN)
  for (int b = 0; b < B; b++) {
    const float *p = pred + (long)b * D, *t = target + (long)b * D;
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < D; i++) ss += (p[i] - t[i]) * (p[i] - t[i]);
    loss[b] = ss / D;
    if (dpred) {
      const float k = (float)(2.0 * (w ? w[b] : 1.0f) / ((double)B * D));
      float *dp = dpred + (long)b * D;
#pragma omp simd
      for (int i = 0; i < D; i++) dp[i] += k * (p[i] - t[i]);
    }
  }
}

static void fast_adamw(Backend *be, size_t n, float *p, const float *g, float *m, float *v, float lr,
                       float beta1, float beta2, float eps, float wd, int step) {
  const int nt = cpu_threads(be);
  const float inv_bc1 = (float)(1.0 / (1.0 - pow(beta1, step)));
  const float inv_bc2 = (float)(1.0 / (1.0 - pow(beta2, step)));
  CHUNKED(n, {
    const float mi = beta1 * m[i] + (1.0f - beta1) * g[i];
    const float vi = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (wd * p[i] + mi * inv_bc1 / (sqrtf(vi * inv_bc2) + eps));
  })
}

static double fast_sumsq(Backend *be, size_t n, const float *x) {
  const int nt = cpu_threads(be);
  double acc = 0;
#pragma omp parallel for simd num_threads(nt) schedule(static) reduction(+ : acc) if (n >= PAR_MIN)
  for (size_t i = 0; i < n; i++) acc += (double)x[i] * x[i];
  return acc;
}

void cpu_fast_ops(Backend *be) {
  be->groupnorm_fwd = fast_groupnorm_fwd;
  be->groupnorm_bwd = fast_groupnorm_bwd;
  be->silu_fwd = fast_silu_fwd;
  be->groupnorm_silu_fwd = fast_groupnorm_silu_fwd;
  be->groupnorm_silu_bwd = fast_groupnorm_silu_bwd;
  be->silu_bwd = fast_silu_bwd;
  be->softmax_fwd = fast_softmax_fwd;
  be->softmax_bwd = fast_softmax_bwd;
  be->fill = fast_fill;
  be->add = fast_add;
  be->axpy = fast_axpy;
  be->scale = fast_scale;
  be->mul = fast_mul;
  be->mul_acc = fast_mul_acc;
  be->bcast_add = fast_bcast_add;
  be->bcast_add_bwd = fast_bcast_add_bwd;
  be->chan_copy = fast_chan_copy;
  be->upsample2x_fwd = fast_upsample2x_fwd;
  be->upsample2x_bwd = fast_upsample2x_bwd;
  be->mse_loss = fast_mse_loss;
  be->adamw = fast_adamw;
  be->ema = fast_ema;
  be->sumsq = fast_sumsq;
}
