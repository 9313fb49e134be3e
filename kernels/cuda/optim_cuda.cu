// optim_cuda.cu — the loss, the optimiser step, the EMA of the weights and the sum of squares
// used for gradient clipping.
#include <math.h>

#include "cuda_common.cuh"

#define THREADS 256

// One block per sample: loss[b] = mean_i (pred - target)^2 over D values, and in the same pass
// dpred += 2 * w_b * (pred - target) / (B*D). w, loss and dpred may each be NULL.
__global__ static void mse_loss_kernel(int B, int D, const float *pred, const float *target, const float *w,
                                       float *loss, float *dpred) {
  const int b = blockIdx.x;
  const size_t base = (size_t)b * D;
  const float coef = 2.0f * (w ? w[b] : 1.0f) / ((float)B * (float)D);
  float s = 0.0f;
  for (int i = threadIdx.x; i < D; i += blockDim.x) {
    float d = pred[base + i] - target[base + i];
    s += d * d;
    if (dpred) dpred[base + i] += coef * d;
  }
  s = block_sum(s);
  if (loss && threadIdx.x == 0) loss[b] = s / (float)D;
}

static void cu_mse_loss(Backend *be, int B, int D, const float *pred, const float *target, const float *w,
                        float *loss, float *dpred) {
  if (B <= 0 || D <= 0) return;
  KLAUNCH(mse_loss_kernel, B, threads_for(D), cuda_ctx(be)->stream)(B, D, pred, target, w, loss, dpred);
  KERNEL_CHECK();
}

// AdamW (Loshchilov & Hutter): moments, bias-corrected step, decoupled weight decay.
// c1 = 1 - beta1^step and c2 = 1 - beta2^step come from the host.
__global__ static void adamw_kernel(size_t n, float *p, const float *g, float *m, float *v, float lr, float beta1,
                                    float beta2, float eps, float wd, float c1, float c2) {
  GRID_STRIDE(i, n) {
    float gi = g[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * ((mi / c1) / (sqrtf(vi / c2) + eps) + wd * p[i]);
  }
}

static void cu_adamw(Backend *be, size_t n, float *p, const float *g, float *m, float *v, float lr, float beta1,
                     float beta2, float eps, float wd, int step) {
  if (!n) return;
  float c1 = (float)(1.0 - pow(beta1, step)), c2 = (float)(1.0 - pow(beta2, step));
  KLAUNCH(adamw_kernel, grid_for(n, THREADS), THREADS, cuda_ctx(be)->stream)(n, p, g, m, v, lr, beta1, beta2, eps, wd,
                                                                          c1, c2);
  KERNEL_CHECK();
}

__global__ static void ema_kernel(size_t n, float *e, const float *p, float decay) {
  GRID_STRIDE(i, n) e[i] = decay * e[i] + (1.0f - decay) * p[i];
}

static void cu_ema(Backend *be, size_t n, float *e, const float *p, float decay) {
  if (!n) return;
  KLAUNCH(ema_kernel, grid_for(n, THREADS), THREADS, cuda_ctx(be)->stream)(n, e, p, decay);
  KERNEL_CHECK();
}

// Stage one of the sum of squares: each of a fixed number of blocks sums a strided share of x
// into partial[blockIdx.x]; the host adds the partials in double.
__global__ static void sumsq_kernel(size_t n, const float *x, float *partial) {
  float s = 0.0f;
  GRID_STRIDE(i, n) s += x[i] * x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

static double cu_sumsq(Backend *be, size_t n, const float *x) {
  if (!n) return 0.0;
  CudaCtx *c = cuda_ctx(be);
  unsigned blocks = grid_for(n, THREADS);
  if (blocks > SUMSQ_BLOCKS) blocks = SUMSQ_BLOCKS;
  KLAUNCH(sumsq_kernel, blocks, THREADS, c->stream)(n, x, c->partials);
  KERNEL_CHECK();
  CUDA_CHECK(cudaMemcpyAsync(c->partials_host, c->partials, blocks * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
  CUDA_CHECK(cudaStreamSynchronize(c->stream));
  double total = 0.0;
  for (unsigned b = 0; b < blocks; b++) total += c->partials_host[b];
  return total;
}

void cuda_install_optim(Backend *be) {
  be->mse_loss = cu_mse_loss;
  be->adamw = cu_adamw;
  be->ema = cu_ema;
  be->sumsq = cu_sumsq;
}
