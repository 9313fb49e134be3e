// backend_cuda_emu.h — the CUDA backend with our own kernels emulated on the CPU (tests only).
#pragma once
#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend.h"

// A Backend whose ops from ops_cuda.cu, groupnorm_cuda.cu and optim_cuda.cu (the entries
// cuda_install_ops, cuda_install_groupnorm and cuda_install_optim fill in) are those kernels
// run under the emulator of cuda_emu.h; memory, copies, sync, GEMM and convolutions (cuBLAS and
// cuDNN on a GPU) are the CPU reference backend's, on host memory. Named "cuda-emu".
Backend *backend_cuda_emu_create(void);

// The emulator's schedule (cuda_emu.h has the details): seed of the random order in which the
// threads of a block are resumed, and thread order instead of random (1) for one test.
void cuda_emu_seed(unsigned long long seed);
void cuda_emu_in_order(int on);
unsigned long long cuda_emu_threads_run(void);  // threads run since the process started

#ifdef __cplusplus
}
#endif
