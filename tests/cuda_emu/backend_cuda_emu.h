// backend_cuda_emu.h — the CUDA backend with our own kernels emulated on the CPU (tests only).
#pragma once
#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend.h"

// The CUDA backend of kernels/cuda/, every file of it, compiled by g++ against the emulator of
// cuda_emu.h and run on the CPU: our kernels as fibers, the arena, streams, graphs, and cuBLAS
// and cuDNN calls emulated with their checks. Named "cuda", as it is that backend's code; NULL
// (with the reason printed or in err) when creation fails.
Backend *backend_cuda_emu_create(void);
Backend *backend_cuda_emu_create_opts(const BackendOpts *opts, Err *err);

// The emulator's schedule (cuda_emu.h has the details): seed of the random order in which the
// threads of a block are resumed, and thread order instead of random (1) for one test.
void cuda_emu_seed(unsigned long long seed);
void cuda_emu_in_order(int on);
unsigned long long cuda_emu_threads_run(void);  // threads run since the process started
// Fault injection: the nth call from now of `call` (a CUDA, cuBLAS or cuDNN function, or a
// kernel by name) fails as that call would; NULL disarms. cuda_emu_calls counts calls so far.
void cuda_emu_fail_call(const char *call, int nth);
unsigned long long cuda_emu_calls(const char *call);
// cuDNN graph-API descriptors alive now (created, not yet destroyed): for tests of leaks.
long cuda_emu_backend_descriptors(void);

#ifdef __cplusplus
}
#endif
