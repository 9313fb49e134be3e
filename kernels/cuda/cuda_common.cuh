// cuda_common.cuh — what every file of the CUDA backend shares: checked calls, the backend's
// private state, launch helpers and block reductions. Internal to kernels/cuda/.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

// A build that compiles these files as plain C++ for another target (the tests' CPU emulator)
// brings its own headers of the names above, which may define the two hooks first: CUDA_ENTRY,
// the linkage of the backend's entry point (backend_cuda_create), and KLAUNCH (launch helpers,
// further down).
#ifndef CUDA_ENTRY
#define CUDA_ENTRY extern "C"
#endif

extern "C" {
#include "kernels/backend.h"
}

// ---- checked calls ----
// A failing call inside an op is not recoverable (the device state is unknown), so these print
// the call, file and line and exit. backend_cuda_create() reports its failures through Err instead.
// One exception: while this thread records a graph nothing has run yet, so a failure (a call
// that cannot be recorded) only voids the recording: cuda_check_failed notes it, capture_end
// reports it and returns NULL, and the caller runs its ops directly (graph_cuda.cu).
[[noreturn]] void cuda_fatal(const char *what, const char *detail, const char *call, const char *file, int line);
void cuda_check_failed(const char *what, const char *detail, const char *call, const char *file, int line);

#define CUDA_CHECK(call) do { cudaError_t e_ = (call); \
    if (e_ != cudaSuccess) cuda_check_failed("CUDA", cudaGetErrorString(e_), #call, __FILE__, __LINE__); } while (0)
#define CUDNN_CHECK(call) do { cudnnStatus_t s_ = (call); \
    if (s_ != CUDNN_STATUS_SUCCESS) cuda_check_failed("cuDNN", cudnnGetErrorString(s_), #call, __FILE__, __LINE__); } while (0)
#define CUBLAS_CHECK(call) do { cublasStatus_t s_ = (call); \
    if (s_ != CUBLAS_STATUS_SUCCESS) cuda_check_failed("cuBLAS", cublasGetStatusString(s_), #call, __FILE__, __LINE__); } while (0)
// After every kernel launch: catches bad launch configurations at the launch site.
#define KERNEL_CHECK() CUDA_CHECK(cudaGetLastError())

// ---- one lock for the process ----
// A CUDA graph capture is broken, and the thread that broke it gets an error, when another
// thread meanwhile makes a call that synchronises the device (cudaFree; cudaMalloc and cuDNN's
// algorithm search may too). One process can hold several backends on several threads (the
// explorer samples with two side by side), so captures and such calls take this lock. It is
// recursive: a call made inside a capture by mistake then reaches CUDA, which names it, instead
// of deadlocking.
void cuda_lock(void);
void cuda_unlock(void);

// ---- the device memory arena (arena_cuda.cu) ----
// A few large cudaMalloc'd chunks, carved into 256-byte aligned blocks. Blocks are kept sorted
// by address; freeing merges a block with free neighbours of the same chunk.
typedef struct {
  char *ptr;
  size_t size;
  int chunk;  // which chunk the block lies in (neighbours merge only within a chunk)
  int used;
} CudaArenaBlock;

#define CUDA_ARENA_MAX_CHUNKS 48
typedef struct {
  CudaArenaBlock *blocks;
  int nblocks, cap;
  char *chunk[CUDA_ARENA_MAX_CHUNKS];
  size_t chunk_size[CUDA_ARENA_MAX_CHUNKS];
  int nchunks;
  size_t reserved, in_use, peak;  // bytes
} CudaArena;

// (engine/arena.h's Arena is another thing: activations bumped from backend memory.)
int cuda_arena_init(CudaArena *a, size_t first_chunk);  // 0, or -1 when cudaMalloc fails
void *cuda_arena_alloc(CudaArena *a, size_t bytes);     // NULL when the device is out of memory
void cuda_arena_free(CudaArena *a, void *p);            // p from cuda_arena_alloc (NULL is fine)
void cuda_arena_release(CudaArena *a);                  // frees every chunk

// ---- the backend's private state ----
#define CUDA_MAX_RETIRED 64
typedef struct ConvCache ConvCache;  // conv_cuda.cu: cuDNN descriptors and algorithms per shape

typedef struct {
  int device, tf32;
  int deterministic;  // cuDNN runs only deterministic algorithms where it has one (conv_cuda.cu)
  int engine_search;  // also time cuDNN's graph-API engines (conv_engines.cu) and run the fastest
  int engines_failed;  // the graph API refused a convolution graph (said once)
  cudaDeviceProp prop;
  cudaStream_t stream;  // every kernel, copy and library call is queued here, in order
  cublasHandle_t cublas;
  cudnnHandle_t cudnn;
  CudaArena arena;
  ConvCache *convs;
  void *blas_workspace;  // cuBLAS's, set explicitly so that recorded graphs never allocate one
  void *workspace;  // one cuDNN workspace, grown when a newly planned shape needs more
  size_t workspace_size;
  float *partials;  // device scratch for the block partial sums of sumsq
  float *partials_host;
  float *scratch;   // per-(sample, channel) partial sums of the two-stage reductions
  size_t scratch_bytes;
  void *retired[CUDA_MAX_RETIRED];  // outgrown buffers, kept for recorded graphs (cuda_grow)
  int nretired;
} CudaCtx;

static inline CudaCtx *cuda_ctx(Backend *be) { return (CudaCtx *)be->ctx; }

// Says that the device has no room for `bytes` more of `what` (what it holds, what is free) and
// exits: there is no smaller way to run the op.
[[noreturn]] void cuda_out_of_memory(CudaCtx *c, const char *what, size_t bytes);

// Grows a device buffer (`what`, for messages) to at least `need` bytes, and to at least twice its
// size, so that growth is rare and the buffers ever made add up to less than twice the last.
// The old buffer is retired, not freed: a recorded graph (graph_cuda.cu) may still point into
// it. Retired buffers go when the backend does.
static inline void cuda_grow(CudaCtx *c, const char *what, void **buf, size_t *cap, size_t need) {
  if (need <= *cap) return;
  size_t bytes = need < 2 * *cap ? 2 * *cap : need;
  cuda_lock();
  void *p = NULL;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation && bytes > need) {  // the doubling was generous: what is needed
    (void)cudaGetLastError();
    bytes = need;
    e = cudaMalloc(&p, bytes);
  }
  if (e == cudaErrorMemoryAllocation) cuda_out_of_memory(c, what, bytes);
  CUDA_CHECK(e);
  if (p) {  // (a failure only returns while a graph is recorded: the old buffer then stays)
    if (*buf) {
      if (c->nretired == CUDA_MAX_RETIRED) {  // cannot happen with doubling; be safe anyway
        CUDA_CHECK(cudaDeviceSynchronize());
        for (int i = 0; i < c->nretired; i++) CUDA_CHECK(cudaFree(c->retired[i]));
        c->nretired = 0;
      }
      c->retired[c->nretired++] = *buf;
    }
    *buf = p;
    *cap = bytes;
  }
  cuda_unlock();
}

// Device scratch of at least n floats (sizes repeat every step, so it rarely grows).
static inline float *cuda_scratch(CudaCtx *c, size_t n) {
  cuda_grow(c, "reduction scratch", (void **)&c->scratch, &c->scratch_bytes, n * sizeof(float));
  return c->scratch;
}

// Each file fills in its share of the vtable.
void cuda_install_conv(Backend *be);
void cuda_install_ops(Backend *be);
void cuda_install_optim(Backend *be);
void cuda_install_graph(Backend *be);
void cuda_install_groupnorm(Backend *be);
// dv[c] += sum over b of part[b*C + c] (ops_cuda.cu): the second stage of per-channel sums.
void cuda_col_sum(CudaCtx *c, int B, int C, const float *part, float *dv);
void cuda_conv_cache_destroy(CudaCtx *c);

// ---- convolutions through cuDNN's graph API (conv_engines.cu) ----
typedef struct {
  cudnnBackendDescriptor_t plan;  // a finalized execution plan
  int64_t engine;                 // cuDNN's global engine index (for reports)
  size_t workspace;               // bytes
  int deterministic;              // no NONDETERMINISTIC note
} ConvEngine;
#define CONV_MAX_ENGINES 24
typedef struct {
  int n;
  ConvEngine e[CONV_MAX_ENGINES];
  void *owned;  // the descriptors the plans were made from, which live as long as they do
} ConvEngines;
// The execution plans cuDNN's heuristics offer for direction dir of d that keep to the math the
// backend allows and need at most `limit` bytes of workspace, in the heuristics' order; returns
// how many (0 when there are none or the graph API fails: the legacy algorithm then runs).
// alpha is 1; beta is 0 forward and 1 backward (the backward ops accumulate).
int conv_engines_find(CudaCtx *c, const ConvDesc *d, ConvDir dir, size_t limit, ConvEngines *out);
// Destroys every plan but the one at `keep`; keep = -1 destroys all and what they were made from.
void conv_engines_keep(ConvEngines *es, int keep);
// Queues plan e on (x, w, y), which are (dx, w, dy) backward-data and (x, dw, dy) backward-filter;
// returns the status, and with `check` a failure is fatal and names the call, as CUDNN_CHECK does.
cudnnStatus_t conv_engine_run(CudaCtx *c, const ConvEngine *e, const void *x, const void *w, const void *y, void *ws,
                              int check);
// The tensors were declared 16-byte aligned: a pointer that is not runs the legacy algorithm.
int conv_engine_aligned(const void *x, const void *w, const void *y);

// ---- launch helpers ----
// Every kernel launch is written KLAUNCH(kernel, grid, block, stream)(args...): nvcc's
// triple-chevron launch, spelt so that a build without nvcc can launch the same kernels its own
// way (its cuda_runtime.h then defines KLAUNCH).
#ifndef KLAUNCH
#define KLAUNCH(kernel, grid, block, stream) kernel<<<(grid), (block), 0, (stream)>>>
#endif
#define SUMSQ_BLOCKS 1024  // fixed, so the sum of squares is reduced in the same order every time

// Blocks for a grid-stride loop over n items; the loops below cover any n.
static inline unsigned grid_for(size_t n, int threads) {
  size_t g = (n + threads - 1) / threads;
  return (unsigned)(g < 1 ? 1 : g > (1u << 20) ? (1u << 20) : g);
}
#define GRID_STRIDE(i, n) \
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

// Threads for a block that reduces `count` values: a multiple of 32, at most 256.
static inline int threads_for(size_t count) {
  if (count >= 256) return 256;
  int t = (int)((count + 31) / 32 * 32);
  return t < 32 ? 32 : t;
}

// ---- reductions (float, in a fixed order: results are deterministic) ----
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum over the whole block (blockDim.x a multiple of 32); every thread receives the total.
// Safe to call several times in a row: the first barrier keeps the previous call's readers
// ahead of this call's writers.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  return warp_sum(lane < nwarps ? part[lane] : 0.0f);
}
