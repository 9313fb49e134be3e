// ref.c — the reference CPU kernels: plain loops, single-threaded, the source of truth.
//
// Every op here is written to be read, not to be fast: one loop nest per formula, sums
// accumulated in double. The fast kernels (fast.c, fast_blas.c) and the CUDA backend are
// tested against these. Conventions are those of backend.h: forward ops overwrite, backward
// ops accumulate (+=) into their gradients.
#include "cpu.h"
#include <math.h>

// ---- dense algebra ----

// C_b = alpha * op(A_b) op(B_b) + beta * C_b. With beta = 0, C is not read (as in BLAS).
static void ref_gemm(Backend *be, int batch, int transA, int transB, int M, int N, int K,
                     float alpha, const float *A, long strideA, const float *B, long strideB,
                     float beta, float *C, long strideC) {
  for (int bi = 0; bi < batch; bi++) {
    const float *a = A + bi * strideA, *b = B + bi * strideB;
    float *c = C + bi * strideC;
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        double acc = 0;
        for (int k = 0; k < K; k++) {
          double aik = transA ? a[(long)k * M + i] : a[(long)i * K + k];
          double bkj = transB ? b[(long)j * K + k] : b[(long)k * N + j];
          acc += aik * bkj;
        }
        float *cij = &c[(long)i * N + j];
        *cij = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *cij));
      }
  }
}

// ---- convolution ----
// x is (B,Cin,H,W), w is (Cout,Cin,K,K), y is (B,Cout,Ho,Wo). Output pixel (oy,ox) sees input
// pixel (iy,ix) = (oy*stride - pad + ky, ox*stride - pad + kx); outside the image is zero.

static inline long idx4(int d1, int d2, int d3, int i0, int i1, int i2, int i3) {
  return (((long)i0 * d1 + i1) * d2 + i2) * d3 + i3;
}

static void ref_conv2d_fwd(Backend *be, const ConvDesc *d, const float *x, const float *w,
                           const float *bias, float *y) {
  for (int b = 0; b < d->B; b++)
    for (int co = 0; co < d->Cout; co++)
      for (int oy = 0; oy < d->Ho; oy++)
        for (int ox = 0; ox < d->Wo; ox++) {
          double acc = bias ? bias[co] : 0.0;
          for (int ci = 0; ci < d->Cin; ci++)
            for (int ky = 0; ky < d->K; ky++)
              for (int kx = 0; kx < d->K; kx++) {
                int iy = oy * d->stride - d->pad + ky, ix = ox * d->stride - d->pad + kx;
                if (iy < 0 || iy >= d->H || ix < 0 || ix >= d->W) continue;
                acc += (double)x[idx4(d->Cin, d->H, d->W, b, ci, iy, ix)] *
                       w[idx4(d->Cin, d->K, d->K, co, ci, ky, kx)];
              }
          y[idx4(d->Cout, d->Ho, d->Wo, b, co, oy, ox)] = (float)acc;
        }
}

// dx[b,ci,iy,ix] += sum of dy[b,co,oy,ox] * w[co,ci,ky,kx] over the (co,ky,kx) whose output
// pixel oy = (iy + pad - ky) / stride (and likewise ox) exists and divides exactly.
static void ref_conv2d_bwd_data(Backend *be, const ConvDesc *d, const float *dy, const float *w,
                                float *dx) {
  const int s = d->stride;
  for (int b = 0; b < d->B; b++)
    for (int ci = 0; ci < d->Cin; ci++)
      for (int iy = 0; iy < d->H; iy++)
        for (int ix = 0; ix < d->W; ix++) {
          double acc = 0;
          for (int co = 0; co < d->Cout; co++)
            for (int ky = 0; ky < d->K; ky++)
              for (int kx = 0; kx < d->K; kx++) {
                int ny = iy + d->pad - ky, nx = ix + d->pad - kx;
                if (ny < 0 || nx < 0 || ny % s || nx % s) continue;
                int oy = ny / s, ox = nx / s;
                if (oy >= d->Ho || ox >= d->Wo) continue;
                acc += (double)dy[idx4(d->Cout, d->Ho, d->Wo, b, co, oy, ox)] *
                       w[idx4(d->Cin, d->K, d->K, co, ci, ky, kx)];
              }
          dx[idx4(d->Cin, d->H, d->W, b, ci, iy, ix)] += (float)acc;
        }
}

// dw[co,ci,ky,kx] += sum over (b,oy,ox) of dy[b,co,oy,ox] * x[b,ci,iy,ix]; db[co] += sum of dy.
static void ref_conv2d_bwd_filter(Backend *be, const ConvDesc *d, const float *x, const float *dy,
                                  float *dw, float *db) {
  for (int co = 0; co < d->Cout; co++) {
    for (int ci = 0; ci < d->Cin; ci++)
      for (int ky = 0; ky < d->K; ky++)
        for (int kx = 0; kx < d->K; kx++) {
          double acc = 0;
          for (int b = 0; b < d->B; b++)
            for (int oy = 0; oy < d->Ho; oy++)
              for (int ox = 0; ox < d->Wo; ox++) {
                int iy = oy * d->stride - d->pad + ky, ix = ox * d->stride - d->pad + kx;
                if (iy < 0 || iy >= d->H || ix < 0 || ix >= d->W) continue;
                acc += (double)dy[idx4(d->Cout, d->Ho, d->Wo, b, co, oy, ox)] *
                       x[idx4(d->Cin, d->H, d->W, b, ci, iy, ix)];
              }
          dw[idx4(d->Cin, d->K, d->K, co, ci, ky, kx)] += (float)acc;
        }
    if (db) {
      double acc = 0;
      for (int b = 0; b < d->B; b++)
        for (int p = 0; p < d->Ho * d->Wo; p++) acc += dy[((long)b * d->Cout + co) * d->Ho * d->Wo + p];
      db[co] += (float)acc;
    }
  }
}

// ---- normalisation and activations ----

// Per (sample, group): mean and biased variance over the group's C/G channels x HW values,
// then y = (x - mean) * rstd * gamma[c] + beta[c] with rstd = 1 / sqrt(var + 1e-5).
static void ref_groupnorm_fwd(Backend *be, int B, int C, int HW, int G, const float *x,
                              const float *gamma, const float *beta, float *y, float *mean,
                              float *rstd) {
  const int Cg = C / G;
  const long n = (long)Cg * HW;
  for (int b = 0; b < B; b++)
    for (int g = 0; g < G; g++) {
      const long off = ((long)b * C + (long)g * Cg) * HW;  // the group is contiguous
      double sum = 0;
      for (long i = 0; i < n; i++) sum += x[off + i];
      const double mu = sum / n;
      double ss = 0;
      for (long i = 0; i < n; i++) ss += (x[off + i] - mu) * (x[off + i] - mu);
      const double rs = 1.0 / sqrt(ss / n + 1e-5);
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (int p = 0; p < HW; p++) {
          const long i = ((long)b * C + c) * HW + p;
          y[i] = (float)((x[i] - mu) * rs * gamma[c] + beta[c]);
        }
      mean[b * G + g] = (float)mu;
      rstd[b * G + g] = (float)rs;
    }
}

// With xhat = (x - mean) * rstd and g = dy * gamma, over each (sample, group):
//   dx += rstd * (g - mean(g) - xhat * mean(g * xhat)),
//   dgamma[c] += sum dy * xhat,  dbeta[c] += sum dy  (sums over samples and HW).
static void ref_groupnorm_bwd(Backend *be, int B, int C, int HW, int G, const float *x,
                              const float *dy, const float *gamma, const float *mean,
                              const float *rstd, float *dx, float *dgamma, float *dbeta) {
  const int Cg = C / G;
  const long n = (long)Cg * HW;
  for (int b = 0; b < B; b++)
    for (int g = 0; g < G; g++) {
      const double mu = mean[b * G + g], rs = rstd[b * G + g];
      double sum_g = 0, sum_gx = 0;
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (int p = 0; p < HW; p++) {
          const long i = ((long)b * C + c) * HW + p;
          const double xhat = (x[i] - mu) * rs, gi = (double)dy[i] * gamma[c];
          sum_g += gi;
          sum_gx += gi * xhat;
        }
      const double mean_g = sum_g / n, mean_gx = sum_gx / n;
      for (int c = g * Cg; c < (g + 1) * Cg; c++)
        for (int p = 0; p < HW; p++) {
          const long i = ((long)b * C + c) * HW + p;
          const double xhat = (x[i] - mu) * rs, gi = (double)dy[i] * gamma[c];
          dx[i] += (float)(rs * (gi - mean_g - xhat * mean_gx));
        }
    }
  for (int c = 0; c < C; c++) {
    double dg = 0, db = 0;
    for (int b = 0; b < B; b++) {
      const int g = c / Cg;
      const double mu = mean[b * G + g], rs = rstd[b * G + g];
      for (int p = 0; p < HW; p++) {
        const long i = ((long)b * C + c) * HW + p;
        dg += (double)dy[i] * (x[i] - mu) * rs;
        db += dy[i];
      }
    }
    dgamma[c] += (float)dg;
    dbeta[c] += (float)db;
  }
}

static void ref_silu_fwd(Backend *be, size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
}

// The two ops above in turn (a in a buffer of its own when the caller keeps none).
static void ref_groupnorm_silu_fwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *gamma,
                                   const float *beta, float *a, float *y, float *mean, float *rstd) {
  const size_t n = (size_t)B * C * HW;
  float *tmp = a ? a : xmalloc(sizeof(float) * (n ? n : 1));
  ref_groupnorm_fwd(be, B, C, HW, G, x, gamma, beta, tmp, mean, rstd);
  ref_silu_fwd(be, n, tmp, y);
  if (!a) free(tmp);
}

// silu'(x) = s + x * s * (1 - s) with s = sigmoid(x).
static void ref_silu_bwd(Backend *be, size_t n, const float *x, const float *dy, float *dx) {
  for (size_t i = 0; i < n; i++) {
    const double s = 1.0 / (1.0 + exp(-(double)x[i]));
    dx[i] += (float)(dy[i] * s * (1.0 + x[i] * (1.0 - s)));
  }
}

// a = GroupNorm(x) with the forward's mean and rstd, silu_bwd into a zeroed buffer, then
// groupnorm_bwd.
static void ref_groupnorm_silu_bwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy,
                                   const float *gamma, const float *beta, const float *mean, const float *rstd,
                                   float *dx, float *dgamma, float *dbeta) {
  const size_t n = (size_t)B * C * HW;
  float *a = xmalloc(sizeof(float) * (n ? n : 1)), *da = xcalloc(n ? n : 1, sizeof(float));
  const int Cg = C / G;
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      const double mu = mean[b * G + c / Cg], rs = rstd[b * G + c / Cg];
      for (int p = 0; p < HW; p++) {
        const long i = ((long)b * C + c) * HW + p;
        a[i] = (float)((x[i] - mu) * rs * gamma[c] + beta[c]);
      }
    }
  ref_silu_bwd(be, n, a, dy, da);
  ref_groupnorm_bwd(be, B, C, HW, G, x, da, gamma, mean, rstd, dx, dgamma, dbeta);
  free(a);
  free(da);
}

static void ref_softmax_fwd(Backend *be, int rows, int n, float scale, const float *x, float *y) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * n;
    float *yr = y + (long)r * n;
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) mx = fmax(mx, (double)scale * xr[j]);
    for (int j = 0; j < n; j++) sum += exp((double)scale * xr[j] - mx);
    for (int j = 0; j < n; j++) yr[j] = (float)(exp((double)scale * xr[j] - mx) / sum);
  }
}

static void ref_softmax_bwd(Backend *be, int rows, int n, float scale, const float *y,
                            const float *dy, float *dx) {
  for (int r = 0; r < rows; r++) {
    const float *yr = y + (long)r * n, *dyr = dy + (long)r * n;
    float *dxr = dx + (long)r * n;
    double dot = 0;
    for (int j = 0; j < n; j++) dot += (double)dyr[j] * yr[j];
    for (int j = 0; j < n; j++) dxr[j] += (float)(scale * yr[j] * (dyr[j] - dot));
  }
}

// ---- elementwise and layout ----

static void ref_add(Backend *be, size_t n, const float *a, const float *b, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}
static void ref_axpy(Backend *be, size_t n, float alpha, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}
static void ref_scale(Backend *be, size_t n, float alpha, float *x) {
  for (size_t i = 0; i < n; i++) x[i] *= alpha;
}
static void ref_mul(Backend *be, size_t n, const float *a, const float *b, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}
static void ref_mul_acc(Backend *be, size_t n, const float *a, const float *b, float *y) {
  for (size_t i = 0; i < n; i++) y[i] += a[i] * b[i];
}

static void ref_bcast_add(Backend *be, int B, int C, int HW, const float *v, int vstride, float *y) {
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      for (int p = 0; p < HW; p++) y[((long)b * C + c) * HW + p] += v[b * vstride + c];
}

static void ref_bcast_add_bwd(Backend *be, int B, int C, int HW, const float *dy, int vstride,
                              float *dv) {
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      double acc = 0;
      for (int p = 0; p < HW; p++) acc += dy[((long)b * C + c) * HW + p];
      dv[b * vstride + c] += (float)acc;
    }
}

// With beta = 0 the destination is not read, so it may hold anything (even NaN).
static void ref_chan_copy(Backend *be, int B, int nc, int HW, const float *src, int src_C,
                          int src_off, float *dst, int dst_C, int dst_off, float beta) {
  for (int b = 0; b < B; b++)
    for (int c = 0; c < nc; c++)
      for (int p = 0; p < HW; p++) {
        const float s = src[((long)b * src_C + src_off + c) * HW + p];
        float *t = &dst[((long)b * dst_C + dst_off + c) * HW + p];
        *t = beta == 0.0f ? s : beta * *t + s;
      }
}

static void ref_upsample2x_fwd(Backend *be, int B, int C, int H, int W, const float *x, float *y) {
  for (long bc = 0; bc < (long)B * C; bc++)
    for (int oy = 0; oy < 2 * H; oy++)
      for (int ox = 0; ox < 2 * W; ox++)
        y[(bc * 2 * H + oy) * 2 * W + ox] = x[(bc * H + oy / 2) * W + ox / 2];
}

static void ref_upsample2x_bwd(Backend *be, int B, int C, int H, int W, const float *dy, float *dx) {
  for (long bc = 0; bc < (long)B * C; bc++)
    for (int oy = 0; oy < 2 * H; oy++)
      for (int ox = 0; ox < 2 * W; ox++)
        dx[(bc * H + oy / 2) * W + ox / 2] += dy[(bc * 2 * H + oy) * 2 * W + ox];
}

// ---- loss and optimiser ----

static void ref_mse_loss(Backend *be, int B, int D, const float *pred, const float *target,
                         const float *w, float *loss, float *dpred) {
  for (int b = 0; b < B; b++) {
    const float wb = w ? w[b] : 1.0f;
    double ss = 0;
    for (int i = 0; i < D; i++) {
      const long j = (long)b * D + i;
      const double e = (double)pred[j] - target[j];
      ss += e * e;
      if (dpred) dpred[j] += (float)(2.0 * wb * e / ((double)B * D));
    }
    loss[b] = (float)(ss / D);
  }
}

// PyTorch's AdamW: p -= lr * (wd * p + mhat / (sqrt(vhat) + eps)), mhat = m / (1 - beta1^step),
// vhat = v / (1 - beta2^step), after m = beta1 m + (1-beta1) g and v = beta2 v + (1-beta2) g^2.
static void ref_adamw(Backend *be, size_t n, float *p, const float *g, float *m, float *v, float lr,
                      float beta1, float beta2, float eps, float wd, int step) {
  const double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
  for (size_t i = 0; i < n; i++) {
    m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
    v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
    const double mhat = m[i] / bc1, vhat = v[i] / bc2;
    p[i] = (float)(p[i] - lr * (wd * (double)p[i] + mhat / (sqrt(vhat) + eps)));
  }
}

static void ref_ema(Backend *be, size_t n, float *e, const float *p, float decay) {
  for (size_t i = 0; i < n; i++) e[i] = decay * e[i] + (1.0f - decay) * p[i];
}

static double ref_sumsq(Backend *be, size_t n, const float *x) {
  double acc = 0;
  for (size_t i = 0; i < n; i++) acc += (double)x[i] * x[i];
  return acc;
}

void cpu_ref_ops(Backend *be) {
  be->gemm = ref_gemm;
  be->conv2d_fwd = ref_conv2d_fwd;
  be->conv2d_bwd_data = ref_conv2d_bwd_data;
  be->conv2d_bwd_filter = ref_conv2d_bwd_filter;
  be->groupnorm_fwd = ref_groupnorm_fwd;
  be->groupnorm_bwd = ref_groupnorm_bwd;
  be->silu_fwd = ref_silu_fwd;
  be->groupnorm_silu_fwd = ref_groupnorm_silu_fwd;
  be->groupnorm_silu_bwd = ref_groupnorm_silu_bwd;
  be->silu_bwd = ref_silu_bwd;
  be->softmax_fwd = ref_softmax_fwd;
  be->softmax_bwd = ref_softmax_bwd;
  be->add = ref_add;
  be->axpy = ref_axpy;
  be->scale = ref_scale;
  be->mul = ref_mul;
  be->mul_acc = ref_mul_acc;
  be->bcast_add = ref_bcast_add;
  be->bcast_add_bwd = ref_bcast_add_bwd;
  be->chan_copy = ref_chan_copy;
  be->upsample2x_fwd = ref_upsample2x_fwd;
  be->upsample2x_bwd = ref_upsample2x_bwd;
  be->mse_loss = ref_mse_loss;
  be->adamw = ref_adamw;
  be->ema = ref_ema;
  be->sumsq = ref_sumsq;
}
