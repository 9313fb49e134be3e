// cudnn_emu.cpp — the emulated cuDNN (cudnn_emu.h says what it checks and how it decides).
#include "tests/cuda_emu/cudnn_emu.h"
#include "tests/cuda_emu/cudnn_emu_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

namespace cuda_emu {

struct Cudnn { cudaStream_t stream; };
struct CudnnTensor { bool set; int n, c, h, w; };
struct CudnnFilter { bool set; int k, c, r, s; };
struct CudnnConv {
  bool set;
  int pad_h, pad_w, u, v;
  cudnnConvolutionMode_t mode;
  cudnnMathType_t math;
};

size_t cudnnGetVersion(void) { return CUDNN_MAJOR * 10000 + CUDNN_MINOR * 100; }

const char *cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) { CUDNN_EMU_STATUSES(CUDA_EMU_NAME_CASE) }
  return "CUDNN_STATUS_UNKNOWN";
}

// Says why a call is refused (cuDNN's own logging does, when enabled) and returns the status.
static cudnnStatus_t refuse(cudnnStatus_t s, const char *call, const char *why) {
  fprintf(stderr, "cuda_emu: %s: %s (%s)\n", call, cudnnGetErrorString(s), why);
  return s;
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *h) { *h = new Cudnn{}; return CUDNN_STATUS_SUCCESS; }
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) { delete h; return CUDNN_STATUS_SUCCESS; }
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
  if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) { *d = new CudnnTensor{}; return CUDNN_STATUS_SUCCESS; }
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) { delete d; return CUDNN_STATUS_SUCCESS; }
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) { *d = new CudnnFilter{}; return CUDNN_STATUS_SUCCESS; }
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) { delete d; return CUDNN_STATUS_SUCCESS; }
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
  *d = new CudnnConv{};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) { delete d; return CUDNN_STATUS_SUCCESS; }

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f, cudnnDataType_t t, int n,
                                         int c, int h, int w) {
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetTensor4dDescriptor", "a size <= 0");
  if (f != CUDNN_TENSOR_NCHW || t != CUDNN_DATA_FLOAT)
    return refuse(CUDNN_STATUS_NOT_SUPPORTED, "cudnnSetTensor4dDescriptor", "only NCHW float is emulated");
  *d = CudnnTensor{true, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t, cudnnTensorFormat_t f, int k,
                                         int c, int h, int w) {
  if (k <= 0 || c <= 0 || h <= 0 || w <= 0) return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetFilter4dDescriptor", "a size <= 0");
  if (f != CUDNN_TENSOR_NCHW || t != CUDNN_DATA_FLOAT)
    return refuse(CUDNN_STATUS_NOT_SUPPORTED, "cudnnSetFilter4dDescriptor", "only NCHW float is emulated");
  *d = CudnnFilter{true, k, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dil_h, int dil_w, cudnnConvolutionMode_t mode, cudnnDataType_t t) {
  if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dil_h <= 0 || dil_w <= 0)
    return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolution2dDescriptor", "bad padding, stride or dilation");
  if (dil_h != 1 || dil_w != 1 || t != CUDNN_DATA_FLOAT)
    return refuse(CUDNN_STATUS_NOT_SUPPORTED, "cudnnSetConvolution2dDescriptor", "only undilated float is emulated");
  *d = CudnnConv{true, pad_h, pad_w, u, v, mode, d->math};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
  if (m != CUDNN_DEFAULT_MATH && m != CUDNN_TENSOR_OP_MATH && m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
      m != CUDNN_FMA_MATH)
    return CUDNN_STATUS_BAD_PARAM;
  d->math = m;
  return CUDNN_STATUS_SUCCESS;
}

// ---- one convolution's shape ----

static int out_dim(int in, int pad, int f, int stride) { return (in + 2 * pad - f) / stride + 1; }

// The shape the three descriptors describe; BAD_PARAM when they disagree with each other or
// (y given) with the output size.
static cudnnStatus_t shape_of(const char *call, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                              cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y, Shape *s) {
  if (!x || !w || !c || !x->set || !w->set || !c->set) return refuse(CUDNN_STATUS_BAD_PARAM, call, "a descriptor not set");
  if (x->c != w->c) return refuse(CUDNN_STATUS_BAD_PARAM, call, "x and w disagree on the input channels");
  *s = Shape{x->n, x->c, x->h, x->w, w->k, w->r, w->s, out_dim(x->h, c->pad_h, w->r, c->u),
             out_dim(x->w, c->pad_w, w->s, c->v), c->pad_h, c->pad_w, c->u, c->v, c->mode == CUDNN_CONVOLUTION};
  if (s->ho <= 0 || s->wo <= 0) return refuse(CUDNN_STATUS_BAD_PARAM, call, "the filter is larger than the padded input");
  if (y && (!y->set || y->n != s->n || y->c != s->k || y->h != s->ho || y->w != s->wo))
    return refuse(CUDNN_STATUS_BAD_PARAM, call, "y's descriptor is not the output of this convolution");
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t x,
                                                    cudnnFilterDescriptor_t w, int *n, int *ch, int *h, int *wd) {
  Shape s;
  cudnnStatus_t st = shape_of("cudnnGetConvolution2dForwardOutputDim", x, w, c, NULL, &s);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  *n = s.n, *ch = s.k, *h = s.ho, *wd = s.wo;
  return CUDNN_STATUS_SUCCESS;
}

// ---- algorithms: which apply, what they need, what the search reports ----

struct AlgoInfo {
  int algo;
  bool det;      // deterministic
  int ws_kind;   // 0 none, 1 small (an index table), 2 one column matrix per sample, 3 FFT-sized
  bool s1_only;  // stride 1 only
  bool f3_only;  // 3x3 filters only
};

// The algorithms each direction offers here (a subset of cuDNN's, with their determinism).
static const std::vector<AlgoInfo> &algos(Dir d) {
  static const std::vector<AlgoInfo> fwd = {
      {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, true, 0, false, false},
      {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, true, 1, false, false},
      {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, true, 2, false, false},
      {CUDNN_CONVOLUTION_FWD_ALGO_FFT, true, 3, true, false},
      {CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, true, 1, true, true}};
  static const std::vector<AlgoInfo> bwd_data = {
      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, false, 0, false, false},
      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, true, 1, false, false},
      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING, true, 3, true, false},
      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED, true, 2, true, true}};
  static const std::vector<AlgoInfo> bwd_filter = {
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, false, 0, false, false},
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, true, 1, false, false},
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, false, 2, false, false},
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, true, 3, true, false}};
  return d == FWD ? fwd : d == BWD_DATA ? bwd_data : bwd_filter;
}

static const AlgoInfo *algo_info(Dir d, int algo) {
  for (const AlgoInfo &a : algos(d))
    if (a.algo == algo) return &a;
  return NULL;
}

static bool applies(const AlgoInfo &a, const Shape &s) {
  return !(a.s1_only && (s.u != 1 || s.v != 1)) && !(a.f3_only && (s.r != 3 || s.s != 3));
}

static size_t workspace_for(const AlgoInfo &a, const Shape &s) {
  switch (a.ws_kind) {
  case 1: return (size_t)s.r * s.s * s.ho * s.wo * 4 + 256;
  case 2: return (size_t)s.c * s.r * s.s * s.ho * s.wo * 4;
  case 3: return (size_t)s.n * (s.c + s.k) * (s.h + s.r) * (s.w + s.s) * 8;
  }
  return 0;
}

// A made-up time, fixed per shape and algorithm, in ms; nondeterministic algorithms are
// usually the fastest here (as atomics often are), so that the policies choose differently.
static float made_up_ms(Dir d, const Shape &s, int algo, bool tensor_op) {
  const uint64_t h = made_up_hash({(int)d, s.n, s.c, s.h, s.w, s.k, s.r, s.u, s.pad_h, algo, tensor_op});
  float ms = 0.05f + (float)(h % 1000) / 1000.0f;
  const AlgoInfo *a = algo_info(d, algo);
  if (a && !a->det) ms *= 0.6f;
  if (tensor_op) ms *= 0.5f;
  return ms;
}

// What cudnnFind* (measured = true) or cudnnGet*_v7 reports: every algorithm of the direction,
// failed ones included, and once more with tensor-op math for the first one; sorted as cuDNN
// sorts (the ones that ran by time, then the rest).
template <typename Perf>
static void report(Dir d, const Shape &s, bool measured, int cap, int *n, Perf *out) {
  std::vector<Perf> r;
  for (const AlgoInfo &a : algos(d))
    for (int tensor_op = 0; tensor_op <= (a.algo == algos(d)[1].algo); tensor_op++) {
      Perf p;
      memset(&p, 0, sizeof p);
      p.algo = (decltype(p.algo))a.algo;
      p.status = applies(a, s) ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
      p.time = p.status == CUDNN_STATUS_SUCCESS && measured ? made_up_ms(d, s, a.algo, tensor_op) : -1.0f;
      p.memory = p.status == CUDNN_STATUS_SUCCESS ? workspace_for(a, s) : 0;
      p.determinism = a.det ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
      p.mathType = tensor_op ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
      r.push_back(p);
    }
  if (measured)
    std::stable_sort(r.begin(), r.end(), [](const Perf &a, const Perf &b) {
      if ((a.status == CUDNN_STATUS_SUCCESS) != (b.status == CUDNN_STATUS_SUCCESS)) return a.status == CUDNN_STATUS_SUCCESS;
      return a.status == CUDNN_STATUS_SUCCESS && a.time < b.time;
    });
  *n = std::min(cap, (int)r.size());
  for (int i = 0; i < *n; i++) out[i] = r[i];
}

// The search runs every algorithm on buffers of its own, which it allocates and frees: it
// cannot be recorded, and it waits for the device.
static cudnnStatus_t search(Dir d, const Shape &s, const char *call) {
  if (thread_is_capturing()) {
    refused_in_capture(call);
    return refuse(CUDNN_STATUS_EXECUTION_FAILED, call, "cannot search while this thread records a graph");
  }
  void *scratch = NULL;
  if (cudaMalloc(&scratch, 4096) != cudaSuccess || cudaFree(scratch) != cudaSuccess) {
    (void)cudaGetLastError();
    return refuse(CUDNN_STATUS_EXECUTION_FAILED, call, "its own allocations failed");
  }
  return CUDNN_STATUS_SUCCESS;
}

// ---- the convolutions: plain loops ----

namespace {
struct Conv : Op {
  double ms;  // made up: what events see it take
  double cost_ms() const override { return ms; }
  Dir dir;
  Shape s;
  float alpha, beta;
  const float *in1, *in2;  // fwd: x, w; bwd data: dy, w; bwd filter: x, dy
  float *out;              // fwd: y; bwd data: dx; bwd filter: dw
  void *ws;
  size_t ws_need;

  size_t nx() const { return (size_t)s.n * s.c * s.h * s.w; }
  size_t nw() const { return (size_t)s.k * s.c * s.r * s.s; }
  size_t ny() const { return (size_t)s.n * s.k * s.ho * s.wo; }

  // Calls f(xi, wi, yi) for every (input, filter, output) index triple that meets in the sum.
  template <typename F> void each(F f) const {
    for (int b = 0; b < s.n; b++)
      for (int k = 0; k < s.k; k++)
        for (int c = 0; c < s.c; c++)
          for (int r = 0; r < s.r; r++)
            for (int q = 0; q < s.s; q++) {
              const size_t wi = (((size_t)k * s.c + c) * s.r + (s.flip ? s.r - 1 - r : r)) * s.s + (s.flip ? s.s - 1 - q : q);
              for (int oh = 0; oh < s.ho; oh++) {
                const int ih = oh * s.u - s.pad_h + r;
                if (ih < 0 || ih >= s.h) continue;
                const size_t xrow = (((size_t)b * s.c + c) * s.h + ih) * s.w, yrow = (((size_t)b * s.k + k) * s.ho + oh) * s.wo;
                for (int ow = 0; ow < s.wo; ow++) {
                  const int iw = ow * s.v - s.pad_w + q;
                  if (iw >= 0 && iw < s.w) f(xrow + iw, wi, yrow + ow);
                }
              }
            }
  }

  void run() override {
    const size_t n_in1 = dir == FWD ? nx() : dir == BWD_DATA ? ny() : nx();
    const size_t n_in2 = dir == BWD_FILTER ? ny() : nw();
    const size_t n_out = dir == FWD ? ny() : dir == BWD_DATA ? nx() : nw();
    const float *a = (const float *)shadow_of(in1, n_in1 * 4, what);
    const float *b = a ? (const float *)shadow_of(in2, n_in2 * 4, what) : NULL;
    float *o = b ? (float *)shadow_of(out, n_out * 4, what) : NULL;
    void *scratch = o && ws_need ? shadow_of(ws, ws_need, what) : NULL;
    if (!o || (ws_need && !scratch)) return;
    if (ws_need) memset(scratch, 0x5a, ws_need);  // the algorithm's scratch: whatever lived there is gone
    std::vector<double> acc(n_out, 0.0);
    if (dir == FWD) each([&](size_t xi, size_t wi, size_t yi) { acc[yi] += (double)a[xi] * b[wi]; });
    if (dir == BWD_DATA) each([&](size_t xi, size_t wi, size_t yi) { acc[xi] += (double)a[yi] * b[wi]; });
    if (dir == BWD_FILTER) each([&](size_t xi, size_t wi, size_t yi) { acc[wi] += (double)a[xi] * b[yi]; });
    for (size_t i = 0; i < n_out; i++)
      o[i] = (float)(alpha * acc[i] + (beta != 0.0f ? (double)beta * o[i] : 0.0));  // beta 0: not read
  }
};
}  // namespace

cudnnStatus_t queue_conv(cudnnHandle_t h, const char *call, Dir dir, const Shape &s, float alpha, float beta,
                         const void *in1, const void *in2, void *out, void *ws, size_t ws_need, double ms) {
  Conv *c = new Conv;
  c->what = call;
  c->ms = ms;
  c->dir = dir, c->s = s;
  c->alpha = alpha, c->beta = beta;
  c->in1 = (const float *)in1, c->in2 = (const float *)in2, c->out = (float *)out;
  c->ws = ws, c->ws_need = ws_need;
  return submit(h->stream, c) == cudaSuccess ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_EXECUTION_FAILED;
}

uint64_t made_up_hash(const std::initializer_list<int> &v) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (int x : v) h = (h ^ (uint64_t)(unsigned)x) * 1099511628211ull;
  return h;
}

static cudnnStatus_t convolve(cudnnHandle_t h, const char *call, Dir dir, const Shape &s, const void *alpha,
                              const void *beta, int algo, void *ws, size_t ws_bytes, const void *in1, const void *in2,
                              void *out) {
  if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
  if (injected_failure(call)) return CUDNN_STATUS_EXECUTION_FAILED;
  const AlgoInfo *a = algo_info(dir, algo);
  if (!a) return refuse(CUDNN_STATUS_NOT_SUPPORTED, call, "an algorithm this emulator does not offer");
  if (!applies(*a, s)) return refuse(CUDNN_STATUS_NOT_SUPPORTED, call, "the algorithm does not apply to this shape");
  const size_t need = workspace_for(*a, s);
  if (ws_bytes < need || (need && !ws)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "the workspace is too small");
  if (!in1 || !in2 || !out || !alpha || !beta) return refuse(CUDNN_STATUS_BAD_PARAM, call, "a NULL pointer");
  // Host scalars, read at the call; the search's time for this algorithm (plain math).
  return queue_conv(h, call, dir, s, *(const float *)alpha, *(const float *)beta, in1, in2, out, ws, need,
                    made_up_ms(dir, s, algo, false));
}

static cudnnStatus_t workspace_size(Dir dir, const Shape &s, int algo, size_t *bytes, const char *call) {
  const AlgoInfo *a = algo_info(dir, algo);
  if (!a || !applies(*a, s)) return refuse(CUDNN_STATUS_NOT_SUPPORTED, call, "the algorithm does not apply to this shape");
  *bytes = workspace_for(*a, s);
  return CUDNN_STATUS_SUCCESS;
}

// ---- the three directions' entry points ----

#define SHAPE_OR_RETURN(call, x, w, c, y)                    \
  Shape s;                                                   \
  do {                                                       \
    cudnnStatus_t st_ = shape_of(call, x, w, c, y, &s);      \
    if (st_ != CUDNN_STATUS_SUCCESS) return st_;             \
  } while (0)

cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                   cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                                   cudnnTensorDescriptor_t y, int cap, int *n,
                                                   cudnnConvolutionFwdAlgoPerf_t *r) {
  SHAPE_OR_RETURN("cudnnFindConvolutionForwardAlgorithm", x, w, c, y);
  cudnnStatus_t st = search(FWD, s, "cudnnFindConvolutionForwardAlgorithm");
  if (st == CUDNN_STATUS_SUCCESS) report(FWD, s, true, cap, n, r);
  return st;
}
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                     cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                                     cudnnTensorDescriptor_t y, int cap, int *n,
                                                     cudnnConvolutionFwdAlgoPerf_t *r) {
  SHAPE_OR_RETURN("cudnnGetConvolutionForwardAlgorithm_v7", x, w, c, y);
  report(FWD, s, false, cap, n, r);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                      cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                                      cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t a,
                                                      size_t *bytes) {
  SHAPE_OR_RETURN("cudnnGetConvolutionForwardWorkspaceSize", x, w, c, y);
  return workspace_size(FWD, s, a, bytes, "cudnnGetConvolutionForwardWorkspaceSize");
}
cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd, const void *x,
                                      cudnnFilterDescriptor_t wd, const void *w, cudnnConvolutionDescriptor_t c,
                                      cudnnConvolutionFwdAlgo_t a, void *ws, size_t ws_bytes, const void *beta,
                                      cudnnTensorDescriptor_t yd, void *y) {
  SHAPE_OR_RETURN("cudnnConvolutionForward", xd, wd, c, yd);
  return convolve(h, "cudnnConvolutionForward", FWD, s, alpha, beta, a, ws, ws_bytes, x, w, y);
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                        cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                        cudnnTensorDescriptor_t dx, int cap, int *n,
                                                        cudnnConvolutionBwdDataAlgoPerf_t *r) {
  SHAPE_OR_RETURN("cudnnFindConvolutionBackwardDataAlgorithm", dx, w, c, dy);
  cudnnStatus_t st = search(BWD_DATA, s, "cudnnFindConvolutionBackwardDataAlgorithm");
  if (st == CUDNN_STATUS_SUCCESS) report(BWD_DATA, s, true, cap, n, r);
  return st;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                          cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                          cudnnTensorDescriptor_t dx, int cap, int *n,
                                                          cudnnConvolutionBwdDataAlgoPerf_t *r) {
  SHAPE_OR_RETURN("cudnnGetConvolutionBackwardDataAlgorithm_v7", dx, w, c, dy);
  report(BWD_DATA, s, false, cap, n, r);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, cudnnFilterDescriptor_t w,
                                                           cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                           cudnnTensorDescriptor_t dx, cudnnConvolutionBwdDataAlgo_t a,
                                                           size_t *bytes) {
  SHAPE_OR_RETURN("cudnnGetConvolutionBackwardDataWorkspaceSize", dx, w, c, dy);
  return workspace_size(BWD_DATA, s, a, bytes, "cudnnGetConvolutionBackwardDataWorkspaceSize");
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha, cudnnFilterDescriptor_t wd,
                                           const void *w, cudnnTensorDescriptor_t dyd, const void *dy,
                                           cudnnConvolutionDescriptor_t c, cudnnConvolutionBwdDataAlgo_t a, void *ws,
                                           size_t ws_bytes, const void *beta, cudnnTensorDescriptor_t dxd, void *dx) {
  SHAPE_OR_RETURN("cudnnConvolutionBackwardData", dxd, wd, c, dyd);
  return convolve(h, "cudnnConvolutionBackwardData", BWD_DATA, s, alpha, beta, a, ws, ws_bytes, dy, w, dx);
}

// The filter descriptor of the backward-filter calls describes dw; shape_of takes it as w.
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                          cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                          cudnnFilterDescriptor_t dw, int cap, int *n,
                                                          cudnnConvolutionBwdFilterAlgoPerf_t *r) {
  SHAPE_OR_RETURN("cudnnFindConvolutionBackwardFilterAlgorithm", x, dw, c, dy);
  cudnnStatus_t st = search(BWD_FILTER, s, "cudnnFindConvolutionBackwardFilterAlgorithm");
  if (st == CUDNN_STATUS_SUCCESS) report(BWD_FILTER, s, true, cap, n, r);
  return st;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                            cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                            cudnnFilterDescriptor_t dw, int cap, int *n,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t *r) {
  SHAPE_OR_RETURN("cudnnGetConvolutionBackwardFilterAlgorithm_v7", x, dw, c, dy);
  report(BWD_FILTER, s, false, cap, n, r);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                             cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c,
                                                             cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t a, size_t *bytes) {
  SHAPE_OR_RETURN("cudnnGetConvolutionBackwardFilterWorkspaceSize", x, dw, c, dy);
  return workspace_size(BWD_FILTER, s, a, bytes, "cudnnGetConvolutionBackwardFilterWorkspaceSize");
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha, cudnnTensorDescriptor_t xd,
                                             const void *x, cudnnTensorDescriptor_t dyd, const void *dy,
                                             cudnnConvolutionDescriptor_t c, cudnnConvolutionBwdFilterAlgo_t a,
                                             void *ws, size_t ws_bytes, const void *beta, cudnnFilterDescriptor_t dwd,
                                             void *dw) {
  SHAPE_OR_RETURN("cudnnConvolutionBackwardFilter", xd, dwd, c, dyd);
  return convolve(h, "cudnnConvolutionBackwardFilter", BWD_FILTER, s, alpha, beta, a, ws, ws_bytes, x, dy, dw);
}

}  // namespace cuda_emu
