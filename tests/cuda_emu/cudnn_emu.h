// cudnn_emu.h — the cuDNN calls of the CUDA backend, emulated (tests only).
//
// Descriptors hold what was set and are checked as cuDNN checks them (NCHW float only here, as
// the backend uses). The three convolution directions are plain loops (double accumulation),
// whatever the algorithm; what differs between algorithms is what the backend's planning sees:
// cudnnFind* returns a made-up but fixed list per shape, sorted by a made-up time, with
// nondeterministic entries, tensor-op entries and entries that failed, and each algorithm has
// its own workspace size. A convolution refuses an algorithm that does not apply to its shape or
// a workspace smaller than that algorithm needs, checks that x, w, y and the workspace lie in
// device memory, fills the workspace with garbage first (nothing else may live there), and
// honours alpha and beta (beta = 0 never reads the output). The search itself cannot be recorded
// in a graph: on a capturing thread it fails and voids the capture, as cuDNN's cudaMalloc would.
#pragma once
#include "tests/cuda_emu/cuda_emu.h"

namespace cuda_emu {
// The statuses the emulator returns, with cuDNN's numbers: X(name, value) for each, so that the
// enum and cudnnGetErrorString are written from one list.
#define CUDNN_EMU_STATUSES(X)            \
  X(CUDNN_STATUS_SUCCESS, 0)             \
  X(CUDNN_STATUS_NOT_INITIALIZED, 1001)  \
  X(CUDNN_STATUS_BAD_PARAM, 2000)        \
  X(CUDNN_STATUS_NOT_SUPPORTED, 3000)    \
  X(CUDNN_STATUS_EXECUTION_FAILED, 5000)
enum cudnnStatus_t { CUDNN_EMU_STATUSES(CUDA_EMU_ENUMERATOR) };
enum cudnnTensorFormat_t { CUDNN_TENSOR_NCHW = 0, CUDNN_TENSOR_NHWC = 1 };
enum cudnnDataType_t { CUDNN_DATA_FLOAT = 0, CUDNN_DATA_DOUBLE = 1, CUDNN_DATA_HALF = 2 };
enum cudnnConvolutionMode_t { CUDNN_CONVOLUTION = 0, CUDNN_CROSS_CORRELATION = 1 };
enum cudnnMathType_t {
  CUDNN_DEFAULT_MATH = 0,
  CUDNN_TENSOR_OP_MATH = 1,
  CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
  CUDNN_FMA_MATH = 3,
};
enum cudnnDeterminism_t { CUDNN_NON_DETERMINISTIC = 0, CUDNN_DETERMINISTIC = 1 };
enum cudnnConvolutionFwdAlgo_t {
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM = 0,
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM = 1,
  CUDNN_CONVOLUTION_FWD_ALGO_GEMM = 2,
  CUDNN_CONVOLUTION_FWD_ALGO_DIRECT = 3,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT = 4,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING = 5,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD = 6,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED = 7,
};
enum cudnnConvolutionBwdDataAlgo_t {
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING = 3,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED = 5,
};
enum cudnnConvolutionBwdFilterAlgo_t {
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 = 3,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING = 6,
};
template <typename Algo> struct cudnnAlgoPerf {
  Algo algo;
  cudnnStatus_t status;
  float time;  // ms; -1 when the algorithm failed
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};
typedef cudnnAlgoPerf<cudnnConvolutionFwdAlgo_t> cudnnConvolutionFwdAlgoPerf_t;
typedef cudnnAlgoPerf<cudnnConvolutionBwdDataAlgo_t> cudnnConvolutionBwdDataAlgoPerf_t;
typedef cudnnAlgoPerf<cudnnConvolutionBwdFilterAlgo_t> cudnnConvolutionBwdFilterAlgoPerf_t;

typedef struct Cudnn *cudnnHandle_t;
typedef struct CudnnTensor *cudnnTensorDescriptor_t;
typedef struct CudnnFilter *cudnnFilterDescriptor_t;
typedef struct CudnnConv *cudnnConvolutionDescriptor_t;

#define CUDNN_MAJOR 9
#define CUDNN_MINOR 0
size_t cudnnGetVersion(void);
const char *cudnnGetErrorString(cudnnStatus_t s);
cudnnStatus_t cudnnCreate(cudnnHandle_t *h);
cudnnStatus_t cudnnDestroy(cudnnHandle_t h);
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s);
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d);
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d);
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f, cudnnDataType_t t, int n,
                                         int c, int h, int w);
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d);
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d);
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t, cudnnTensorFormat_t f, int k,
                                         int c, int h, int w);
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d);
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d);
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dil_h, int dil_w, cudnnConvolutionMode_t mode, cudnnDataType_t t);
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m);
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t x,
                                                    cudnnFilterDescriptor_t w, int *n, int *ch, int *h, int *wd);

cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                   cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                                   cudnnTensorDescriptor_t y, int cap, int *n,
                                                   cudnnConvolutionFwdAlgoPerf_t *r);
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                     cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                                     cudnnTensorDescriptor_t y, int cap, int *n,
                                                     cudnnConvolutionFwdAlgoPerf_t *r);
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                      cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                                      cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t a,
                                                      size_t *bytes);
cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd, const void *x,
                                      cudnnFilterDescriptor_t wd, const void *w, cudnnConvolutionDescriptor_t c,
                                      cudnnConvolutionFwdAlgo_t a, void *ws, size_t ws_bytes, const void *beta,
                                      cudnnTensorDescriptor_t yd, void *y);

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                        cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                        cudnnTensorDescriptor_t dx, int cap, int *n,
                                                        cudnnConvolutionBwdDataAlgoPerf_t *r);
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                          cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                          cudnnTensorDescriptor_t dx, int cap, int *n,
                                                          cudnnConvolutionBwdDataAlgoPerf_t *r);
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                           cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                           cudnnTensorDescriptor_t dx, cudnnConvolutionBwdDataAlgo_t a,
                                                           size_t *bytes);
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha, cudnnFilterDescriptor_t wd,
                                           const void *w, cudnnTensorDescriptor_t dyd, const void *dy,
                                           cudnnConvolutionDescriptor_t c, cudnnConvolutionBwdDataAlgo_t a, void *ws,
                                           size_t ws_bytes, const void *beta, cudnnTensorDescriptor_t dxd, void *dx);

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                          cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                          cudnnFilterDescriptor_t dw, int cap, int *n,
                                                          cudnnConvolutionBwdFilterAlgoPerf_t *r);
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                            cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                            cudnnFilterDescriptor_t dw, int cap, int *n,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t *r);
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                             cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                             cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t a, size_t *bytes);
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd,
                                             const void *x, cudnnTensorDescriptor_t dyd, const void *dy,
                                             cudnnConvolutionDescriptor_t c, cudnnConvolutionBwdFilterAlgo_t a,
                                             void *ws, size_t ws_bytes, const void *beta, cudnnFilterDescriptor_t dwd,
                                             void *dw);
}  // namespace cuda_emu

using cuda_emu::CUDNN_CONVOLUTION;
using cuda_emu::CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
using cuda_emu::CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
using cuda_emu::CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT;
using cuda_emu::CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING;
using cuda_emu::CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD;
using cuda_emu::CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
using cuda_emu::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
using cuda_emu::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
using cuda_emu::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
using cuda_emu::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT;
using cuda_emu::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING;
using cuda_emu::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD;
using cuda_emu::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
using cuda_emu::CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
using cuda_emu::CUDNN_CONVOLUTION_FWD_ALGO_FFT;
using cuda_emu::CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING;
using cuda_emu::CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
using cuda_emu::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
using cuda_emu::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
using cuda_emu::CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD;
using cuda_emu::CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
using cuda_emu::CUDNN_CROSS_CORRELATION;
using cuda_emu::CUDNN_DATA_DOUBLE;
using cuda_emu::CUDNN_DATA_FLOAT;
using cuda_emu::CUDNN_DATA_HALF;
using cuda_emu::CUDNN_DEFAULT_MATH;
using cuda_emu::CUDNN_DETERMINISTIC;
using cuda_emu::CUDNN_FMA_MATH;
using cuda_emu::CUDNN_NON_DETERMINISTIC;
using cuda_emu::CUDNN_STATUS_BAD_PARAM;
using cuda_emu::CUDNN_STATUS_EXECUTION_FAILED;
using cuda_emu::CUDNN_STATUS_NOT_INITIALIZED;
using cuda_emu::CUDNN_STATUS_NOT_SUPPORTED;
using cuda_emu::CUDNN_STATUS_SUCCESS;
using cuda_emu::CUDNN_TENSOR_NCHW;
using cuda_emu::CUDNN_TENSOR_NHWC;
using cuda_emu::CUDNN_TENSOR_OP_MATH;
using cuda_emu::CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
using cuda_emu::cudnnConvolutionBackwardData;
using cuda_emu::cudnnConvolutionBackwardFilter;
using cuda_emu::cudnnConvolutionBwdDataAlgoPerf_t;
using cuda_emu::cudnnConvolutionBwdDataAlgo_t;
using cuda_emu::cudnnConvolutionBwdFilterAlgoPerf_t;
using cuda_emu::cudnnConvolutionBwdFilterAlgo_t;
using cuda_emu::cudnnConvolutionDescriptor_t;
using cuda_emu::cudnnConvolutionForward;
using cuda_emu::cudnnConvolutionFwdAlgoPerf_t;
using cuda_emu::cudnnConvolutionFwdAlgo_t;
using cuda_emu::cudnnConvolutionMode_t;
using cuda_emu::cudnnCreate;
using cuda_emu::cudnnCreateConvolutionDescriptor;
using cuda_emu::cudnnCreateFilterDescriptor;
using cuda_emu::cudnnCreateTensorDescriptor;
using cuda_emu::cudnnDataType_t;
using cuda_emu::cudnnDestroy;
using cuda_emu::cudnnDestroyConvolutionDescriptor;
using cuda_emu::cudnnDestroyFilterDescriptor;
using cuda_emu::cudnnDestroyTensorDescriptor;
using cuda_emu::cudnnDeterminism_t;
using cuda_emu::cudnnFilterDescriptor_t;
using cuda_emu::cudnnFindConvolutionBackwardDataAlgorithm;
using cuda_emu::cudnnFindConvolutionBackwardFilterAlgorithm;
using cuda_emu::cudnnFindConvolutionForwardAlgorithm;
using cuda_emu::cudnnGetConvolution2dForwardOutputDim;
using cuda_emu::cudnnGetConvolutionBackwardDataAlgorithm_v7;
using cuda_emu::cudnnGetConvolutionBackwardDataWorkspaceSize;
using cuda_emu::cudnnGetConvolutionBackwardFilterAlgorithm_v7;
using cuda_emu::cudnnGetConvolutionBackwardFilterWorkspaceSize;
using cuda_emu::cudnnGetConvolutionForwardAlgorithm_v7;
using cuda_emu::cudnnGetConvolutionForwardWorkspaceSize;
using cuda_emu::cudnnGetErrorString;
using cuda_emu::cudnnGetVersion;
using cuda_emu::cudnnHandle_t;
using cuda_emu::cudnnMathType_t;
using cuda_emu::cudnnSetConvolution2dDescriptor;
using cuda_emu::cudnnSetConvolutionMathType;
using cuda_emu::cudnnSetFilter4dDescriptor;
using cuda_emu::cudnnSetStream;
using cuda_emu::cudnnSetTensor4dDescriptor;
using cuda_emu::cudnnStatus_t;
using cuda_emu::cudnnTensorDescriptor_t;
using cuda_emu::cudnnTensorFormat_t;
