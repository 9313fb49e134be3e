// cublas_emu.h — the cuBLAS calls of the CUDA backend, emulated (tests only).
//
// A handle has a stream, a workspace and a math mode, as in cuBLAS; cublasSetStream drops the
// workspace set before it (cuBLAS goes back to its own), so the order of those calls matters here
// as it does there. cublasSgemmStridedBatched checks its arguments as cuBLAS does (sizes, leading
// dimensions), checks that every matrix lies in device memory, and queues a plain column-major
// GEMM into the handle's stream (recorded when the stream is being captured). TF32 math changes
// nothing: the emulated GEMM is fp32 with double accumulation either way.
#pragma once
#include "tests/cuda_emu/cuda_emu.h"

namespace cuda_emu {
// The statuses the emulator returns, with cuBLAS's numbers, as X(name, value) (see cudnn_emu.h).
#define CUBLAS_EMU_STATUSES(X)         \
  X(CUBLAS_STATUS_SUCCESS, 0)          \
  X(CUBLAS_STATUS_NOT_INITIALIZED, 1)  \
  X(CUBLAS_STATUS_INVALID_VALUE, 7)    \
  X(CUBLAS_STATUS_EXECUTION_FAILED, 13)
enum cublasStatus_t { CUBLAS_EMU_STATUSES(CUDA_EMU_ENUMERATOR) };
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 };
typedef struct Cublas *cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *workspace, size_t bytes);
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode);
const char *cublasGetStatusString(cublasStatus_t s);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long strideA,
                                         const float *B, int ldb, long long strideB, const float *beta, float *C,
                                         int ldc, long long strideC, int batch);
}  // namespace cuda_emu

using cuda_emu::CUBLAS_DEFAULT_MATH;
using cuda_emu::CUBLAS_OP_N;
using cuda_emu::CUBLAS_OP_T;
using cuda_emu::CUBLAS_STATUS_SUCCESS;
using cuda_emu::CUBLAS_TF32_TENSOR_OP_MATH;
using cuda_emu::cublasCreate;
using cuda_emu::cublasDestroy;
using cuda_emu::cublasGetStatusString;
using cuda_emu::cublasHandle_t;
using cuda_emu::cublasMath_t;
using cuda_emu::cublasOperation_t;
using cuda_emu::cublasSetMathMode;
using cuda_emu::cublasSetStream;
using cuda_emu::cublasSetWorkspace;
using cuda_emu::cublasSgemmStridedBatched;
using cuda_emu::cublasStatus_t;
