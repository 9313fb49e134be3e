// test_cuda_emu.cpp — the CUDA emulator itself: its primitives, that a missing __syncthreads
// gives wrong results under it, and that a deadlocking kernel is reported, not left hanging.
// (test_cuda.c runs our real kernels under it, against the CPU reference.)
//
// The kernels here are written for the test, in CUDA, and launched as the backend's are.
#include <signal.h>
#include <sys/wait.h>

#include <stdlib.h>

#include "tests/cuda_emu/cublas_emu.h"
#include "tests/cuda_emu/cudnn_graph_emu.h"
#include "tests/test.h"

#define LAUNCH(kernel, grid, block) CUDA_EMU_LAUNCH(kernel, grid, block, nullptr)

// Kernels take device memory only (the emulator checks every pointer argument, and host code
// cannot read it): a device copy of n values of host, and back. Never freed: the tests' few KiB
// live until the end.
template <typename T> static T *to_device(const T *host, size_t n) {
  void *p = NULL;
  if (cudaMalloc(&p, n * sizeof(T)) != cudaSuccess) abort();
  if (host && cudaMemcpy(p, host, n * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess) abort();
  return (T *)p;
}
template <typename T> static void to_host(T *host, const T *dev, size_t n) {
  if (cudaMemcpy(host, dev, n * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) abort();
}

// ---- primitives ----

// Every shuffle flavour, per thread; widths below 32 keep lanes inside their group.
__global__ static void shuffles_kernel(const int *x, int *out) {
  const int t = threadIdx.x, v = x[t];
  int *o = out + 6 * t;
  o[0] = __shfl_xor_sync(0xffffffffu, v, 1);
  o[1] = __shfl_xor_sync(0xffffffffu, v, 8, 8);  // lane ^ 8 leaves its group of 8: its own value
  o[2] = __shfl_down_sync(0xffffffffu, v, 3);
  o[3] = __shfl_up_sync(0xffffffffu, v, 2, 16);
  o[4] = __shfl_sync(0xffffffffu, v, 7);
  __syncwarp();
  o[5] = __shfl_xor_sync(0xffffffffu, v, 31);
}

// Half the block returns at once; the rest meet at __syncthreads (the returned count as arrived)
// and read what the others wrote to shared memory before it.
__global__ static void early_return_kernel(int *out) {
  __shared__ int s[128];
  const int t = threadIdx.x;
  if (t >= 64) return;
  s[t] = 1000 * (int)blockIdx.x + t;
  __syncthreads();
  out[blockIdx.x * 64 + t] = s[63 - t];
}

__global__ static void count_kernel(int *out) { out[blockIdx.x * blockDim.x + threadIdx.x]++; }

TEST(cuda_emu_primitives) {
  cuda_emu_seed(1);
  int x[64], out[64 * 6];
  for (int t = 0; t < 64; t++) x[t] = 100 + 3 * t;
  int *dx = to_device(x, 64), *dout = to_device<int>(NULL, 64 * 6);
  LAUNCH(shuffles_kernel, 1, 64)(dx, dout);
  ASSERT(cudaGetLastError() == cudaSuccess);
  to_host(out, dout, 64 * 6);
  for (int t = 0; t < 64; t++) {
    const int lane = t % 32, w0 = t - lane;
    const int up = lane % 16 >= 2 ? lane - 2 : lane, down = lane + 3 < 32 ? lane + 3 : lane;
    const int want[6] = {x[w0 + (lane ^ 1)], x[t], x[w0 + down], x[w0 + up], x[w0 + 7], x[w0 + (lane ^ 31)]};
    for (int k = 0; k < 6; k++)
      ASSERTF(out[6 * t + k] == want[k], "thread %d, shuffle %d: %d, want %d", t, k, out[6 * t + k], want[k]);
  }

  int got[3 * 64], *dgot = to_device<int>(NULL, 3 * 64);
  LAUNCH(early_return_kernel, 3, 128)(dgot);
  to_host(got, dgot, 3 * 64);
  for (int b = 0; b < 3; b++)
    for (int t = 0; t < 64; t++) ASSERT_EQ_INT(got[b * 64 + t], 1000 * b + 63 - t);

  // Each of 5 x 96 threads runs once; bad configurations launch nothing and say so, as in CUDA.
  int cnt[480] = {0}, *dcnt = to_device(cnt, 480);
  unsigned long long before = cuda_emu_threads_run();
  LAUNCH(count_kernel, 5, 96)(dcnt);
  ASSERT(cudaGetLastError() == cudaSuccess);
  ASSERT_EQ_INT(cuda_emu_threads_run() - before, 480);
  LAUNCH(count_kernel, 0, 96)(dcnt);
  ASSERT(cudaGetLastError() == cudaErrorInvalidConfiguration);
  ASSERT(cudaGetLastError() == cudaSuccess);  // read once, then cleared
  LAUNCH(count_kernel, 1, 1025)(dcnt);
  ASSERT(cudaGetLastError() == cudaErrorInvalidConfiguration);
  to_host(cnt, dcnt, 480);
  for (int i = 0; i < 480; i++) ASSERT_EQ_INT(cnt[i], 1);

  // Device memory comes back poisoned (NaN), as nothing zeroes cudaMalloc's memory on a GPU.
  float *p = NULL, h[16];
  ASSERT(cudaMalloc(&p, 16 * sizeof(float)) == cudaSuccess);
  to_host(h, p, 16);
  for (int i = 0; i < 16; i++) ASSERT(isnan(h[i]));
  ASSERT(cudaFree(p) == cudaSuccess);
}

// ---- a missing __syncthreads is a wrong result ----

// Each thread stores its value in shared memory and reads its left neighbour's. Without the
// barrier between the store and the load it is a race (a read before the write).
template <bool Barrier> __global__ static void shift_kernel(const float *x, float *y) {
  __shared__ float s[256];
  const int t = threadIdx.x;
  const size_t i = (size_t)blockIdx.x * blockDim.x + t;
  s[t] = x[i];
  if (Barrier) __syncthreads();
  y[i] = t ? s[t - 1] : 0.0f;
}

// The block reduction of cuda_common.cuh, called twice in a row, with the first of its two
// barriers optional. Without it a warp that has read the first sum can go on and overwrite
// part[] with the second before slower warps have read the first (a write after a read).
__device__ __forceinline__ static float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <bool FirstBarrier> __device__ __forceinline__ static float block_sum(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_sum(v);
  if (FirstBarrier) __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  return warp_sum(lane < nwarps ? part[lane] : 0.0f);
}
template <bool FirstBarrier> __global__ static void two_sums_kernel(const float *x, float *sum1, float *sum2) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  sum1[i] = block_sum<FirstBarrier>(x[i]);
  sum2[i] = block_sum<FirstBarrier>(2.0f * x[i] + 1.0f);
}

// How many of the n values of y differ from want.
static int wrong(const float *y, const float *want, int n) {
  int bad = 0;
  for (int i = 0; i < n; i++) bad += y[i] != want[i];
  return bad;
}

TEST(cuda_emu_catches_missing_syncthreads) {
  enum { BLOCKS = 8, T = 256, N = BLOCKS * T };
  static float x[N], y[N], want[N], s1[N], s2[N], want1[N], want2[N];
  float *dx = to_device<float>(NULL, N), *dy = to_device<float>(NULL, N), *ds1 = to_device<float>(NULL, N),
        *ds2 = to_device<float>(NULL, N);
  for (int i = 0; i < N; i++) x[i] = (float)(i % 97) - 40.0f;  // small integers: every sum is exact
  for (int i = 0; i < N; i++) want[i] = i % T ? x[i - 1] : 0.0f;
  for (int b = 0; b < BLOCKS; b++) {
    float a = 0, c = 0;
    for (int t = 0; t < T; t++) a += x[b * T + t], c += 2.0f * x[b * T + t] + 1.0f;
    for (int t = 0; t < T; t++) want1[b * T + t] = a, want2[b * T + t] = c;
  }

  cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice);
  // Runs the kernel (launched by `run`) and counts the wrong values of one or two outputs.
#define WRONG_AFTER(run, dev, host, want) (run, to_host(host, dev, N), wrong(host, want, N))

  // With its barrier the shift is right in any order.
  cuda_emu_seed(1);
  ASSERT_EQ_INT(WRONG_AFTER(LAUNCH(shift_kernel<true>, BLOCKS, T)(dx, dy), dy, y, want), 0);
  // Without it, threads resumed in thread order happen to write before their right neighbours
  // read: it passes by luck, as it might on a GPU...
  cuda_emu_in_order(1);
  int lucky = WRONG_AFTER(LAUNCH(shift_kernel<false>, BLOCKS, T)(dx, dy), dy, y, want);
  cuda_emu_in_order(0);
  // ... and the randomised order turns the race into wrong values.
  int racy = WRONG_AFTER(LAUNCH(shift_kernel<false>, BLOCKS, T)(dx, dy), dy, y, want);
  printf("    shift without __syncthreads: %d of %d values wrong in thread order, %d in random order\n", lucky, N,
         racy);
  ASSERT_EQ_INT(lucky, 0);
  ASSERTF(racy > 0, "the race went unnoticed");

  // Two block sums in a row: right with both barriers, wrong without the first.
  int good = WRONG_AFTER(LAUNCH(two_sums_kernel<true>, BLOCKS, T)(dx, ds1, ds2), ds1, s1, want1) +
             WRONG_AFTER((void)0, ds2, s2, want2);
  ASSERT_EQ_INT(good, 0);
  int bad = WRONG_AFTER(LAUNCH(two_sums_kernel<false>, BLOCKS, T)(dx, ds1, ds2), ds1, s1, want1) +
            WRONG_AFTER((void)0, ds2, s2, want2);
  printf("    block_sum twice without its first __syncthreads: %d of %d sums wrong\n", bad, 2 * N);
  ASSERTF(bad > 0, "the race went unnoticed");
#undef WRONG_AFTER
}

// ---- deadlocks are reported ----

// Half of each warp shuffles while the other half waits at __syncthreads: neither barrier can
// ever complete.
__global__ static void divergent_shuffle_kernel(float *x) {
  float v = x[threadIdx.x];
  if (threadIdx.x % 32 < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
  __syncthreads();
  x[threadIdx.x] = v;
}

// The upper half of each warp returns; the lower half shuffles with it.
__global__ static void half_warp_returns_kernel(float *x) {
  if (threadIdx.x % 32 >= 16) return;
  x[threadIdx.x] = __shfl_xor_sync(0xffffffffu, x[threadIdx.x], 1);
}

static void run_divergent_shuffle(void) {
  float *x = to_device<float>(NULL, 64);
  LAUNCH(divergent_shuffle_kernel, 2, 64)(x);
}
static void run_half_warp_returns(void) {
  float *x = to_device<float>(NULL, 64);
  LAUNCH(half_warp_returns_kernel, 1, 64)(x);
}

// Runs fn in a child process; returns what it wrote to stderr (in msg) and how it ended: 1 when
// it died of SIGABRT, 0 when it returned, -1 otherwise (it hung, or died of another signal).
static int in_child(void (*fn)(void), char *msg, size_t cap) {
  int status = test_in_child(fn, 20, msg, cap);
  if (status != -1 && WIFSIGNALED(status)) return WTERMSIG(status) == SIGABRT ? 1 : -1;
  return status == -1 ? -1 : 0;
}

static void print_indented(const char *text) {
  for (const char *p = text; *p;) {
    const char *e = strchr(p, '\n');
    int len = e ? (int)(e - p) : (int)strlen(p);
    printf("    %.*s\n", len, p);
    p += len + (e != NULL);
  }
}

TEST(cuda_emu_reports_deadlock) {
  static char msg[8192];
  cuda_emu_seed(1);
  int how = in_child(run_divergent_shuffle, msg, sizeof msg);
  print_indented(msg);
  ASSERTF(how == 1, "the deadlocked kernel %s", how == 0 ? "returned" : "hung (or died of another signal)");
  ASSERT(strstr(msg, "deadlock in divergent_shuffle_kernel<<<2, 64>>>, block 0"));
  ASSERT(strstr(msg, "threads 0-15 at __shfl_xor_sync, threads 16-31 at __syncthreads"));

  how = in_child(run_half_warp_returns, msg, sizeof msg);
  print_indented(msg);
  ASSERTF(how == 1, "the partial-warp shuffle %s", how == 0 ? "returned" : "hung (or died of another signal)");
  ASSERT(strstr(msg, "half_warp_returns_kernel<<<1, 64>>>"));
  ASSERT(strstr(msg, "lanes of its warp"));
}

// ---- device memory, streams, capture and graphs ----

__global__ static void add_one_kernel(float *x, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) x[i] += 1.0f;
}

static float *device_floats;
static void host_reads_device_memory(void) {
  volatile float v = device_floats[0];  // a host read through a device pointer
  (void)v;
}

// Device memory is the device's: host code faults on it; a kernel given a host pointer or one
// into freed memory launches nothing, says why, and reports cudaErrorIllegalAddress; a copy past
// the end of a block, or of the wrong kind, is refused.
TEST(cuda_emu_device_memory_is_checked) {
  float *d = to_device<float>(NULL, 64), host[64] = {0};
  device_floats = d;
  char msg[4096];
  int status = test_in_child(host_reads_device_memory, 20, msg, sizeof msg);
#ifdef __SANITIZE_ADDRESS__
  // make SAN=1: AddressSanitizer's own SIGSEGV handler reports the fault and exits with status 1.
  int faulted = status != -1 && WIFEXITED(status) && strstr(msg, "AddressSanitizer: SEGV on unknown address");
#else
  int faulted = status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
#endif
  ASSERTF(faulted, "a host read of device memory did not fault (status %d): %.300s", status, msg);

  LAUNCH(add_one_kernel, 1, 32)(host, 64);
  ASSERT(cudaGetLastError() == cudaErrorIllegalAddress);
  LAUNCH(add_one_kernel, 1, 32)(d + 64, 0);  // one past the end, nothing read: fine
  ASSERT(cudaGetLastError() == cudaSuccess);
  ASSERT(cudaMemcpy(d + 32, host, 64 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  ASSERT(cudaMemcpy(host, d, 16, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // the kind lies
  float *gone = to_device<float>(NULL, 16);
  ASSERT(cudaFree(gone) == cudaSuccess);
  LAUNCH(add_one_kernel, 1, 32)(gone, 16);
  ASSERT(cudaGetLastError() == cudaErrorIllegalAddress);
  ASSERT(cudaFree(gone) == cudaErrorInvalidValue);  // twice
  (void)cudaGetLastError();
}

// A captured stream records instead of running, with the arguments of the moment; the graph
// replays them as often as it is launched. What CUDA refuses during a capture voids it.
TEST(cuda_emu_capture_records_and_refuses) {
  cudaStream_t s;
  ASSERT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  float zero[8] = {0}, got[8];
  float *d = to_device(zero, 8);

  ASSERT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  CUDA_EMU_LAUNCH(add_one_kernel, 1, 32, s)(d, 8);
  CUDA_EMU_LAUNCH(add_one_kernel, 1, 32, s)(d, 4);
  cudaGraph_t g;
  ASSERT(cudaStreamEndCapture(s, &g) == cudaSuccess && g);
  to_host(got, d, 8);
  ASSERTF(got[0] == 0.0f, "a captured launch ran (%g)", got[0]);  // recorded, not run
  cudaGraphExec_t e;
  ASSERT(cudaGraphInstantiate(&e, g, 0) == cudaSuccess);
  ASSERT(cudaGraphDestroy(g) == cudaSuccess);  // the executable graph keeps what it needs
  for (int i = 0; i < 3; i++) ASSERT(cudaGraphLaunch(e, s) == cudaSuccess);
  to_host(got, d, 8);
  ASSERTF(got[0] == 6.0f && got[7] == 3.0f, "after three replays: %g %g", got[0], got[7]);
  ASSERT(cudaGraphExecDestroy(e) == cudaSuccess);

  // Each refused call fails, and the capture then ends as invalidated, giving no graph.
  struct { const char *what; int (*call)(float *, cudaStream_t); } refused[] = {
      {"cudaMalloc", [](float *, cudaStream_t) { void *p; return (int)cudaMalloc(&p, 16); }},
      {"cudaFree", [](float *d, cudaStream_t) { return (int)cudaFree(d); }},
      {"cudaMemcpy", [](float *d, cudaStream_t) { float h[2]; return (int)cudaMemcpy(h, d, 8, cudaMemcpyDeviceToHost); }},
      {"a host copy", [](float *d, cudaStream_t s) { float h[2] = {0}; return (int)cudaMemcpyAsync(d, h, 8, cudaMemcpyHostToDevice, s); }},
      {"sync", [](float *, cudaStream_t s) { return (int)cudaStreamSynchronize(s); }},
      {"device sync", [](float *, cudaStream_t) { return (int)cudaDeviceSynchronize(); }},
  };
  for (auto &r : refused) {
    ASSERT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CUDA_EMU_LAUNCH(add_one_kernel, 1, 32, s)(d, 8);
    ASSERTF(r.call(d, s) == cudaErrorStreamCaptureUnsupported, "%s during a capture was allowed", r.what);
    cudaGraph_t none = (cudaGraph_t)1;
    ASSERTF(cudaStreamEndCapture(s, &none) == cudaErrorStreamCaptureInvalidated && !none,
            "the capture survived %s", r.what);
    (void)cudaGetLastError();
  }
  to_host(got, d, 8);
  ASSERT(got[0] == 6.0f);  // nothing of the voided captures ran
  // Device-to-device copies and memsets are recorded like launches.
  ASSERT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  ASSERT(cudaMemsetAsync(d, 0, 8 * sizeof(float), s) == cudaSuccess);
  ASSERT(cudaStreamEndCapture(s, &g) == cudaSuccess && g);
  to_host(got, d, 8);
  ASSERT(got[0] == 6.0f);
  ASSERT(cudaGraphInstantiate(&e, g, 0) == cudaSuccess && cudaGraphLaunch(e, s) == cudaSuccess);
  to_host(got, d, 8);
  ASSERT(got[0] == 0.0f);
  cudaGraphExecDestroy(e);
  cudaGraphDestroy(g);
  ASSERT(cudaStreamDestroy(s) == cudaSuccess);
}

// ---- cuDNN's graph API ----

// The emulated graph API refuses what cuDNN refuses (a wrong attribute type or count, an
// attribute of another kind, setting a finalized descriptor, a tensor that is not packed, an
// operation whose y is not its output, a variant pack without one of the graph's tensors or
// with a pointer less aligned than its tensor declared) and runs what it accepts: a 1x1
// convolution by hand, beta adding to y, and events timing it at the engine's made-up cost.
static cudnnBackendDescriptor_t desc(cudnnBackendDescriptorType_t t) {
  cudnnBackendDescriptor_t d = NULL;
  if (cudnnBackendCreateDescriptor(t, &d) != CUDNN_STATUS_SUCCESS) abort();
  return d;
}
static cudnnBackendDescriptor_t tensor4(int64_t uid, int64_t n, int64_t c, int64_t h, int64_t w, bool packed = true) {
  cudnnBackendDescriptor_t t = desc(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const int64_t dims[4] = {n, c, h, w}, strides[4] = {c * h * w, h * w, packed ? w : w + 1, 1}, align = 16;
  const cudnnDataType_t f = CUDNN_DATA_FLOAT;
  cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
  cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
  cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
  cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
  return t;
}

TEST(cuda_emu_graph_api_checks_and_runs) {
  const long live_before = cuda_emu_backend_descriptors();
  cudnnHandle_t h;
  cudnnCreate(&h);
  // x (1,2,1,2), w (1,2,1,1): y[0,0,0,j] = 3 x[0,0,0,j] + 5 x[0,1,0,j]
  cudnnBackendDescriptor_t x = tensor4('x', 1, 2, 1, 2), w = tensor4('w', 1, 2, 1, 1), y = tensor4('y', 1, 1, 1, 2);
  cudnnBackendDescriptor_t y_wrong = tensor4('y', 1, 1, 1, 3), x_strided = tensor4('x', 1, 2, 2, 2, false);
  ASSERT(cudnnBackendFinalize(x_strided) == CUDNN_STATUS_NOT_SUPPORTED);  // not packed
  for (cudnnBackendDescriptor_t t : {x, w, y, y_wrong}) ASSERT(cudnnBackendFinalize(t) == CUDNN_STATUS_SUCCESS);
  const int64_t one = 1, zero2[2] = {0, 0}, one2[2] = {1, 1}, two = 2;
  ASSERT(cudnnBackendSetAttribute(x, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &one) == CUDNN_STATUS_BAD_PARAM);

  cudnnBackendDescriptor_t conv = desc(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const cudnnDataType_t f = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  ASSERT(cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_FLOAT, 1, &two) ==
         CUDNN_STATUS_BAD_PARAM);  // an int64 attribute given as float
  ASSERT(cudnnBackendSetAttribute(conv, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &one) ==
         CUDNN_STATUS_BAD_PARAM);  // a tensor's attribute
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &two);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, zero2);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, zero2);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, one2);
  ASSERT(cudnnBackendFinalize(conv) == CUDNN_STATUS_BAD_PARAM);  // no dilations yet
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, one2);
  ASSERT(cudnnBackendFinalize(conv) == CUDNN_STATUS_SUCCESS);

  auto op_with = [&](cudnnBackendDescriptor_t yd) {
    cudnnBackendDescriptor_t op = desc(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    const float alpha = 1.0f, beta = 1.0f;
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &yd);
    return op;
  };
  cudnnBackendDescriptor_t bad_op = op_with(y_wrong), op = op_with(y);
  ASSERT(cudnnBackendFinalize(bad_op) == CUDNN_STATUS_BAD_PARAM);  // y is not the output
  ASSERT(cudnnBackendFinalize(op) == CUDNN_STATUS_SUCCESS);

  cudnnBackendDescriptor_t graph = desc(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  cudnnBackendSetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op);
  cudnnBackendSetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
  ASSERT(cudnnBackendFinalize(graph) == CUDNN_STATUS_SUCCESS);
  cudnnBackendDescriptor_t heur = desc(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t instant = CUDNN_HEUR_MODE_INSTANT;
  cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
  cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &instant);
  ASSERT(cudnnBackendFinalize(heur) == CUDNN_STATUS_SUCCESS);
  int64_t count = 0;
  ASSERT(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL) ==
         CUDNN_STATUS_SUCCESS);
  ASSERT(count > 0);
  cudnnBackendDescriptor_t cfg = desc(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  ASSERT(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &cfg) ==
         CUDNN_STATUS_SUCCESS);
  cudnnBackendDescriptor_t plan = desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
  cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg);
  ASSERT(cudnnBackendFinalize(plan) == CUDNN_STATUS_SUCCESS);
  int64_t ws_bytes = -1;
  ASSERT(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &count,
                                  &ws_bytes) == CUDNN_STATUS_SUCCESS);

  const float hx[4] = {1, 2, 10, 20}, hw[2] = {3, 5}, hy[2] = {100, 200};
  float *dx = to_device(hx, 4), *dw = to_device(hw, 2), *dy = to_device(hy, 2), *ws = to_device<float>(NULL, ws_bytes / 4 + 1);
  auto pack_of = [&](void *xp, int n_bound) {
    cudnnBackendDescriptor_t pack = desc(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    void *ptr[3] = {xp, dw, dy};
    const int64_t uid[3] = {'x', 'w', 'y'};
    cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n_bound, ptr);
    cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n_bound, uid);
    cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    cudnnBackendFinalize(pack);
    return pack;
  };
  cudnnBackendDescriptor_t missing = pack_of(dx, 2), misaligned = pack_of(dx + 1, 3), pack = pack_of(dx, 3);
  ASSERT(cudnnBackendExecute(h, plan, missing) == CUDNN_STATUS_BAD_PARAM);
  ASSERT(cudnnBackendExecute(h, plan, misaligned) == CUDNN_STATUS_BAD_PARAM);
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  cudaEventRecord(t0);
  ASSERT(cudnnBackendExecute(h, plan, pack) == CUDNN_STATUS_SUCCESS);
  cudaEventRecord(t1);
  float ms = -1, got[2];
  ASSERT(cudaEventElapsedTime(&ms, t0, t1) == cudaSuccess);
  to_host(got, dy, 2);
  printf("    y = %g %g (want 153 306), %.3f ms of made-up device time\n", got[0], got[1], ms);
  ASSERT(got[0] == 100 + 3 * 1 + 5 * 10 && got[1] == 200 + 3 * 2 + 5 * 20);
  ASSERT(ms > 0);
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  for (cudnnBackendDescriptor_t d : {x, w, y, y_wrong, x_strided, conv, bad_op, op, graph, heur, cfg, plan, missing,
                                     misaligned, pack})
    ASSERT(cudnnBackendDestroyDescriptor(d) == CUDNN_STATUS_SUCCESS);
  ASSERT(cudnnBackendDestroyDescriptor(x) == CUDNN_STATUS_BAD_PARAM);  // destroyed twice
  ASSERT_EQ_INT(cuda_emu_backend_descriptors(), live_before);
  cudnnDestroy(h);
}
