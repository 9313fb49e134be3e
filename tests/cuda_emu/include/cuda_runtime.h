// cuda_runtime.h — the emulator in place of the CUDA runtime's header (tests only).
//
// The emulated build puts tests/cuda_emu/include first on its include path (EMU_CXXFLAGS in the
// Makefile), so the files of kernels/cuda/ include <cuda_runtime.h>, <cublas_v2.h> and <cudnn.h>
// as they do under nvcc and get the emulator: cuda_emu.h, cublas_emu.h, cudnn_emu.h and
// cudnn_graph_emu.h.
#pragma once
#include "tests/cuda_emu/cuda_emu.h"

// The two hooks of kernels/cuda/cuda_common.cuh. The entry point keeps C++ linkage: every kernel
// file is compiled inside namespace emulated (emulated.h says why). Launches run on the emulator.
#define CUDA_ENTRY
#define KLAUNCH(kernel, grid, block, stream) CUDA_EMU_LAUNCH(kernel, grid, block, stream)
