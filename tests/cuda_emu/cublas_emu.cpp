// cublas_emu.cpp — the emulated cuBLAS (cublas_emu.h says what it checks).
#include "tests/cuda_emu/cublas_emu.h"

#include <stdio.h>

namespace cuda_emu {

struct Cublas {
  cudaStream_t stream;
  void *workspace;
  size_t workspace_bytes;
  cublasMath_t math;
};

cublasStatus_t cublasCreate(cublasHandle_t *h) {
  *h = new Cublas{};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  h->workspace = NULL;  // as cuBLAS does: back to its own workspace
  h->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *workspace, size_t bytes) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes && !check_device(workspace, bytes, "cublasSetWorkspace")) return CUBLAS_STATUS_INVALID_VALUE;
  h->workspace = workspace;
  h->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH) return CUBLAS_STATUS_INVALID_VALUE;
  h->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t s) {
  switch (s) { CUBLAS_EMU_STATUSES(CUDA_EMU_NAME_CASE) }
  return "CUBLAS_STATUS_UNKNOWN";
}

namespace {
// C (m x n, column-major, leading dimension ldc) = alpha op(A) op(B) + beta C, for each batch.
struct Gemm : Op {
  bool ta, tb;
  int m, n, k, lda, ldb, ldc, batch;
  float alpha, beta;
  const float *A, *B;
  float *C;
  long long sA, sB, sC;

  // Bytes from the first to one past the last element of a rows x cols column-major matrix.
  static size_t span(int rows, int cols, int ld) { return rows && cols ? ((size_t)(cols - 1) * ld + rows) * 4 : 0; }

  void run() override {
    for (int b = 0; b < batch; b++) {
      const size_t na = k ? span(ta ? k : m, ta ? m : k, lda) : 0, nb = k ? span(tb ? n : k, tb ? k : n, ldb) : 0;
      const float *a = (const float *)shadow_of(A + b * sA, na, "cublasSgemmStridedBatched: A");
      const float *bb = a ? (const float *)shadow_of(B + b * sB, nb, "cublasSgemmStridedBatched: B") : NULL;
      float *c = bb ? (float *)shadow_of(C + b * sC, span(m, n, ldc), "cublasSgemmStridedBatched: C") : NULL;
      if (!c) return;
      for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
          double s = 0;
          for (int p = 0; p < k; p++)
            s += (double)(ta ? a[i * (size_t)lda + p] : a[p * (size_t)lda + i]) *
                 (tb ? bb[p * (size_t)ldb + j] : bb[j * (size_t)ldb + p]);
          float *out = &c[j * (size_t)ldc + i];
          *out = (float)(alpha * s + (beta != 0.0f ? (double)beta * *out : 0.0));  // beta 0: C is not read
        }
    }
  }
};
}  // namespace

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long strideA,
                                         const float *B, int ldb, long long strideB, const float *beta, float *C,
                                         int ldc, long long strideC, int batch) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (injected_failure("cublasSgemmStridedBatched")) return CUBLAS_STATUS_EXECUTION_FAILED;
  const int rows_a = ta == CUBLAS_OP_N ? m : k, rows_b = tb == CUBLAS_OP_N ? k : n;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < (rows_a > 1 ? rows_a : 1) || ldb < (rows_b > 1 ? rows_b : 1) ||
      ldc < (m > 1 ? m : 1) || (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T)) {
    fprintf(stderr, "cuda_emu: cublasSgemmStridedBatched: invalid sizes m %d n %d k %d lda %d ldb %d ldc %d\n", m, n,
            k, lda, ldb, ldc);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (!m || !n || !batch) return CUBLAS_STATUS_SUCCESS;
  Gemm *g = new Gemm;
  g->what = "cublasSgemmStridedBatched";
  g->ta = ta == CUBLAS_OP_T, g->tb = tb == CUBLAS_OP_T;
  g->m = m, g->n = n, g->k = k, g->lda = lda, g->ldb = ldb, g->ldc = ldc, g->batch = batch;
  g->alpha = *alpha, g->beta = *beta;  // host pointers, read at the call as cuBLAS does
  g->A = A, g->B = B, g->C = C, g->sA = strideA, g->sB = strideB, g->sC = strideC;
  return submit(h->stream, g) == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace cuda_emu
