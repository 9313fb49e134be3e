// ops_cuda.cu — the kernels between the convolutions: elementwise, layout, activations,
// softmax and group norm.
//
// Elementwise and layout kernels are grid-stride loops over the output (each output written by
// one thread, so backward passes accumulate without atomics). Reductions give one block (group
// norm, broadcast backward) or one warp (softmax rows) to each sum and combine in a fixed order,
// so results are bit-identical from run to run.
#include "cuda_common.cuh"

#define THREADS 256

// ---- elementwise ----

__global__ static void fill_kernel(size_t n, float v, float *x) { GRID_STRIDE(i, n) x[i] = v; }
__global__ static void add_kernel(size_t n, const float *a, const float *b, float *y) { GRID_STRIDE(i, n) y[i] = a[i] + b[i]; }
__global__ static void axpy_kernel(size_t n, float alpha, const float *x, float *y) { GRID_STRIDE(i, n) y[i] += alpha * x[i]; }
__global__ static void scale_kernel(size_t n, float alpha, float *x) { GRID_STRIDE(i, n) x[i] *= alpha; }
__global__ static void mul_kernel(size_t n, const float *a, const float *b, float *y) { GRID_STRIDE(i, n) y[i] = a[i] * b[i]; }
__global__ static void mul_acc_kernel(size_t n, const float *a, const float *b, float *y) { GRID_STRIDE(i, n) y[i] += a[i] * b[i]; }

// y = x * sigmoid(x); silu'(x) = s * (1 + x * (1 - s)) with s = sigmoid(x).
__global__ static void silu_fwd_kernel(size_t n, const float *x, float *y) {
  GRID_STRIDE(i, n) y[i] = x[i] / (1.0f + expf(-x[i]));
}
__global__ static void silu_bwd_kernel(size_t n, const float *x, const float *dy, float *dx) {
  GRID_STRIDE(i, n) {
    float s = 1.0f / (1.0f + expf(-x[i]));
    dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}

// Launches a grid-stride kernel over n items on the stream of `be` (the enclosing function's).
#define LAUNCH(kernel, n, ...) do { if ((n) == 0) break; \
    KLAUNCH(kernel, grid_for((n), THREADS), THREADS, cuda_ctx(be)->stream)((n), __VA_ARGS__); KERNEL_CHECK(); } while (0)

static void cu_fill(Backend *be, float *x, float v, size_t n) { LAUNCH(fill_kernel, n, v, x); }
static void cu_add(Backend *be, size_t n, const float *a, const float *b, float *y) { LAUNCH(add_kernel, n, a, b, y); }
static void cu_axpy(Backend *be, size_t n, float alpha, const float *x, float *y) { LAUNCH(axpy_kernel, n, alpha, x, y); }
static void cu_scale(Backend *be, size_t n, float alpha, float *x) { LAUNCH(scale_kernel, n, alpha, x); }
static void cu_mul(Backend *be, size_t n, const float *a, const float *b, float *y) { LAUNCH(mul_kernel, n, a, b, y); }
static void cu_mul_acc(Backend *be, size_t n, const float *a, const float *b, float *y) { LAUNCH(mul_acc_kernel, n, a, b, y); }
static void cu_silu_fwd(Backend *be, size_t n, const float *x, float *y) { LAUNCH(silu_fwd_kernel, n, x, y); }
static void cu_silu_bwd(Backend *be, size_t n, const float *x, const float *dy, float *dx) {
  LAUNCH(silu_bwd_kernel, n, x, dy, dx);
}

// ---- broadcast over HW, channel copies, upsampling ----

// y is (B,C,HW): y[b,c,:] += v[b*vstride + c].
__global__ static void bcast_add_kernel(size_t n, int C, int HW, const float *v, int vstride, float *y) {
  GRID_STRIDE(i, n) {
    size_t bc = i / HW;
    int b = (int)(bc / C), c = (int)(bc % C);
    y[i] += v[(size_t)b * vstride + c];
  }
}

// One block per (sample, channel): part[b*C + c] = sum of dy[b,c,:] (a contiguous row).
__global__ static void row_sum_kernel(int HW, const float *dy, float *part) {
  const float *row = dy + (size_t)blockIdx.x * HW;
  float s = 0.0f;
  for (int i = threadIdx.x; i < HW; i += blockDim.x) s += row[i];
  s = block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// dv[c] += sum over b of part[b*C + c]: the second stage of a bias gradient. Two stages keep
// B*C blocks busy where one block per channel (C of them) would leave most of a GPU idle
// and walk B*HW values each; the fixed order keeps the result deterministic.
__global__ static void col_sum_kernel(int B, int C, const float *part, float *dv) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float s = 0.0f;
  for (int b = 0; b < B; b++) s += part[(size_t)b * C + c];
  dv[c] += s;
}

// dv[b*vstride + c] += part[b*C + c]
__global__ static void scatter_add_kernel(int n, int C, int vstride, const float *part, float *dv) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dv[(size_t)(i / C) * vstride + i % C] += part[i];
}

static void cu_bcast_add(Backend *be, int B, int C, int HW, const float *v, int vstride, float *y) {
  size_t n = (size_t)B * C * HW;
  LAUNCH(bcast_add_kernel, n, C, HW, v, vstride, y);
}

static void cu_bcast_add_bwd(Backend *be, int B, int C, int HW, const float *dy, int vstride, float *dv) {
  if (B <= 0 || C <= 0 || HW <= 0) return;
  CudaCtx *c = cuda_ctx(be);
  float *part = cuda_scratch(c, (size_t)B * C);
  KLAUNCH(row_sum_kernel, B * C, threads_for((size_t)HW), c->stream)(HW, dy, part);
  KERNEL_CHECK();
  if (vstride == 0) KLAUNCH(col_sum_kernel, (C + 127) / 128, 128, c->stream)(B, C, part, dv);
  else KLAUNCH(scatter_add_kernel, (B * C + 255) / 256, 256, c->stream)(B * C, C, vstride, part, dv);
  KERNEL_CHECK();
}

// dst[b, dst_off + c, :] = beta * dst[...] + src[b, src_off + c, :] for c < nc; beta = 0 ignores
// what dst held (even NaN).
__global__ static void chan_copy_kernel(size_t n, int nc, int HW, const float *src, int src_C, int src_off,
                                        float *dst, int dst_C, int dst_off, float beta) {
  GRID_STRIDE(i, n) {
    size_t t = i / HW;
    int hw = (int)(i % HW), c = (int)(t % nc), b = (int)(t / nc);
    float s = src[((size_t)b * src_C + src_off + c) * HW + hw];
    float *d = &dst[((size_t)b * dst_C + dst_off + c) * HW + hw];
    *d = beta == 0.0f ? s : beta * *d + s;
  }
}

static void cu_chan_copy(Backend *be, int B, int nc, int HW, const float *src, int src_C, int src_off, float *dst,
                         int dst_C, int dst_off, float beta) {
  size_t n = (size_t)B * nc * HW;
  LAUNCH(chan_copy_kernel, n, nc, HW, src, src_C, src_off, dst, dst_C, dst_off, beta);
}

// x (B*C planes of H,W) -> y (planes of 2H,2W), one thread per output value.
__global__ static void upsample2x_fwd_kernel(size_t n, int H, int W, const float *x, float *y) {
  GRID_STRIDE(i, n) {
    int ox = (int)(i % (2 * W));
    size_t t = i / (2 * W);
    int oy = (int)(t % (2 * H));
    size_t plane = t / (2 * H);
    y[i] = x[(plane * H + oy / 2) * W + ox / 2];
  }
}

// dx[., y, x] += the four dy values it was copied to, one thread per input value.
__global__ static void upsample2x_bwd_kernel(size_t n, int H, int W, const float *dy, float *dx) {
  GRID_STRIDE(i, n) {
    int ix = (int)(i % W);
    size_t t = i / W;
    int iy = (int)(t % H);
    size_t plane = t / H;
    const float *d = dy + (plane * 2 * H + 2 * iy) * (2 * W) + 2 * ix;
    dx[i] += d[0] + d[1] + d[2 * W] + d[2 * W + 1];
  }
}

static void cu_upsample2x_fwd(Backend *be, int B, int C, int H, int W, const float *x, float *y) {
  size_t n = (size_t)B * C * 4 * H * W;
  LAUNCH(upsample2x_fwd_kernel, n, H, W, x, y);
}

static void cu_upsample2x_bwd(Backend *be, int B, int C, int H, int W, const float *dy, float *dx) {
  size_t n = (size_t)B * C * H * W;
  LAUNCH(upsample2x_bwd_kernel, n, H, W, dy, dx);
}

// ---- softmax: one warp per row ----

#define ROWS_PER_BLOCK (THREADS / 32)

// y = softmax(scale * x) over each row of n; the row max is subtracted before exp.
__global__ static void softmax_fwd_kernel(int rows, int n, float scale, const float *x, float *y) {
  const int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float *xr = x + (size_t)row * n;
  float *yr = y + (size_t)row * n;
  float m = -INFINITY;
  for (int j = lane; j < n; j += 32) m = fmaxf(m, scale * xr[j]);
  m = warp_max(m);
  float s = 0.0f;
  for (int j = lane; j < n; j += 32) s += expf(scale * xr[j] - m);
  const float inv = 1.0f / warp_sum(s);
  for (int j = lane; j < n; j += 32) yr[j] = expf(scale * xr[j] - m) * inv;
}

// dx += scale * y * (dy - sum(dy * y)), per row.
__global__ static void softmax_bwd_kernel(int rows, int n, float scale, const float *y, const float *dy, float *dx) {
  const int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const size_t off = (size_t)row * n;
  float dot = 0.0f;
  for (int j = lane; j < n; j += 32) dot += dy[off + j] * y[off + j];
  dot = warp_sum(dot);
  for (int j = lane; j < n; j += 32) dx[off + j] += scale * y[off + j] * (dy[off + j] - dot);
}

static void cu_softmax_fwd(Backend *be, int rows, int n, float scale, const float *x, float *y) {
  if (rows <= 0 || n <= 0) return;
  KLAUNCH(softmax_fwd_kernel, (rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK, THREADS, cuda_ctx(be)->stream)(
      rows, n, scale, x, y);
  KERNEL_CHECK();
}

static void cu_softmax_bwd(Backend *be, int rows, int n, float scale, const float *y, const float *dy, float *dx) {
  if (rows <= 0 || n <= 0) return;
  KLAUNCH(softmax_bwd_kernel, (rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK, THREADS, cuda_ctx(be)->stream)(
      rows, n, scale, y, dy, dx);
  KERNEL_CHECK();
}

// ---- group norm ----
// x is (B,C,HW); the C/G channels of group g of sample b are contiguous, n = C/G*HW values
// starting at (b*G + g) * n. Statistics in two passes (mean, then the mean of squared
// deviations), which stays accurate where E[x^2] - E[x]^2 would cancel.

#define GN_EPS 1e-5f

// One block per (sample, group). gamma/beta may be NULL (scale 1, shift 0).
__global__ static void groupnorm_fwd_kernel(int C, int HW, int G, const float *x, const float *gamma,
                                            const float *beta, float *y, float *mean, float *rstd) {
  const int bg = blockIdx.x, cg = C / G, c0 = (bg % G) * cg;
  const size_t n = (size_t)cg * HW, base = (size_t)bg * n;
  float s = 0.0f;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) s += x[base + i];
  const float mu = block_sum(s) / (float)n;
  float v = 0.0f;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) { float d = x[base + i] - mu; v += d * d; }
  const float rs = 1.0f / sqrtf(block_sum(v) / (float)n + GN_EPS);
  if (threadIdx.x == 0) { mean[bg] = mu; rstd[bg] = rs; }
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    int c = c0 + (int)(i / HW);
    float g = gamma ? gamma[c] : 1.0f, b = beta ? beta[c] : 0.0f;
    y[base + i] = (x[base + i] - mu) * rs * g + b;
  }
}

// dx += rstd * (dy*gamma - mean(dy*gamma) - xhat * mean(dy*gamma*xhat)), one block per (sample, group).
__global__ static void groupnorm_bwd_dx_kernel(int C, int HW, int G, const float *x, const float *dy,
                                               const float *gamma, const float *mean, const float *rstd, float *dx) {
  const int bg = blockIdx.x, cg = C / G, c0 = (bg % G) * cg;
  const size_t n = (size_t)cg * HW, base = (size_t)bg * n;
  const float mu = mean[bg], rs = rstd[bg];
  float s1 = 0.0f, s2 = 0.0f;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    float g = gamma ? gamma[c0 + (int)(i / HW)] : 1.0f;
    float dyg = dy[base + i] * g, xhat = (x[base + i] - mu) * rs;
    s1 += dyg;
    s2 += dyg * xhat;
  }
  const float m1 = block_sum(s1) / (float)n, m2 = block_sum(s2) / (float)n;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    float g = gamma ? gamma[c0 + (int)(i / HW)] : 1.0f;
    float xhat = (x[base + i] - mu) * rs;
    dx[base + i] += rs * (dy[base + i] * g - m1 - xhat * m2);
  }
}

// First stage of dgamma/dbeta, one block per (sample, channel) over its contiguous HW row:
// part[b*C + c] = sum dy*xhat, part[B*C + b*C + c] = sum dy. col_sum_kernel finishes.
__global__ static void groupnorm_params_part_kernel(int C, int HW, int G, const float *x, const float *dy,
                                                    const float *mean, const float *rstd, float *part, size_t nbc) {
  const int bc = blockIdx.x, b = bc / C, c = bc % C, g = c / (C / G);
  const float mu = mean[b * G + g], rs = rstd[b * G + g];
  const size_t base = (size_t)bc * HW;
  float sg = 0.0f, sb = 0.0f;
  for (int i = threadIdx.x; i < HW; i += blockDim.x) {
    float d = dy[base + i];
    sg += d * (x[base + i] - mu) * rs;
    sb += d;
  }
  sg = block_sum(sg);
  sb = block_sum(sb);
  if (threadIdx.x == 0) { part[bc] = sg; part[nbc + bc] = sb; }
}

static void check_groups(int C, int G) {
  if (G <= 0 || C % G != 0) {
    fprintf(stderr, "stepscope: group norm with %d channels in %d groups\n", C, G);
    abort();
  }
}

static void cu_groupnorm_fwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *gamma,
                             const float *beta, float *y, float *mean, float *rstd) {
  if (B <= 0 || C <= 0 || HW <= 0) return;
  check_groups(C, G);
  KLAUNCH(groupnorm_fwd_kernel, B * G, threads_for((size_t)C / G * HW), cuda_ctx(be)->stream)(
      C, HW, G, x, gamma, beta, y, mean, rstd);
  KERNEL_CHECK();
}

static void cu_groupnorm_bwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy,
                             const float *gamma, const float *mean, const float *rstd, float *dx, float *dgamma,
                             float *dbeta) {
  if (B <= 0 || C <= 0 || HW <= 0) return;
  check_groups(C, G);
  cudaStream_t s = cuda_ctx(be)->stream;
  if (dx) {
    KLAUNCH(groupnorm_bwd_dx_kernel, B * G, threads_for((size_t)C / G * HW), s)(C, HW, G, x, dy, gamma, mean, rstd, dx);
    KERNEL_CHECK();
  }
  if (dgamma || dbeta) {
    size_t nbc = (size_t)B * C;
    float *part = cuda_scratch(cuda_ctx(be), 2 * nbc);
    KLAUNCH(groupnorm_params_part_kernel, B * C, threads_for((size_t)HW), s)(C, HW, G, x, dy, mean, rstd, part, nbc);
    KERNEL_CHECK();
    if (dgamma) KLAUNCH(col_sum_kernel, (C + 127) / 128, 128, s)(B, C, part, dgamma);
    if (dbeta) KLAUNCH(col_sum_kernel, (C + 127) / 128, 128, s)(B, C, part + nbc, dbeta);
    KERNEL_CHECK();
  }
}

void cuda_install_ops(Backend *be) {
  be->fill = cu_fill;
  be->add = cu_add;
  be->axpy = cu_axpy;
  be->scale = cu_scale;
  be->mul = cu_mul;
  be->mul_acc = cu_mul_acc;
  be->silu_fwd = cu_silu_fwd;
  be->silu_bwd = cu_silu_bwd;
  be->bcast_add = cu_bcast_add;
  be->bcast_add_bwd = cu_bcast_add_bwd;
  be->chan_copy = cu_chan_copy;
  be->upsample2x_fwd = cu_upsample2x_fwd;
  be->upsample2x_bwd = cu_upsample2x_bwd;
  be->softmax_fwd = cu_softmax_fwd;
  be->softmax_bwd = cu_softmax_bwd;
  be->groupnorm_fwd = cu_groupnorm_fwd;
  be->groupnorm_bwd = cu_groupnorm_bwd;
}
