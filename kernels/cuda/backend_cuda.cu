// backend_cuda.cu — the CUDA backend: creation, memory, copies and GEMM (cuBLAS).
//
// The rest of the vtable lives beside it: conv_cuda.cu (cuDNN convolutions), ops_cuda.cu
// (normalisation, activations, softmax, elementwise and layout kernels) and optim_cuda.cu
// (loss, AdamW, EMA, sum of squares). All work goes into one stream, in order; only copies to
// or from the host and sumsq wait for it.
#include "cuda_common.cuh"
#include <pthread.h>

#define CUDA_ARENA_FIRST_CHUNK ((size_t)256 << 20)
#define BLAS_WORKSPACE ((size_t)32 << 20)  // NVIDIA's recommendation for Hopper

void cuda_fatal(const char *what, const char *detail, const char *call, const char *file, int line) {
  fprintf(stderr, "stepscope: %s error: %s\n  in %s\n  at %s:%d\n", what, detail, call, file, line);
  exit(1);
}

static pthread_mutex_t process_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
void cuda_lock(void) { pthread_mutex_lock(&process_lock); }
void cuda_unlock(void) { pthread_mutex_unlock(&process_lock); }

// ---- memory ----

void cuda_out_of_memory(CudaCtx *c, const char *what, size_t bytes) {
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  fprintf(stderr, "stepscope: out of GPU memory: %.1f MiB asked for (%s); the arena holds %.1f MiB (%.1f MiB in "
          "use), the device has %.1f MiB free of %.1f MiB (a smaller --batch needs less)\n", bytes / 1048576.0, what,
          c->arena.reserved / 1048576.0, c->arena.in_use / 1048576.0, free_b / 1048576.0, total_b / 1048576.0);
  exit(1);
}

static float *cu_alloc(Backend *be, size_t n) {
  CudaCtx *c = cuda_ctx(be);
  size_t bytes = (n ? n : 1) * sizeof(float);
  void *p = cuda_arena_alloc(&c->arena, bytes);
  if (!p) cuda_out_of_memory(c, "a tensor", bytes);
  CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, c->stream));
  return (float *)p;
}

static void cu_free(Backend *be, float *p) { cuda_arena_free(&cuda_ctx(be)->arena, p); }

// Copies from and to pageable host memory, which the driver stages and may synchronise for:
// under cuda_lock, so that none lands inside another thread's graph capture. Uncontended, the
// lock costs nanoseconds; contended, the wait is one capture (a forward's launches).
static void cu_upload(Backend *be, float *dst, const float *host_src, size_t n) {
  if (!n) return;
  CudaCtx *c = cuda_ctx(be);
  cuda_lock();
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice, c->stream));
  CUDA_CHECK(cudaStreamSynchronize(c->stream));
  cuda_unlock();
}

static void cu_download(Backend *be, float *host_dst, const float *src, size_t n) {
  if (!n) return;
  CudaCtx *c = cuda_ctx(be);
  cuda_lock();
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
  CUDA_CHECK(cudaStreamSynchronize(c->stream));
  cuda_unlock();
}

static void cu_copy(Backend *be, float *dst, const float *src, size_t n) {
  if (!n || dst == src) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, cuda_ctx(be)->stream));
}

// Every op of this backend goes into its stream; other backends' streams are theirs to wait for.
static void cu_sync(Backend *be) { CUDA_CHECK(cudaStreamSynchronize(cuda_ctx(be)->stream)); }

// ---- dense algebra ----

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major matrix is its
// own transpose read column-major: so cuBLAS gets B before A, with the same transpose flags, and
// the sizes (N, M, K). Leading dimensions are the row lengths of the stored matrices.
static void cu_gemm(Backend *be, int batch, int transA, int transB, int M, int N, int K, float alpha,
                    const float *A, long strideA, const float *B, long strideB, float beta, float *C,
                    long strideC) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  CudaCtx *c = cuda_ctx(be);
  int lda = transA ? M : K;  // A stored (K,M) when transposed, else (M,K)
  int ldb = transB ? K : N;  // B stored (N,K) when transposed, else (K,N)
  CUBLAS_CHECK(cublasSgemmStridedBatched(c->cublas, transB ? CUBLAS_OP_T : CUBLAS_OP_N,
                                         transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb,
                                         strideB, A, lda, strideA, &beta, C, N, strideC, batch));
}

// ---- creation ----

// Fills a few floats on the device and reads them back: proves that this build's kernels run
// on this device (compute capability, driver) before anyone trusts the backend.
__global__ static void probe_kernel(float *x, int n) {
  int i = threadIdx.x;
  if (i < n) x[i] = 1.0f + i;
}

static int probe(CudaCtx *c, Err *err) {
  float *d = (float *)cuda_arena_alloc(&c->arena, 32 * sizeof(float)), h[32];
  KLAUNCH(probe_kernel, 1, 32, c->stream)(d, 32);
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaMemcpyAsync(h, d, sizeof h, cudaMemcpyDeviceToHost, c->stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
  cuda_arena_free(&c->arena, d);
  if (e != cudaSuccess)
    return err_set(err, "CUDA device %s (compute capability %d.%d) cannot run this build's kernels "
                   "(built for sm_90): %s", c->prop.name, c->prop.major, c->prop.minor, cudaGetErrorString(e));
  if (h[0] != 1.0f || h[31] != 32.0f) return err_set(err, "CUDA probe kernel returned wrong values");
  return 0;
}

static void destroy(Backend *be) {
  if (!be) return;
  CudaCtx *c = cuda_ctx(be);
  if (c) {
    if (c->stream) cudaStreamSynchronize(c->stream);
    cuda_conv_cache_destroy(c);
    if (c->workspace) cudaFree(c->workspace);
    if (c->partials) cudaFree(c->partials);
    if (c->scratch) cudaFree(c->scratch);
    for (int i = 0; i < c->nretired; i++) cudaFree(c->retired[i]);
    free(c->partials_host);
    cuda_arena_release(&c->arena);
    if (c->cudnn) cudnnDestroy(c->cudnn);
    if (c->cublas) cublasDestroy(c->cublas);
    if (c->blas_workspace) cudaFree(c->blas_workspace);  // after the handle that uses it
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
  }
  free(be);
}

static void cu_destroy(Backend *be) {
  cuda_lock();
  destroy(be);
  cuda_unlock();
}

static Backend *create(const BackendOpts *opts, Err *err) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    err_set(err, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
    return NULL;
  }
  if (count == 0) {
    err_set(err, "no CUDA device found");
    return NULL;
  }

  Backend *be = (Backend *)xcalloc(1, sizeof *be);
  CudaCtx *c = (CudaCtx *)xcalloc(1, sizeof *c);
  be->name = "cuda";
  be->ctx = c;
  be->destroy = cu_destroy;
  c->tf32 = opts && opts->tf32;
  c->deterministic = !(opts && opts->nondeterministic);
  c->engine_search = opts && opts->engine_search;
  cublasStatus_t bs;
  cudnnStatus_t ds;

  if ((e = cudaSetDevice(c->device)) != cudaSuccess ||
      (e = cudaGetDeviceProperties(&c->prop, c->device)) != cudaSuccess ||
      (e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
    err_set(err, "cannot use CUDA device %d: %s", c->device, cudaGetErrorString(e));
    goto fail;
  }
  if ((bs = cublasCreate(&c->cublas)) != CUBLAS_STATUS_SUCCESS ||
      (bs = cublasSetStream(c->cublas, c->stream)) != CUBLAS_STATUS_SUCCESS ||
      (bs = cublasSetMathMode(c->cublas, c->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH)) !=
          CUBLAS_STATUS_SUCCESS) {
    err_set(err, "cuBLAS initialisation failed: %s", cublasGetStatusString(bs));
    goto fail;
  }
  // After cublasSetStream, which resets the workspace to cuBLAS's own pool.
  if ((e = cudaMalloc(&c->blas_workspace, BLAS_WORKSPACE)) != cudaSuccess ||
      (bs = cublasSetWorkspace(c->cublas, c->blas_workspace, BLAS_WORKSPACE)) != CUBLAS_STATUS_SUCCESS) {
    err_set(err, "cuBLAS workspace: %s", e != cudaSuccess ? cudaGetErrorString(e) : cublasGetStatusString(bs));
    goto fail;
  }
  if (cudnnGetVersion() / 10000 != CUDNN_MAJOR) {  // the 9.x legacy API we use is stable within a major
    err_set(err, "cuDNN library %zu does not match the headers this was built with (%d.%d)", cudnnGetVersion(),
            CUDNN_MAJOR, CUDNN_MINOR);
    goto fail;
  }
  if ((ds = cudnnCreate(&c->cudnn)) != CUDNN_STATUS_SUCCESS ||
      (ds = cudnnSetStream(c->cudnn, c->stream)) != CUDNN_STATUS_SUCCESS) {
    err_set(err, "cuDNN initialisation failed: %s (is libcudnn.so.9 and its sub-libraries on the "
            "library path?)", cudnnGetErrorString(ds));
    goto fail;
  }
  if (cuda_arena_init(&c->arena, CUDA_ARENA_FIRST_CHUNK) != 0) {
    err_set(err, "cannot reserve %zu MiB of GPU memory on %s", CUDA_ARENA_FIRST_CHUNK >> 20, c->prop.name);
    goto fail;
  }
  if ((e = cudaMalloc(&c->partials, SUMSQ_BLOCKS * sizeof(float))) != cudaSuccess) {
    err_set(err, "cudaMalloc: %s", cudaGetErrorString(e));
    goto fail;
  }
  c->partials_host = (float *)xmalloc(SUMSQ_BLOCKS * sizeof(float));
  if (probe(c, err) != 0) goto fail;

  be->alloc = cu_alloc;
  be->free = cu_free;
  be->upload = cu_upload;
  be->download = cu_download;
  be->copy = cu_copy;
  be->sync = cu_sync;
  be->gemm = cu_gemm;
  cuda_install_conv(be);
  cuda_install_ops(be);
  cuda_install_groupnorm(be);
  cuda_install_optim(be);
  cuda_install_graph(be);
  return be;

fail:
  destroy(be);
  return NULL;
}

// Creation and destruction allocate and free device memory and handles: under the process lock.
CUDA_ENTRY Backend *backend_cuda_create(const BackendOpts *opts, Err *err) {
  cuda_lock();
  Backend *be = create(opts, err);
  cuda_unlock();
  return be;
}
