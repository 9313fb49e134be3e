// cuda_emu.h — a small CUDA emulator, so that our own kernels run on the CPU in CI (tests only).
//
// Compiled with g++ -std=c++17 -DSTEPSCOPE_CUDA_EMU, this header stands in for cuda_runtime.h:
// it gives kernel code threadIdx/blockIdx/blockDim/gridDim, the qualifiers (__global__,
// __device__, __shared__, ...), __syncthreads, the warp shuffles and the few runtime calls our
// kernel files make. Host memory stands in for device memory. cuBLAS and cuDNN are not emulated.
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
// Not emulated: 2-D/3-D launches, dynamic shared memory, streams (every launch and copy has
// finished when it returns), blocks running side by side (atomics are plain read-modify-writes),
// a thread spinning until another writes a flag (the fibers are cooperative: it would hang).
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
#include <string.h>

#include <tuple>
#include <type_traits>

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
}

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

// ---- runtime API: what our kernel files call ----
namespace cuda_emu {
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
typedef struct Stream *cudaStream_t;  // never points anywhere: every operation finishes before it returns
// Types the backend's state (CudaCtx) names but the emulated build never uses.
struct cudaDeviceProp { char name[256]; int major, minor; };
typedef struct NoCublas *cublasHandle_t;
typedef struct NoCudnn *cudnnHandle_t;

cudaError_t device_malloc(void **p, size_t bytes);  // poisoned with NaN bytes, as CUDA does not zero
cudaError_t device_free(void *p);
cudaError_t set_error(cudaError_t e);  // records e for cudaGetLastError and returns it
cudaError_t take_error(void);
const char *error_string(cudaError_t e);
}  // namespace cuda_emu

using cuda_emu::cublasHandle_t;
using cuda_emu::cudaDeviceProp;
using cuda_emu::cudaError_t;
using cuda_emu::cudaErrorInvalidConfiguration;
using cuda_emu::cudaErrorInvalidValue;
using cuda_emu::cudaErrorMemoryAllocation;
using cuda_emu::cudaMemcpyDefault;
using cuda_emu::cudaMemcpyDeviceToDevice;
using cuda_emu::cudaMemcpyDeviceToHost;
using cuda_emu::cudaMemcpyHostToDevice;
using cuda_emu::cudaMemcpyHostToHost;
using cuda_emu::cudaMemcpyKind;
using cuda_emu::cudaStream_t;
using cuda_emu::cudaSuccess;
using cuda_emu::cudnnHandle_t;

static inline cudaError_t cudaMalloc(void **p, size_t bytes) { return cuda_emu::device_malloc(p, bytes); }
template <typename T> static inline cudaError_t cudaMalloc(T **p, size_t bytes) {
  return cuda_emu::device_malloc((void **)p, bytes);
}
static inline cudaError_t cudaFree(void *p) { return cuda_emu::device_free(p); }
static inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind,
                                          cudaStream_t = nullptr) {
  if (bytes) memcpy(dst, src, bytes);
  return cudaSuccess;
}
static inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind);
}
static inline cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t = nullptr) {
  memset(p, v, bytes);
  return cudaSuccess;
}
static inline cudaError_t cudaMemset(void *p, int v, size_t bytes) { return cudaMemsetAsync(p, v, bytes); }
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError(void) { return cuda_emu::take_error(); }
static inline const char *cudaGetErrorString(cudaError_t e) { return cuda_emu::error_string(e); }

// ---- launches ----
namespace cuda_emu {
// Runs grid.x blocks of block.x threads; each thread calls thread(arg). A bad configuration
// (no blocks, no threads, more than 1024 threads) launches nothing and is reported by
// cudaGetLastError, as in CUDA.
void run_grid(const char *kernel, dim3 grid, dim3 block, void (*thread)(const void *), const void *arg);

// launch(...)(args...) converts args to the kernel's parameter types, as a launch does, and
// gives every thread its own copies of them (the kernel takes them by value).
template <typename... P> struct Launch {
  const char *name;
  void (*kernel)(P...);
  dim3 grid, block;
  struct Call {
    void (*kernel)(P...);
    std::tuple<P...> args;
    static void thread(const void *c) {
      const Call *call = (const Call *)c;
      std::apply(call->kernel, call->args);
    }
  };
  void operator()(P... args) const {
    const Call call{kernel, std::tuple<P...>(args...)};
    run_grid(name, grid, block, &Call::thread, &call);
  }
};
template <typename... P>
static inline Launch<P...> launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t) {
  return Launch<P...>{name, kernel, grid, block};
}
}  // namespace cuda_emu

// The emulated spelling of kernel<<<grid, block, 0, stream>>> (KLAUNCH in cuda_common.cuh).
#define CUDA_EMU_LAUNCH(kernel, grid, block, stream) ::cuda_emu::launch(#kernel, (kernel), (grid), (block), (stream))
