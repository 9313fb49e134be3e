// cuda_emu.h — a small CUDA emulator, so that the CUDA backend runs on the CPU in CI (tests only).
//
// Compiled with g++ -std=c++17 -DSTEPSCOPE_CUDA_EMU, this header stands in for cuda_runtime.h,
// cublas_v2.h and cudnn.h, with cublas_emu.h, cudnn_emu.h and cudnn_graph_emu.h (include/ holds
// headers of those names that include them): it gives kernel code threadIdx/blockIdx/blockDim/gridDim, the
// qualifiers (__global__, __device__, __shared__, ...), __syncthreads and the warp shuffles, and
// host code the runtime calls, streams, stream capture and graphs, and the few cuBLAS and cuDNN
// calls of the backend (cublas_emu.h, cudnn_emu.h). Every file of kernels/cuda/ compiles under
// it unchanged, so the whole backend (memory arena, cuDNN plans and workspaces, graphs, the
// process lock) runs on the CPU, not only its kernels.
//
// How a launch runs (cuda_emu.cpp): blocks one after another; the threads of a block as
// cooperative fibers in the calling OS thread, each on its own small stack. A fiber runs until
// it reaches a barrier (__syncthreads: the block; a shuffle or __syncwarp: its warp) or returns,
// then the scheduler picks the next one, so __shared__ can be a plain static shared by the
// fibers of the running block. The order in which fibers are resumed is random (seeded, so a
// run can be repeated): a missing __syncthreads shows up as a wrong result, not a lucky pass.
// A thread that returned counts as arrived at __syncthreads (as on Volta and later). Some
// threads waiting at a barrier that the others never reach is a deadlock: the emulator prints
// what every thread waits for and aborts. Shuffles need whole warps of 32 with full masks.
//
// Not emulated: 2-D/3-D launches, dynamic shared memory, concurrency (work queued into a stream
// has finished when the call returns, unless the stream is being captured; launches from
// several OS threads take turns; atomics are plain read-modify-writes), a thread spinning until
// another writes a flag (the fibers are cooperative: it would hang), pinned host memory.
//
// Every name is declared in namespace cuda_emu and brought to global scope by using-declarations
// (or is a static inline function): nothing here can meet a symbol of libcudart or of the real
// CUDA objects that the same test binary links.
#pragma once
#ifndef STEPSCOPE_CUDA_EMU
#error "cuda_emu.h is for the emulated build (-DSTEPSCOPE_CUDA_EMU)"
#endif
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

// ---- C interface (also for the C tests) ----
extern "C" {
// Seeds the random order in which fibers are resumed; a test that calls it runs the same
// schedule however it was started. The environment variable STEPSCOPE_EMU_SEED, when set,
// overrides every seed (to replay or vary schedules by hand).
void cuda_emu_seed(unsigned long long seed);
// 1: resume fibers in thread order, lowest runnable thread first (no randomness). Only for the
// test that shows what the randomness catches; 0 (the default) is the randomised order.
void cuda_emu_in_order(int on);
// Fibers started (threads run) since the process began: for tests and timing.
unsigned long long cuda_emu_threads_run(void);
// Fault injection, to test the backend's failure paths: the nth call from now of `call` (a
// runtime, cuBLAS or cuDNN function, or a kernel by name) fails as that call fails (an error
// status, nothing done). NULL disarms. cuda_emu_calls counts the calls of `call` made so far.
void cuda_emu_fail_call(const char *call, int nth);
unsigned long long cuda_emu_calls(const char *call);
// cuDNN graph-API descriptors alive now (created, not yet destroyed): for tests of leaks.
long cuda_emu_backend_descriptors(void);
}

// A library's statuses are one list, X(name, value) for each: these write its enum's
// enumerators and the cases of its status-string switch (which returns the name).
#define CUDA_EMU_ENUMERATOR(name, value) name = value,
#define CUDA_EMU_NAME_CASE(name, value) \
  case name:                            \
    return #name;

// ---- kernel-side names ----
namespace cuda_emu {
struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
// Set by the scheduler before it resumes a fiber. Kernels only read them; the compiler reloads
// them after every barrier because the barriers are calls into cuda_emu.cpp, which it cannot
// see into (so no -flto for these objects).
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
static constexpr int warpSize = 32;

void __syncthreads(void);
// Waits until all 32 lanes of the caller's warp have arrived (mask must be 0xffffffff), then
// returns to each lane the `bits` that lane src_lane passed in. Whole warps only.
uint64_t warp_exchange(unsigned mask, uint64_t bits, int src_lane, const char *what);

template <typename T> static inline T shfl(unsigned mask, T v, int src_lane, const char *what) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move up to 8 bytes");
  uint64_t bits = 0;
  memcpy(&bits, &v, sizeof v);
  bits = warp_exchange(mask, bits, src_lane, what);
  memcpy(&v, &bits, sizeof v);
  return v;
}
static inline int lane_id(void) { return (int)(threadIdx.x % 32); }
}  // namespace cuda_emu

using cuda_emu::__syncthreads;
using cuda_emu::blockDim;
using cuda_emu::blockIdx;
using cuda_emu::dim3;
using cuda_emu::gridDim;
using cuda_emu::threadIdx;
using cuda_emu::uint3;
using cuda_emu::warpSize;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static  // one running block at a time: a static is that block's shared memory
#define __launch_bounds__(...)

// A lane that would read outside its group of `width` lanes reads its own value, as in CUDA.
template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  int lane = cuda_emu::lane_id(), src = lane ^ lane_mask;
  if (src / width != lane / width) src = lane;
  return cuda_emu::shfl(mask, v, src, "__shfl_xor_sync");
}
template <typename T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = cuda_emu::lane_id(), src = lane + (int)delta;
  if (src / width != lane / width) src = lane;
  return cuda_emu::shfl(mask, v, src, "__shfl_down_sync");
}
template <typename T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = cuda_emu::lane_id(), src = lane - (int)delta;
  if (src < 0 || src / width != lane / width) src = lane;
  return cuda_emu::shfl(mask, v, src, "__shfl_up_sync");
}
template <typename T> static inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  int lane = cuda_emu::lane_id();
  return cuda_emu::shfl(mask, v, lane / width * width + (src_lane & (width - 1)), "__shfl_sync");
}
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
  cuda_emu::warp_exchange(mask, 0, cuda_emu::lane_id(), "__syncwarp");
}

// Device functions that <math.h> lacks (glibc has __expf). A fiber runs alone until it reaches a
// barrier, so a plain read-modify-write is atomic.
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __fdividef(float a, float b) { return a / b; }
template <typename T> static inline T __ldg(const T *p) { return *p; }
static inline float atomicAdd(float *p, float v) { float old = *p; *p = old + v; return old; }
static inline int atomicAdd(int *p, int v) { int old = *p; *p = old + v; return old; }

// ---- runtime API ----
// What the backend's files call (runtime_emu.cpp), with the semantics that matter to them:
//  - Device memory is not host memory: cudaMalloc returns addresses that host code cannot
//    touch (a read or write through them faults, as on a GPU), backed by a private "shadow"
//    mapping that only the emulated device uses. Copies, memsets, library calls and every
//    pointer argument of a kernel launch are translated to the shadow when they run, checked on
//    the way (a host pointer, memory already freed, or a range past the end of its block is an
//    error that names the call and the argument); kernels run on the translated pointers.
//    cudaMalloc poisons what it returns (every float a NaN) up to 64 MiB; cudaFree releases the
//    shadow but keeps the addresses reserved, so they are never handed out again. The device
//    has 16 GiB, or what STEPSCOPE_EMU_DEVICE_MEMORY says (e.g. 300M), for tests of running out.
//  - Streams are real objects. Outside a capture, work queued into a stream runs at once (on the
//    calling thread), so every queue is always drained; inside one it is recorded instead.
//  - Events read the device's clock, which every op advances by a made-up cost (Op::cost_ms; a
//    convolution's depends on its shape and algorithm), so timing with events works and ranks
//    algorithms as the emulated cuDNN says they compare.
//  - Stream capture and graphs as CUDA has them: cudaStreamBeginCapture puts a stream in capture
//    mode; kernel launches, device-to-device copies, memsets, cuBLAS and cuDNN calls queued into it
//    are recorded, with their arguments as they were at the call; cudaStreamEndCapture returns
//    them as a graph, which cudaGraphInstantiate copies and cudaGraphLaunch replays. What CUDA
//    refuses during a capture fails here too, and voids the capture (cudaStreamEndCapture then
//    returns cudaErrorStreamCaptureInvalidated): on the capturing thread cudaMalloc, cudaFree,
//    synchronous copies and memsets, copies between host and device (pageable host memory), a
//    synchronisation of the capturing stream or of the device, cuDNN's algorithm search; on any
//    other thread cudaFree and cudaDeviceSynchronize (they wait for the whole device). Each
//    recorded call yields the CPU for a moment, so that other threads do run inside a capture
//    window, as they would while a real capture records hundreds of calls.
// The last error is per thread, as in CUDA.
namespace cuda_emu {
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureWrongThread = 908,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
enum { cudaStreamDefault = 0, cudaStreamNonBlocking = 1 };
typedef struct Stream *cudaStream_t;  // NULL: the legacy default stream
typedef struct Graph *cudaGraph_t;
typedef struct GraphExec *cudaGraphExec_t;
typedef struct Event *cudaEvent_t;
struct cudaDeviceProp { char name[256]; int major, minor; size_t totalGlobalMem; };

// An operation queued into a stream: run now, or recorded when the stream is being captured.
// `what` names it in error messages.
struct Op {
  virtual ~Op() {}
  virtual void run() = 0;
  // Made-up device time the op takes, in ms (what events measure): a launch's worth by default.
  virtual double cost_ms() const { return 0.002; }
  const char *what = "";
};
cudaError_t submit(cudaStream_t s, Op *op);  // takes ownership

// While one lives, this thread is the emulated device: other threads' operations wait. Every Op
// runs inside one.
struct DeviceAccess {
  DeviceAccess();
  ~DeviceAccess();
  DeviceAccess(const DeviceAccess &) = delete;
  DeviceAccess &operator=(const DeviceAccess &) = delete;
};

cudaError_t device_malloc(void **p, size_t bytes);
cudaError_t device_free(void *p);
// Whether [p, p + bytes) lies in live device memory. Otherwise says why on stderr (naming
// `what`), records cudaErrorIllegalAddress as this thread's last error and returns false.
bool check_device(const void *p, size_t bytes, const char *what);
// Where the device keeps [p, p + bytes): the shadow address of p; or NULL, said as check_device
// says it (arg >= 0: `what` is a kernel and p its argument number arg).
void *shadow_of(const void *p, size_t bytes, const char *what, int arg = -1);
bool is_device(const void *p);  // p lies in a live allocation (or one byte past its end)
// Counts a call of `call` and says whether it is the one cuda_emu_fail_call armed (it then fails).
bool injected_failure(const char *call);
// A call the capturing thread may not make: voids its capture and returns true.
bool refused_in_capture(const char *call);
bool thread_is_capturing(void);
cudaError_t set_error(cudaError_t e);  // records e for cudaGetLastError and returns it
cudaError_t take_error(void);
const char *error_string(cudaError_t e);

cudaError_t memcpy_async(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s);
cudaError_t memset_async(void *p, int v, size_t bytes, cudaStream_t s);
cudaError_t memcpy_sync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t memset_sync(void *p, int v, size_t bytes);
cudaError_t stream_create(cudaStream_t *s, unsigned flags);
cudaError_t stream_destroy(cudaStream_t s);
cudaError_t stream_synchronize(cudaStream_t s);
cudaError_t device_synchronize(void);
cudaError_t begin_capture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t end_capture(cudaStream_t s, cudaGraph_t *g);
cudaError_t graph_instantiate(cudaGraphExec_t *e, cudaGraph_t g);
cudaError_t graph_launch(cudaGraphExec_t e, cudaStream_t s);
cudaError_t graph_destroy(cudaGraph_t g);
cudaError_t graph_exec_destroy(cudaGraphExec_t e);
cudaError_t event_create(cudaEvent_t *e);
cudaError_t event_destroy(cudaEvent_t e);
cudaError_t event_record(cudaEvent_t e, cudaStream_t s);
cudaError_t event_synchronize(cudaEvent_t e);
cudaError_t event_elapsed_time(float *ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t get_device_properties(cudaDeviceProp *p, int device);
cudaError_t mem_get_info(size_t *free_bytes, size_t *total_bytes);
}  // namespace cuda_emu

using cuda_emu::cudaDeviceProp;
using cuda_emu::cudaError_t;
using cuda_emu::cudaErrorIllegalAddress;
using cuda_emu::cudaErrorIllegalState;
using cuda_emu::cudaErrorLaunchFailure;
using cuda_emu::cudaErrorInvalidConfiguration;
using cuda_emu::cudaErrorInvalidResourceHandle;
using cuda_emu::cudaErrorInvalidValue;
using cuda_emu::cudaErrorMemoryAllocation;
using cuda_emu::cudaErrorNoDevice;
using cuda_emu::cudaErrorStreamCaptureInvalidated;
using cuda_emu::cudaErrorStreamCaptureUnsupported;
using cuda_emu::cudaErrorStreamCaptureWrongThread;
using cuda_emu::cudaEvent_t;
using cuda_emu::cudaGraph_t;
using cuda_emu::cudaGraphExec_t;
using cuda_emu::cudaMemcpyDefault;
using cuda_emu::cudaMemcpyDeviceToDevice;
using cuda_emu::cudaMemcpyDeviceToHost;
using cuda_emu::cudaMemcpyHostToDevice;
using cuda_emu::cudaMemcpyHostToHost;
using cuda_emu::cudaMemcpyKind;
using cuda_emu::cudaStream_t;
using cuda_emu::cudaStreamCaptureMode;
using cuda_emu::cudaStreamCaptureModeGlobal;
using cuda_emu::cudaStreamCaptureModeRelaxed;
using cuda_emu::cudaStreamCaptureModeThreadLocal;
using cuda_emu::cudaStreamDefault;
using cuda_emu::cudaStreamNonBlocking;
using cuda_emu::cudaSuccess;

static inline cudaError_t cudaMalloc(void **p, size_t bytes) { return cuda_emu::device_malloc(p, bytes); }
template <typename T> static inline cudaError_t cudaMalloc(T **p, size_t bytes) {
  return cuda_emu::device_malloc((void **)p, bytes);
}
static inline cudaError_t cudaFree(void *p) { return cuda_emu::device_free(p); }
static inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                                          cudaStream_t s = nullptr) {
  return cuda_emu::memcpy_async(dst, src, bytes, kind, s);
}
static inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
  return cuda_emu::memcpy_sync(dst, src, bytes, kind);
}
static inline cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s = nullptr) {
  return cuda_emu::memset_async(p, v, bytes, s);
}
static inline cudaError_t cudaMemset(void *p, int v, size_t bytes) { return cuda_emu::memset_sync(p, v, bytes); }
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
  return cuda_emu::stream_create(s, flags);
}
static inline cudaError_t cudaStreamDestroy(cudaStream_t s) { return cuda_emu::stream_destroy(s); }
static inline cudaError_t cudaStreamSynchronize(cudaStream_t s) { return cuda_emu::stream_synchronize(s); }
static inline cudaError_t cudaDeviceSynchronize(void) { return cuda_emu::device_synchronize(); }
static inline cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  return cuda_emu::begin_capture(s, mode);
}
static inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) { return cuda_emu::end_capture(s, g); }
static inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags = 0) {
  return cuda_emu::graph_instantiate(e, g);
}
static inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) { return cuda_emu::graph_launch(e, s); }
static inline cudaError_t cudaGraphDestroy(cudaGraph_t g) { return cuda_emu::graph_destroy(g); }
static inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) { return cuda_emu::graph_exec_destroy(e); }
static inline cudaError_t cudaEventCreate(cudaEvent_t *e) { return cuda_emu::event_create(e); }
static inline cudaError_t cudaEventDestroy(cudaEvent_t e) { return cuda_emu::event_destroy(e); }
static inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr) {
  return cuda_emu::event_record(e, s);
}
static inline cudaError_t cudaEventSynchronize(cudaEvent_t e) { return cuda_emu::event_synchronize(e); }
static inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
  return cuda_emu::event_elapsed_time(ms, a, b);
}
static inline cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
static inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cuda_emu::set_error(cudaErrorInvalidValue); }
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) { return cuda_emu::get_device_properties(p, d); }
static inline cudaError_t cudaMemGetInfo(size_t *f, size_t *t) { return cuda_emu::mem_get_info(f, t); }
static inline cudaError_t cudaGetLastError(void) { return cuda_emu::take_error(); }
static inline const char *cudaGetErrorString(cudaError_t e) { return cuda_emu::error_string(e); }

// ---- launches ----
namespace cuda_emu {
// Runs grid.x blocks of block.x threads; each thread calls thread(arg). A bad configuration
// (no blocks, no threads, more than 1024 threads) launches nothing and is reported by
// cudaGetLastError, as in CUDA.
void run_grid(const char *kernel, dim3 grid, dim3 block, void (*thread)(const void *), const void *arg);
bool config_ok(const char *kernel, dim3 grid, dim3 block);  // false: recorded as the last error

// Every pointer among a kernel's arguments must point into live device memory (or be NULL);
// the kernel runs on its shadow.
template <typename T> static inline bool arg_ok(T &v, const char *kernel, int i) {
  if constexpr (std::is_pointer<T>::value) {
    if (v) {
      void *s = shadow_of((const void *)v, 0, kernel, i);
      if (!s) return false;
      v = (T)s;
    }
  }
  return true;
}
template <typename Tuple, size_t... I>
static inline bool args_ok(Tuple &t, const char *kernel, std::index_sequence<I...>) {
  return (arg_ok(std::get<I>(t), kernel, (int)I) && ...);
}

// launch(...)(args...) converts args to the kernel's parameter types, as a launch does, and
// queues the launch into the stream with copies of them (a recorded launch keeps the arguments
// it was given, as a graph's kernel node does).
template <typename... P> struct Launch {
  const char *name;
  void (*kernel)(P...);
  dim3 grid, block;
  cudaStream_t stream;
  struct Run : Op {
    void (*kernel)(P...);
    dim3 grid, block;
    std::tuple<P...> args, on_device;  // as given; with pointers translated, for this run
    static void thread(const void *c) {
      const Run *r = (const Run *)c;
      std::apply(r->kernel, r->on_device);  // each parameter a copy, as the kernel takes it by value
    }
    void run() override {
      on_device = args;
      if (args_ok(on_device, what, std::index_sequence_for<P...>{})) run_grid(what, grid, block, &Run::thread, this);
    }
  };
  void operator()(P... args) const {
    if (injected_failure(name)) { set_error(cudaErrorLaunchFailure); return; }
    if (!config_ok(name, grid, block)) return;
    Run *r = new Run;
    r->what = name;
    r->kernel = kernel;
    r->grid = grid;
    r->block = block;
    r->args = std::tuple<P...>(args...);
    r->on_device = r->args;
    if (!args_ok(r->on_device, name, std::index_sequence_for<P...>{})) { delete r; return; }  // fail at the launch
    cudaError_t e = submit(stream, r);
    if (e != cudaSuccess) set_error(e);
  }
};
template <typename... P>
static inline Launch<P...> launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t s) {
  return Launch<P...>{name, kernel, grid, block, s};
}
}  // namespace cuda_emu

// The emulated spelling of kernel<<<grid, block, 0, stream>>> (KLAUNCH in cuda_common.cuh, which
// include/cuda_runtime.h defines as this).
#define CUDA_EMU_LAUNCH(kernel, grid, block, stream) ::cuda_emu::launch(#kernel, (kernel), (grid), (block), (stream))
