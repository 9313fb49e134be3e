// cuda_is_emulated.c — build/stepscope-emu's CUDA backend (tests only).
//
// stepscope-emu is the stepscope binary built as if CUDA were there (kernels/backend.c compiled
// with STEPSCOPE_CUDA) and linked with this file instead of the nvcc-built objects: its "cuda"
// device is the CUDA backend's own code run by the CPU emulator (backend_cuda_emu.h), so the
// tests run the command line's CUDA paths without a GPU.
#include "kernels/backend.h"
#include "tests/cuda_emu/backend_cuda_emu.h"

Backend *backend_cuda_create(const BackendOpts *opts, Err *err) { return backend_cuda_emu_create_opts(opts, err); }
