// kernel_unit.cpp — one of our CUDA kernel files, compiled by g++ for the emulator.
//
// The Makefile compiles this once per file, naming it in EMU_KERNEL_FILE
// (-DEMU_KERNEL_FILE='"kernels/cuda/ops_cuda.cu"'); the file is included unchanged, inside
// namespace emulated (emulated.h says why).
#include "tests/cuda_emu/emulated.h"

#ifndef EMU_KERNEL_FILE
#error "compile with -DEMU_KERNEL_FILE='\"kernels/cuda/<file>.cu\"'"
#endif

namespace emulated {
#include EMU_KERNEL_FILE
}  // namespace emulated
