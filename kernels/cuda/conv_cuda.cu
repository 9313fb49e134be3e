// conv_cuda.cu — 2-D convolutions with cuDNN.
//
// Each distinct ConvDesc gets a plan: its four cuDNN descriptors and, chosen the first time a
// direction runs, the algorithm for that direction. Plans live in a small open-addressing hash
// table keyed by the ConvDesc, so a training step only looks them up. Algorithms come from
// cudnnFind* (measured once per shape), taking the fastest deterministic one that needs at most
// WORKSPACE_LIMIT bytes, or with BackendOpts.nondeterministic the fastest of all (as PyTorch's
// cudnn.benchmark does); when Find fails, the cudnnGet*_v7 heuristics decide. Each plan notes
// the chosen algorithm and the fastest usable one with Find's times (conv_algos reports them).
// All directions share one workspace, grown (never per step) when a new plan needs more.
// Planning searches and allocates, so it runs under cuda_lock().
//
// The contract makes backward ops accumulate: cuDNN's beta = 1 does exactly that. The bias and
// its gradient use the broadcast kernels of ops_cuda.cu.
#include "cuda_common.cuh"

#define WORKSPACE_LIMIT ((size_t)1 << 30)

// What planning one direction decided, for conv_algos.
typedef struct {
  int chosen, fastest;          // cuDNN algorithm enum values
  float chosen_ms, fastest_ms;  // Find's time per call; -1 when the heuristics chose
  int fastest_det;
} AlgoNote;

typedef struct {
  ConvDesc key;
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  int have_fwd, have_bwd_data, have_bwd_filter;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  size_t fwd_ws, bwd_data_ws, bwd_filter_ws;
  AlgoNote note[3];  // by ConvDir
} ConvPlan;

struct ConvCache {
  ConvPlan **slot;  // cap slots, NULL where empty; cap is a power of two, kept under 3/4 full
  int cap, n;
};

static uint32_t conv_hash(const ConvDesc *d) {
  const int v[8] = {d->B, d->Cin, d->H, d->W, d->Cout, d->K, d->stride, d->pad};
  uint32_t h = 2166136261u;  // FNV-1a over the eight integers
  for (int i = 0; i < 8; i++) { h ^= (uint32_t)v[i]; h *= 16777619u; }
  return h;
}

static ConvPlan **find_slot(ConvCache *cc, const ConvDesc *d) {
  uint32_t mask = (uint32_t)cc->cap - 1, i = conv_hash(d) & mask;
  while (cc->slot[i] && !conv_desc_equal(&cc->slot[i]->key, d)) i = (i + 1) & mask;
  return &cc->slot[i];
}

static void cache_grow(ConvCache *cc) {
  ConvCache bigger = {(ConvPlan **)xcalloc(cc->cap ? 2 * cc->cap : 64, sizeof(ConvPlan *)),
                      cc->cap ? 2 * cc->cap : 64, cc->n};
  for (int i = 0; i < cc->cap; i++)
    if (cc->slot[i]) *find_slot(&bigger, &cc->slot[i]->key) = cc->slot[i];
  free(cc->slot);
  *cc = bigger;
}

static ConvPlan *plan_create(CudaCtx *c, const ConvDesc *d) {
  ConvPlan *p = (ConvPlan *)xcalloc(1, sizeof *p);
  p->key = *d;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->B, d->Cin, d->H, d->W));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->B, d->Cout, d->Ho, d->Wo));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->Cout, d->Cin, d->K, d->K));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, d->pad, d->pad, d->stride, d->stride, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // As PyTorch does: TF32 allowed means the default math; otherwise plain FP32 FMA only.
  CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, c->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  int n, ch, h, w;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &ch, &h, &w));
  if (n != d->B || ch != d->Cout || h != d->Ho || w != d->Wo) {
    fprintf(stderr, "stepscope: conv output (%d,%d,%d,%d) disagrees with cuDNN's (%d,%d,%d,%d)\n",
            d->B, d->Cout, d->Ho, d->Wo, n, ch, h, w);
    abort();
  }
  return p;
}

static ConvPlan *plan_for(CudaCtx *c, const ConvDesc *d) {
  ConvCache *cc = c->convs;
  if (!cc) cc = c->convs = (ConvCache *)xcalloc(1, sizeof *cc);
  if (4 * (cc->n + 1) > 3 * cc->cap) cache_grow(cc);
  ConvPlan **s = find_slot(cc, d);
  if (!*s) { *s = plan_create(c, d); cc->n++; }
  return *s;
}

void cuda_conv_cache_destroy(CudaCtx *c) {
  ConvCache *cc = c->convs;
  if (!cc) return;
  for (int i = 0; i < cc->cap; i++) {
    ConvPlan *p = cc->slot[i];
    if (!p) continue;
    cudnnDestroyTensorDescriptor(p->x);
    cudnnDestroyTensorDescriptor(p->y);
    cudnnDestroyFilterDescriptor(p->w);
    cudnnDestroyConvolutionDescriptor(p->conv);
    free(p);
  }
  free(cc->slot);
  free(cc);
  c->convs = NULL;
}

static void reserve_workspace(CudaCtx *c, size_t bytes) {
  cuda_grow(c, "cuDNN workspace", &c->workspace, &c->workspace_size, bytes);
}

// The first usable result of a perf list (sorted fastest first): it ran, needs at most
// WORKSPACE_LIMIT bytes, uses tensor-op math only when TF32 is allowed and, when det_only, is
// deterministic; -1 when there is none. One template for the three directions, whose result
// structs share these fields.
template <typename Perf>
static int first_usable(const Perf *r, int n, int tf32, int det_only) {
  for (int i = 0; i < n; i++) {
    if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].memory > WORKSPACE_LIMIT) continue;
    if (!tf32 && (r[i].mathType == CUDNN_TENSOR_OP_MATH || r[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    if (det_only && r[i].determinism != CUDNN_DETERMINISTIC) continue;
    return i;
  }
  return -1;
}

// The algorithm to run: the fastest usable deterministic one (when there is none, or when the
// backend was made nondeterministic, the fastest usable one); -1 when none is usable.
template <typename Perf>
static int pick(const Perf *r, int n, const CudaCtx *c) {
  int i = c->deterministic ? first_usable(r, n, c->tf32, 1) : -1;
  return i >= 0 ? i : first_usable(r, n, c->tf32, 0);
}

// Notes result i as chosen beside the fastest usable result; times only when Find measured them.
template <typename Perf>
static void note_pick(AlgoNote *a, const Perf *r, int n, int i, int measured, const CudaCtx *c) {
  int f = first_usable(r, n, c->tf32, 0);  // >= 0: result i is usable
  a->chosen = (int)r[i].algo;
  a->fastest = (int)r[f].algo;
  a->chosen_ms = measured ? r[i].time : -1.0f;
  a->fastest_ms = measured ? r[f].time : -1.0f;
  a->fastest_det = r[f].determinism == CUDNN_DETERMINISTIC;
}

static void no_algorithm(const char *dir, const ConvDesc *d) {
  fprintf(stderr, "stepscope: cuDNN has no usable %s algorithm for conv x(%d,%d,%d,%d) w(%d,%d,%d,%d) "
          "stride %d pad %d\n", dir, d->B, d->Cin, d->H, d->W, d->Cout, d->Cin, d->K, d->K, d->stride, d->pad);
  exit(1);
}

#define MAX_ALGOS 16

static void plan_fwd(CudaCtx *c, ConvPlan *p) {
  cudnnConvolutionFwdAlgoPerf_t r[MAX_ALGOS];
  int n = 0, i = -1, measured = 1;
  if (cudnnFindConvolutionForwardAlgorithm(c->cudnn, p->x, p->w, p->conv, p->y, MAX_ALGOS, &n, r) ==
      CUDNN_STATUS_SUCCESS)
    i = pick(r, n, c);
  if (i < 0) {
    measured = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(c->cudnn, p->x, p->w, p->conv, p->y, MAX_ALGOS, &n, r));
    if ((i = pick(r, n, c)) < 0) no_algorithm("forward", &p->key);
  }
  note_pick(&p->note[CONV_FWD], r, n, i, measured, c);
  p->fwd = r[i].algo;
  CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(c->cudnn, p->x, p->w, p->conv, p->y, p->fwd, &p->fwd_ws));
  reserve_workspace(c, p->fwd_ws);
  p->have_fwd = 1;
}

static void plan_bwd_data(CudaCtx *c, ConvPlan *p) {
  cudnnConvolutionBwdDataAlgoPerf_t r[MAX_ALGOS];
  int n = 0, i = -1, measured = 1;
  if (cudnnFindConvolutionBackwardDataAlgorithm(c->cudnn, p->w, p->y, p->conv, p->x, MAX_ALGOS, &n, r) ==
      CUDNN_STATUS_SUCCESS)
    i = pick(r, n, c);
  if (i < 0) {
    measured = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(c->cudnn, p->w, p->y, p->conv, p->x, MAX_ALGOS, &n, r));
    if ((i = pick(r, n, c)) < 0) no_algorithm("backward-data", &p->key);
  }
  note_pick(&p->note[CONV_BWD_DATA], r, n, i, measured, c);
  p->bwd_data = r[i].algo;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(c->cudnn, p->w, p->y, p->conv, p->x, p->bwd_data,
                                                           &p->bwd_data_ws));
  reserve_workspace(c, p->bwd_data_ws);
  p->have_bwd_data = 1;
}

static void plan_bwd_filter(CudaCtx *c, ConvPlan *p) {
  cudnnConvolutionBwdFilterAlgoPerf_t r[MAX_ALGOS];
  int n = 0, i = -1, measured = 1;
  if (cudnnFindConvolutionBackwardFilterAlgorithm(c->cudnn, p->x, p->y, p->conv, p->w, MAX_ALGOS, &n, r) ==
      CUDNN_STATUS_SUCCESS)
    i = pick(r, n, c);
  if (i < 0) {
    measured = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->cudnn, p->x, p->y, p->conv, p->w, MAX_ALGOS, &n, r));
    if ((i = pick(r, n, c)) < 0) no_algorithm("backward-filter", &p->key);
  }
  note_pick(&p->note[CONV_BWD_FILTER], r, n, i, measured, c);
  p->bwd_filter = r[i].algo;
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(c->cudnn, p->x, p->y, p->conv, p->w, p->bwd_filter,
                                                             &p->bwd_filter_ws));
  reserve_workspace(c, p->bwd_filter_ws);
  p->have_bwd_filter = 1;
}

// x is (B,Cin,H,W), w is (Cout,Cin,K,K), b is (Cout) or NULL; y (B,Cout,Ho,Wo) is overwritten.
static void cu_conv2d_fwd(Backend *be, const ConvDesc *d, const float *x, const float *w, const float *b,
                          float *y) {
  CudaCtx *c = cuda_ctx(be);
  ConvPlan *p = plan_for(c, d);
  if (!p->have_fwd) { cuda_lock(); plan_fwd(c, p); cuda_unlock(); }
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionForward(c->cudnn, &one, p->x, x, p->w, w, p->conv, p->fwd, c->workspace,
                                      p->fwd_ws, &zero, p->y, y));
  if (b) be->bcast_add(be, d->B, d->Cout, d->Ho * d->Wo, b, 0, y);
}

// dx (B,Cin,H,W) += conv_transpose(dy, w).
static void cu_conv2d_bwd_data(Backend *be, const ConvDesc *d, const float *dy, const float *w, float *dx) {
  CudaCtx *c = cuda_ctx(be);
  ConvPlan *p = plan_for(c, d);
  if (!p->have_bwd_data) { cuda_lock(); plan_bwd_data(c, p); cuda_unlock(); }
  const float one = 1.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(c->cudnn, &one, p->w, w, p->y, dy, p->conv, p->bwd_data,
                                           c->workspace, p->bwd_data_ws, &one, p->x, dx));
}

// dw (Cout,Cin,K,K) += correlation of x with dy; db (Cout) += dy summed over B, Ho, Wo.
static void cu_conv2d_bwd_filter(Backend *be, const ConvDesc *d, const float *x, const float *dy, float *dw,
                                 float *db) {
  CudaCtx *c = cuda_ctx(be);
  if (dw) {
    ConvPlan *p = plan_for(c, d);
    if (!p->have_bwd_filter) { cuda_lock(); plan_bwd_filter(c, p); cuda_unlock(); }
    const float one = 1.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->cudnn, &one, p->x, x, p->y, dy, p->conv, p->bwd_filter,
                                               c->workspace, p->bwd_filter_ws, &one, p->w, dw));
  }
  if (db) be->bcast_add_bwd(be, d->B, d->Cout, d->Ho * d->Wo, dy, 0, db);
}

// ---- conv_algos ----

static const char *algo_name(int dir, int algo) {
  static const char *const fwd[] = {"implicit_gemm", "implicit_precomp_gemm", "gemm", "direct", "fft",
                                    "fft_tiling", "winograd", "winograd_nonfused"};
  static const char *const bwd_data[] = {"algo_0", "algo_1", "fft", "fft_tiling", "winograd", "winograd_nonfused"};
  static const char *const bwd_filter[] = {"algo_0", "algo_1", "fft", "algo_3", "winograd", "winograd_nonfused",
                                           "fft_tiling"};
  const char *const *names[3] = {fwd, bwd_data, bwd_filter};
  const int count[3] = {8, 6, 7};
  return algo >= 0 && algo < count[dir] ? names[dir][algo] : "other";
}

// Every planned (shape, direction), in the cache's order.
static int cu_conv_algos(Backend *be, ConvAlgo *out, int cap) {
  ConvCache *cc = cuda_ctx(be)->convs;
  int k = 0;
  for (int s = 0; cc && s < cc->cap; s++) {
    const ConvPlan *p = cc->slot[s];
    if (!p) continue;
    const int have[3] = {p->have_fwd, p->have_bwd_data, p->have_bwd_filter};
    for (int dir = 0; dir < 3; dir++) {
      if (!have[dir]) continue;
      if (k < cap) {
        const AlgoNote *a = &p->note[dir];
        ConvAlgo *o = &out[k];
        o->d = p->key;
        o->dir = (ConvDir)dir;
        snprintf(o->chosen, sizeof o->chosen, "%s", algo_name(dir, a->chosen));
        snprintf(o->fastest, sizeof o->fastest, "%s", algo_name(dir, a->fastest));
        o->chosen_ms = a->chosen_ms;
        o->fastest_ms = a->fastest_ms;
        o->fastest_deterministic = a->fastest_det;
      }
      k++;
    }
  }
  return k;
}

void cuda_install_conv(Backend *be) {
  be->conv_algos = cu_conv_algos;
  be->conv2d_fwd = cu_conv2d_fwd;
  be->conv2d_bwd_data = cu_conv2d_bwd_data;
  be->conv2d_bwd_filter = cu_conv2d_bwd_filter;
}
