// groupnorm_cuda.cu — GroupNorm forward and backward.
//
// x is (B,C,HW); the C/G channels of group g of sample b are contiguous, n = C/G*HW values
// starting at (b*G + g) * n. Statistics take two passes (the mean, then the mean of squared
// deviations), which stays accurate where E[x^2] - E[x]^2 would cancel.
//
// Memory traffic is what these kernels cost, so each is written to touch every tensor as few
// times as it can:
//   forward   one block per (sample, group); the group's values are read once into shared
//             memory when they fit (GN_CACHE_LARGE floats: every group of the shipped
//             presets), so both statistics passes and the output pass read them from there:
//             x is read once and y written once. Larger groups read x three times.
//   backward  per-channel sums first, one block per (sample, channel) row: sum dy*xhat and
//             sum dy. They give dgamma and dbeta (summed over the batch) and also the two
//             group means the input gradient needs,
//               dx += rstd * (dy*gamma - mean_g(dy*gamma) - xhat * mean_g(dy*gamma*xhat)),
//             as mean_g(dy*gamma) = sum_{c in g} gamma[c] * sum dy[c] / n (likewise with xhat),
//             so the dx pass is elementwise: x and dy are read twice in all, not four times.
#include "cuda_common.cuh"

#define GN_EPS 1e-5f
// Shared-memory caches of the forward, in floats: a small one that leaves room for many blocks
// per SM, and a large one that keeps the block (with block_sum's 32 floats) under the 48 KB of
// static shared memory a kernel may have.
#define GN_CACHE_SMALL 2048
#define GN_CACHE_LARGE 11776

// One block per (sample, group). With n <= CACHE each thread keeps the values it loaded in
// shared memory and reads back only those (the same indices), so no barrier guards the cache.
template <int CACHE>
__global__ static void groupnorm_fwd_kernel(int C, int HW, int G, const float *x, const float *gamma,
                                            const float *beta, float *y, float *mean, float *rstd) {
  __shared__ float cache[CACHE];
  const int bg = blockIdx.x, cg = C / G, c0 = (bg % G) * cg;
  const size_t n = (size_t)cg * HW, base = (size_t)bg * n;
  const bool cached = n <= CACHE;
  const float *xg = x + base;
  float s = 0.0f;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = xg[i];
    if (cached) cache[i] = v;
    s += v;
  }
  const float mu = block_sum(s) / (float)n;
  float v = 0.0f;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float d = (cached ? cache[i] : xg[i]) - mu;
    v += d * d;
  }
  const float rs = 1.0f / sqrtf(block_sum(v) / (float)n + GN_EPS);
  if (threadIdx.x == 0) { mean[bg] = mu; rstd[bg] = rs; }
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int c = c0 + (int)(i / HW);
    const float g = gamma ? gamma[c] : 1.0f, b = beta ? beta[c] : 0.0f;
    y[base + i] = ((cached ? cache[i] : xg[i]) - mu) * rs * g + b;
  }
}

// One block per (sample, channel) over its contiguous HW row: part[b*C + c] = sum dy*xhat,
// part[nbc + b*C + c] = sum dy.
__global__ static void groupnorm_row_sums_kernel(int C, int HW, int G, const float *x, const float *dy,
                                                 const float *mean, const float *rstd, float *part, size_t nbc) {
  const int bc = blockIdx.x, b = bc / C, c = bc % C, g = c / (C / G);
  const float mu = mean[b * G + g], rs = rstd[b * G + g];
  const size_t base = (size_t)bc * HW;
  float sg = 0.0f, sb = 0.0f;
  for (int i = threadIdx.x; i < HW; i += blockDim.x) {
    const float d = dy[base + i];
    sg += d * (x[base + i] - mu) * rs;
    sb += d;
  }
  sg = block_sum(sg);
  sb = block_sum(sb);
  if (threadIdx.x == 0) { part[bc] = sg; part[nbc + bc] = sb; }
}

// dx += rstd * (dy*gamma - m1 - xhat*m2), one block per (sample, channel) row; m1 and m2, the
// group means of dy*gamma and dy*gamma*xhat, come from the row sums (each thread adds up the
// group's C/G channels itself: a few cached loads, no barrier).
__global__ static void groupnorm_dx_kernel(int C, int HW, int G, const float *x, const float *dy, const float *gamma,
                                           const float *mean, const float *rstd, const float *part, size_t nbc,
                                           float *dx) {
  const int bc = blockIdx.x, b = bc / C, c = bc % C, cg = C / G, g = c / cg, c0 = g * cg;
  float s_dyx = 0.0f, s_dy = 0.0f;
  for (int k = 0; k < cg; k++) {
    const float gk = gamma ? gamma[c0 + k] : 1.0f;
    const size_t j = (size_t)b * C + c0 + k;
    s_dyx += gk * part[j];
    s_dy += gk * part[nbc + j];
  }
  const float inv_n = 1.0f / ((float)cg * HW), m1 = s_dy * inv_n, m2 = s_dyx * inv_n;
  const float mu = mean[b * G + g], rs = rstd[b * G + g], gc = gamma ? gamma[c] : 1.0f;
  const size_t base = (size_t)bc * HW;
  for (int i = threadIdx.x; i < HW; i += blockDim.x) {
    const float xhat = (x[base + i] - mu) * rs;
    dx[base + i] += rs * (dy[base + i] * gc - m1 - xhat * m2);
  }
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
  const size_t n = (size_t)C / G * HW;
  cudaStream_t s = cuda_ctx(be)->stream;
  if (n <= GN_CACHE_SMALL)
    KLAUNCH(groupnorm_fwd_kernel<GN_CACHE_SMALL>, B * G, threads_for(n), s)(C, HW, G, x, gamma, beta, y, mean, rstd);
  else
    KLAUNCH(groupnorm_fwd_kernel<GN_CACHE_LARGE>, B * G, threads_for(n), s)(C, HW, G, x, gamma, beta, y, mean, rstd);
  KERNEL_CHECK();
}

static void cu_groupnorm_bwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy,
                             const float *gamma, const float *mean, const float *rstd, float *dx, float *dgamma,
                             float *dbeta) {
  if (B <= 0 || C <= 0 || HW <= 0 || (!dx && !dgamma && !dbeta)) return;
  check_groups(C, G);
  CudaCtx *c = cuda_ctx(be);
  const size_t nbc = (size_t)B * C;
  float *part = cuda_scratch(c, 2 * nbc);
  KLAUNCH(groupnorm_row_sums_kernel, B * C, threads_for((size_t)HW), c->stream)(C, HW, G, x, dy, mean, rstd, part, nbc);
  KERNEL_CHECK();
  if (dx) {
    KLAUNCH(groupnorm_dx_kernel, B * C, threads_for((size_t)HW), c->stream)(C, HW, G, x, dy, gamma, mean, rstd, part,
                                                                            nbc, dx);
    KERNEL_CHECK();
  }
  if (dgamma) cuda_col_sum(c, B, C, part, dgamma);
  if (dbeta) cuda_col_sum(c, B, C, part + nbc, dbeta);
}

void cuda_install_groupnorm(Backend *be) {
  be->groupnorm_fwd = cu_groupnorm_fwd;
  be->groupnorm_bwd = cu_groupnorm_bwd;
}
