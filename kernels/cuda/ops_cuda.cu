// ops_cuda.cu — the kernels between the convolutions: elementwise, layout, activations and
// softmax (group norm has groupnorm_cuda.cu).
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
// Rows of HW >= ROW_MIN values get one block each (row = b*C + c), so that the index
// arithmetic is done once per row: integer division costs tens of instructions, more than a
// memory-bound kernel has to spare per element. Shorter rows (linear layers' biases, HW = 1)
// take one thread per element.
#define ROW_MIN 32

__global__ static void bcast_add_kernel(size_t n, int C, int HW, const float *v, int vstride, float *y) {
  GRID_STRIDE(i, n) {
    size_t bc = i / HW;
    int b = (int)(bc / C), c = (int)(bc % C);
    y[i] += v[(size_t)b * vstride + c];
  }
}

__global__ static void bcast_add_rows_kernel(int C, int HW, const float *v, int vstride, float *y) {
  const int row = blockIdx.x, b = row / C, c = row % C;
  const float a = v[(size_t)b * vstride + c];
  float *yr = y + (size_t)row * HW;
  for (int i = threadIdx.x; i < HW; i += blockDim.x) yr[i] += a;
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

void cuda_col_sum(CudaCtx *c, int B, int C, const float *part, float *dv) {
  KLAUNCH(col_sum_kernel, (C + 127) / 128, 128, c->stream)(B, C, part, dv);
  KERNEL_CHECK();
}

// dv[b*vstride + c] += part[b*C + c]
__global__ static void scatter_add_kernel(int n, int C, int vstride, const float *part, float *dv) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dv[(size_t)(i / C) * vstride + i % C] += part[i];
}

static void cu_bcast_add(Backend *be, int B, int C, int HW, const float *v, int vstride, float *y) {
  size_t n = (size_t)B * C * HW;
  if (n == 0) return;
  if (HW < ROW_MIN) { LAUNCH(bcast_add_kernel, n, C, HW, v, vstride, y); return; }
  KLAUNCH(bcast_add_rows_kernel, B * C, threads_for((size_t)HW), cuda_ctx(be)->stream)(C, HW, v, vstride, y);
  KERNEL_CHECK();
}

static void cu_bcast_add_bwd(Backend *be, int B, int C, int HW, const float *dy, int vstride, float *dv) {
  if (B <= 0 || C <= 0 || HW <= 0) return;
  CudaCtx *c = cuda_ctx(be);
  float *part = cuda_scratch(c, (size_t)B * C);
  KLAUNCH(row_sum_kernel, B * C, threads_for((size_t)HW), c->stream)(HW, dy, part);
  KERNEL_CHECK();
  if (vstride == 0) cuda_col_sum(c, B, C, part, dv);
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

// The same, one block per copied row (row = b*nc + c).
__global__ static void chan_copy_rows_kernel(int nc, int HW, const float *src, int src_C, int src_off, float *dst,
                                             int dst_C, int dst_off, float beta) {
  const int row = blockIdx.x, b = row / nc, c = row % nc;
  const float *sr = src + ((size_t)b * src_C + src_off + c) * HW;
  float *dr = dst + ((size_t)b * dst_C + dst_off + c) * HW;
  if (beta == 0.0f)
    for (int i = threadIdx.x; i < HW; i += blockDim.x) dr[i] = sr[i];
  else
    for (int i = threadIdx.x; i < HW; i += blockDim.x) dr[i] = beta * dr[i] + sr[i];
}

static void cu_chan_copy(Backend *be, int B, int nc, int HW, const float *src, int src_C, int src_off, float *dst,
                         int dst_C, int dst_off, float beta) {
  size_t n = (size_t)B * nc * HW;
  if (HW < ROW_MIN) { LAUNCH(chan_copy_kernel, n, nc, HW, src, src_C, src_off, dst, dst_C, dst_off, beta); return; }
  if (n == 0) return;
  KLAUNCH(chan_copy_rows_kernel, B * nc, threads_for((size_t)HW), cuda_ctx(be)->stream)(nc, HW, src, src_C, src_off,
                                                                                         dst, dst_C, dst_off, beta);
  KERNEL_CHECK();
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
}
