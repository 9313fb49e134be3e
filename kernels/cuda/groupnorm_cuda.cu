// groupnorm_cuda.cu — GroupNorm forward and backward.
#include "cuda_common.cuh"

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
// part[b*C + c] = sum dy*xhat, part[B*C + b*C + c] = sum dy. cuda_col_sum finishes.
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
    if (dgamma) cuda_col_sum(cuda_ctx(be), B, C, part, dgamma);
    if (dbeta) cuda_col_sum(cuda_ctx(be), B, C, part + nbc, dbeta);
  }
}

void cuda_install_groupnorm(Backend *be) {
  be->groupnorm_fwd = cu_groupnorm_fwd;
  be->groupnorm_bwd = cu_groupnorm_bwd;
}
