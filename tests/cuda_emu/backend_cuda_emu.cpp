// backend_cuda_emu.cpp — the CUDA backend, all of it, on the emulator.
//
// Every file of kernels/cuda/ is compiled a second time by g++ inside namespace emulated
// (kernel_unit.cpp; emulated.h says why), against cuda_emu.h instead of the CUDA headers: its
// backend_cuda_create is emulated::backend_cuda_create, the very creation code of the GPU build,
// running on emulated streams, graphs, cuBLAS and cuDNN. Even its name is the same ("cuda"):
// code that makes another backend by name (bench's second cuDNN policy) makes another of these.
#include "tests/cuda_emu/emulated.h"
#include "tests/cuda_emu/backend_cuda_emu.h"

namespace emulated {
Backend *backend_cuda_create(const BackendOpts *opts, Err *err);  // backend_cuda.cu, emulated
}

extern "C" Backend *backend_cuda_emu_create_opts(const BackendOpts *opts, Err *err) {
  return emulated::backend_cuda_create(opts, err);
}

extern "C" Backend *backend_cuda_emu_create(void) {
  Err err = {{0}};
  Backend *be = backend_cuda_emu_create_opts(NULL, &err);
  if (!be) fprintf(stderr, "stepscope: the emulated CUDA backend: %s\n", err.msg);
  return be;
}
