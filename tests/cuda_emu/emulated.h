// emulated.h — the CUDA backend's own declarations, as the emulated build sees them.
//
// Why a namespace: run_tests also links the real CUDA objects (built by nvcc whenever it is
// found), which define cuda_install_ops, cuda_col_sum, cuda_fatal, ... with C++ linkage. The
// emulated build compiles the very same kernel files a second time with g++, so each is
// compiled inside `namespace emulated` (kernel_unit.cpp): every symbol it defines is then
// emulated::cuda_install_ops and so on, and cannot meet the real ones at link time.
//
// For that to work, every header the kernel files include is included here first, at global
// scope: their include guards (and #pragma once) then turn the same includes inside the
// namespace into no-ops, so no system header is ever declared inside it. A kernel file that
// starts including a new system header needs it added below.
#pragma once
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include <cublas_v2.h>  // the emulator's (tests/cuda_emu/include)
#include <cuda_runtime.h>
#include <cudnn.h>
extern "C" {
#include "kernels/backend.h"
}

namespace emulated {
#include "kernels/cuda/cuda_common.cuh"
}  // namespace emulated
