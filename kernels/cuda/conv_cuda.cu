// conv_cuda.cu — 2-D convolutions with cuDNN.
//
// Each distinct ConvDesc gets a plan: its four cuDNN descriptors and, chosen the first time a
// direction runs, the algorithm for that direction. Plans live in a small open-addressing hash
// table keyed by the ConvDesc, so a training step only looks them up. Algorithms come from
// cudnnFind* (measured once per shape), taking the fastest deterministic one that needs at most
// WORKSPACE_LIMIT bytes, or with BackendOpts.nondeterministic the fastest of all (as PyTorch's
// cudnn.benchmark does); when Find fails, the cudnnGet*_v7 heuristics decide. Each plan notes
// the chosen algorithm and the fastest usable one with Find's times (conv_algos reports them).
// With BackendOpts.engine_search, planning also asks cuDNN's graph API for its engines
// (conv_engines.cu, as PyTorch's cudnn.benchmark does) and times them, the legacy choice and the
// fastest legacy algorithm alike (CUDA events on scratch tensors of the shape), keeping the
// fastest that the policy allows; the note then holds those times.
// All directions share one workspace, grown (never per step) when a new plan needs more.
// Planning searches and allocates, so it runs under cuda_lock().
//
// The contract makes backward ops accumulate: cuDNN's beta = 1 does exactly that. The bias and
// its gradient use the broadcast kernels of ops_cuda.cu.
#include "cuda_common.cuh"

#define WORKSPACE_LIMIT ((size_t)1 << 30)

// What planning one direction decided, for conv_algos.
typedef struct {
  char chosen[24], fastest[24];  // algorithm names (legacy) or "engine N" (graph API)
  float chosen_ms, fastest_ms;   // time per call; -1 when the heuristics chose
  int fastest_det;
} AlgoNote;

typedef struct {
  ConvDesc key;
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  // By ConvDir: planned yet; the legacy algorithm (a cuDNN enum value), whether it is
  // deterministic, and its workspace; the graph-API plan that runs instead (engine >= 0, one of
  // engines[dir]).
  int have[3], algo[3], algo_det[3], engine[3];
  size_t ws[3];
  ConvEngines engines[3];
  AlgoNote note[3];
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
  p->engine[0] = p->engine[1] = p->engine[2] = -1;
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
    for (int dir = 0; dir < 3; dir++) conv_engines_keep(&p->engines[dir], -1);
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

// Notes result i as chosen beside the fastest usable result; times only when Find measured them.
template <typename Perf>
static void note_pick(AlgoNote *a, int dir, const Perf *r, int n, int i, int measured, const CudaCtx *c) {
  int f = first_usable(r, n, c->tf32, 0);  // >= 0: result i is usable
  snprintf(a->chosen, sizeof a->chosen, "%s", algo_name(dir, (int)r[i].algo));
  snprintf(a->fastest, sizeof a->fastest, "%s", algo_name(dir, (int)r[f].algo));
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

static cudnnStatus_t checked(cudnnStatus_t s, int check, const char *call, int line) {
  if (check && s != CUDNN_STATUS_SUCCESS) cuda_check_failed("cuDNN", cudnnGetErrorString(s), call, __FILE__, line);
  return s;
}
// The call's status; with `check`, a failure is fatal and names the call, as CUDNN_CHECK does.
#define CHECKED_IF(check, call) checked((call), (check), #call, __LINE__)

// The workspace legacy algorithm `algo` of direction dir needs, in *bytes.
static cudnnStatus_t legacy_workspace(CudaCtx *c, const ConvPlan *p, ConvDir dir, int algo, size_t *bytes, int check) {
  switch (dir) {
  case CONV_FWD:
    return CHECKED_IF(check, cudnnGetConvolutionForwardWorkspaceSize(c->cudnn, p->x, p->w, p->conv, p->y,
                                                                     (cudnnConvolutionFwdAlgo_t)algo, bytes));
  case CONV_BWD_DATA:
    return CHECKED_IF(check, cudnnGetConvolutionBackwardDataWorkspaceSize(c->cudnn, p->w, p->y, p->conv, p->x,
                                                                          (cudnnConvolutionBwdDataAlgo_t)algo, bytes));
  default:
    return CHECKED_IF(check, cudnnGetConvolutionBackwardFilterWorkspaceSize(c->cudnn, p->x, p->y, p->conv, p->w,
                                                                            (cudnnConvolutionBwdFilterAlgo_t)algo,
                                                                            bytes));
  }
}

// Chooses direction dir's legacy algorithm (Find, else the heuristics) and its workspace size;
// returns the fastest usable one's enum value (it may be nondeterministic), for engine_search.
// One template for the three directions: Find and Get_v7 differ only in how they take the
// descriptors.
template <typename Perf, typename FindFn, typename GetFn>
static int plan_legacy(CudaCtx *c, ConvPlan *p, ConvDir dir, const char *name, FindFn find, GetFn get) {
  Perf r[MAX_ALGOS];
  int n = 0, i = -1, measured = 1;
  if (find(MAX_ALGOS, &n, r) == CUDNN_STATUS_SUCCESS) i = pick(r, n, c);
  if (i < 0) {
    measured = 0;
    CUDNN_CHECK(get(MAX_ALGOS, &n, r));
    if ((i = pick(r, n, c)) < 0) no_algorithm(name, &p->key);
  }
  note_pick(&p->note[dir], dir, r, n, i, measured, c);
  p->algo[dir] = (int)r[i].algo;
  p->algo_det[dir] = r[i].determinism == CUDNN_DETERMINISTIC;
  legacy_workspace(c, p, dir, p->algo[dir], &p->ws[dir], 1);
  return (int)r[first_usable(r, n, c->tf32, 0)].algo;
}

static int plan_legacy_dir(CudaCtx *c, ConvPlan *p, ConvDir dir) {
  cudnnHandle_t h = c->cudnn;
  switch (dir) {
  case CONV_FWD:
    return plan_legacy<cudnnConvolutionFwdAlgoPerf_t>(
        c, p, dir, "forward",
        [&](int cap, int *n, cudnnConvolutionFwdAlgoPerf_t *r) {
          return cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, p->conv, p->y, cap, n, r);
        },
        [&](int cap, int *n, cudnnConvolutionFwdAlgoPerf_t *r) {
          return cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y, cap, n, r);
        });
  case CONV_BWD_DATA:
    return plan_legacy<cudnnConvolutionBwdDataAlgoPerf_t>(
        c, p, dir, "backward-data",
        [&](int cap, int *n, cudnnConvolutionBwdDataAlgoPerf_t *r) {
          return cudnnFindConvolutionBackwardDataAlgorithm(h, p->w, p->y, p->conv, p->x, cap, n, r);
        },
        [&](int cap, int *n, cudnnConvolutionBwdDataAlgoPerf_t *r) {
          return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x, cap, n, r);
        });
  default:
    return plan_legacy<cudnnConvolutionBwdFilterAlgoPerf_t>(
        c, p, dir, "backward-filter",
        [&](int cap, int *n, cudnnConvolutionBwdFilterAlgoPerf_t *r) {
          return cudnnFindConvolutionBackwardFilterAlgorithm(h, p->x, p->y, p->conv, p->w, cap, n, r);
        },
        [&](int cap, int *n, cudnnConvolutionBwdFilterAlgoPerf_t *r) {
          return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w, cap, n, r);
        });
  }
}

// Queues legacy algorithm `algo` of direction dir on (x, w, y) as conv_engine_run takes them:
// (dx, w, dy) backward-data, (x, dw, dy) backward-filter. Forward overwrites y; backward adds.
static cudnnStatus_t legacy_run(CudaCtx *c, const ConvPlan *p, ConvDir dir, int algo, const void *x, const void *w,
                                const void *y, void *ws, size_t ws_bytes, int check) {
  const float one = 1.0f, zero = 0.0f;
  switch (dir) {
  case CONV_FWD:
    return CHECKED_IF(check, cudnnConvolutionForward(c->cudnn, &one, p->x, x, p->w, w, p->conv,
                                                     (cudnnConvolutionFwdAlgo_t)algo, ws, ws_bytes, &zero, p->y,
                                                     (void *)y));
  case CONV_BWD_DATA:
    return CHECKED_IF(check, cudnnConvolutionBackwardData(c->cudnn, &one, p->w, w, p->y, y, p->conv,
                                                          (cudnnConvolutionBwdDataAlgo_t)algo, ws, ws_bytes, &one,
                                                          p->x, (void *)x));
  default:
    return CHECKED_IF(check, cudnnConvolutionBackwardFilter(c->cudnn, &one, p->x, x, p->y, y, p->conv,
                                                            (cudnnConvolutionBwdFilterAlgo_t)algo, ws, ws_bytes, &one,
                                                            p->w, (void *)w));
  }
}

// One contender of engine_search: a legacy algorithm (engine -1) or graph-API plan `engine`.
typedef struct {
  int algo, engine, det;
  size_t ws;
  float ms;
} Contender;

#define TIMED_RUNS 3

// Best of TIMED_RUNS runs of contender k after one warm-up, in ms; -1 when it fails to run
// (a plan cuDNN finalized may still refuse to run: it then loses, and nothing else happens).
static float time_contender(CudaCtx *c, const ConvPlan *p, ConvDir dir, const Contender *k, void *x, void *w,
                            void *y, void *ws) {
  cudaEvent_t t0, t1;
  CUDA_CHECK(cudaEventCreate(&t0));
  CUDA_CHECK(cudaEventCreate(&t1));
  float best = -1.0f;
  for (int run = 0; run <= TIMED_RUNS; run++) {
    CUDA_CHECK(cudaEventRecord(t0, c->stream));
    const cudnnStatus_t s = k->engine >= 0 ? conv_engine_run(c, &p->engines[dir].e[k->engine], x, w, y, ws, 0)
                                           : legacy_run(c, p, dir, k->algo, x, w, y, ws, k->ws, 0);
    if (s != CUDNN_STATUS_SUCCESS) {  // a contender that does not run is out of the race
      best = -1.0f;
      break;
    }
    CUDA_CHECK(cudaEventRecord(t1, c->stream));
    CUDA_CHECK(cudaEventSynchronize(t1));
    float ms;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1));
    if (run > 0 && (best < 0 || ms < best)) best = ms;
  }
  CUDA_CHECK(cudaEventDestroy(t0));
  CUDA_CHECK(cudaEventDestroy(t1));
  return best;
}

static void engine_name(char *out, size_t cap, const Contender *k, ConvDir dir, const ConvEngines *es) {
  if (k->engine >= 0) snprintf(out, cap, "engine %lld", (long long)es->e[k->engine].engine);
  else snprintf(out, cap, "%s", algo_name(dir, k->algo));
}

// Times the legacy choice, the fastest legacy algorithm and every graph-API plan for direction
// dir of p on scratch tensors of its shape, and runs the fastest that the policy allows from now
// on. Nothing changes when the graph API offers nothing or the scratch does not fit.
static void engine_search(CudaCtx *c, ConvPlan *p, ConvDir dir, int legacy_fastest) {
  ConvEngines *es = &p->engines[dir];
  if (!conv_engines_find(c, &p->key, dir, WORKSPACE_LIMIT, es)) return;
  Contender k[CONV_MAX_ENGINES + 2];
  int n = 0;
  k[n++] = (Contender){p->algo[dir], -1, p->algo_det[dir], p->ws[dir], -1.0f};  // pick() chose it: allowed
  size_t fast_ws = 0;
  if (legacy_fastest != p->algo[dir] && legacy_workspace(c, p, dir, legacy_fastest, &fast_ws, 0) == CUDNN_STATUS_SUCCESS &&
      fast_ws <= WORKSPACE_LIMIT)
    k[n++] = (Contender){legacy_fastest, -1, p->note[dir].fastest_det, fast_ws, -1.0f};
  for (int i = 0; i < es->n; i++) k[n++] = (Contender){-1, i, es->e[i].deterministic, es->e[i].workspace, -1.0f};
  size_t ws_bytes = 0;
  for (int i = 0; i < n; i++) ws_bytes = k[i].ws > ws_bytes ? k[i].ws : ws_bytes;

  const ConvDesc *d = &p->key;
  const size_t bytes[3] = {(size_t)d->B * d->Cin * d->H * d->W * 4, (size_t)d->Cout * d->Cin * d->K * d->K * 4,
                           (size_t)d->B * d->Cout * d->Ho * d->Wo * 4};
  void *buf[4] = {NULL, NULL, NULL, NULL};
  int ok = 1;
  for (int i = 0; i < 4 && ok; i++) {
    ok = cudaMalloc(&buf[i], i < 3 ? bytes[i] : ws_bytes ? ws_bytes : 1) == cudaSuccess;
    if (ok && i < 3) CUDA_CHECK(cudaMemsetAsync(buf[i], 0, bytes[i], c->stream));
  }
  int best = 0;
  if (ok) {
    for (int i = 0; i < n; i++) k[i].ms = time_contender(c, p, dir, &k[i], buf[0], buf[1], buf[2], buf[3]);
    // The first contender is the legacy choice: another must beat it to replace it.
    int fastest = 0;
    for (int i = 1; i < n; i++) {
      if (k[i].ms < 0) continue;
      if (k[fastest].ms < 0 || k[i].ms < k[fastest].ms) fastest = i;
      if ((k[i].det || !c->deterministic) && (k[best].ms < 0 || k[i].ms < k[best].ms)) best = i;
    }
    AlgoNote *a = &p->note[dir];
    engine_name(a->chosen, sizeof a->chosen, &k[best], dir, es);
    engine_name(a->fastest, sizeof a->fastest, &k[fastest], dir, es);
    a->chosen_ms = k[best].ms;
    a->fastest_ms = k[fastest].ms;
    a->fastest_det = k[fastest].det;
  } else {
    (void)cudaGetLastError();  // out of memory for the scratch: the legacy choice stays
  }
  CUDA_CHECK(cudaStreamSynchronize(c->stream));
  for (int i = 0; i < 4; i++)
    if (buf[i]) CUDA_CHECK(cudaFree(buf[i]));
  if (k[best].engine >= 0) {
    p->engine[dir] = k[best].engine;  // the legacy choice stays planned, for unaligned views
  } else {
    p->algo[dir] = k[best].algo;
    p->ws[dir] = k[best].ws;
  }
  conv_engines_keep(es, k[best].engine);  // -1: none of them
}

// Plans direction dir of p on first use.
static void plan_dir(CudaCtx *c, ConvPlan *p, ConvDir dir) {
  if (p->have[dir]) return;
  cuda_lock();
  int fastest = plan_legacy_dir(c, p, dir);
  if (c->engine_search) engine_search(c, p, dir, fastest);
  reserve_workspace(c, p->ws[dir]);
  if (p->engine[dir] >= 0) reserve_workspace(c, p->engines[dir].e[p->engine[dir]].workspace);
  p->have[dir] = 1;
  cuda_unlock();
}

// Runs direction dir of p as planned: (x, w, y) as conv_engine_run takes them. A graph-API plan
// was declared for 16-byte aligned tensors; a view that is not runs the legacy choice.
static void conv_run(CudaCtx *c, ConvPlan *p, ConvDir dir, const void *x, const void *w, const void *y) {
  if (p->engine[dir] >= 0 && conv_engine_aligned(x, w, y)) {
    conv_engine_run(c, &p->engines[dir].e[p->engine[dir]], x, w, y, c->workspace, 1);
    return;
  }
  legacy_run(c, p, dir, p->algo[dir], x, w, y, c->workspace, p->ws[dir], 1);
}

// x is (B,Cin,H,W), w is (Cout,Cin,K,K), b is (Cout) or NULL; y (B,Cout,Ho,Wo) is overwritten.
static void cu_conv2d_fwd(Backend *be, const ConvDesc *d, const float *x, const float *w, const float *b,
                          float *y) {
  CudaCtx *c = cuda_ctx(be);
  ConvPlan *p = plan_for(c, d);
  plan_dir(c, p, CONV_FWD);
  conv_run(c, p, CONV_FWD, x, w, y);
  if (b) be->bcast_add(be, d->B, d->Cout, d->Ho * d->Wo, b, 0, y);
}

// dx (B,Cin,H,W) += conv_transpose(dy, w).
static void cu_conv2d_bwd_data(Backend *be, const ConvDesc *d, const float *dy, const float *w, float *dx) {
  CudaCtx *c = cuda_ctx(be);
  ConvPlan *p = plan_for(c, d);
  plan_dir(c, p, CONV_BWD_DATA);
  conv_run(c, p, CONV_BWD_DATA, dx, w, dy);
}

// dw (Cout,Cin,K,K) += correlation of x with dy; db (Cout) += dy summed over B, Ho, Wo.
static void cu_conv2d_bwd_filter(Backend *be, const ConvDesc *d, const float *x, const float *dy, float *dw,
                                 float *db) {
  CudaCtx *c = cuda_ctx(be);
  if (dw) {
    ConvPlan *p = plan_for(c, d);
    plan_dir(c, p, CONV_BWD_FILTER);
    conv_run(c, p, CONV_BWD_FILTER, x, dw, dy);
  }
  if (db) be->bcast_add_bwd(be, d->B, d->Cout, d->Ho * d->Wo, dy, 0, db);
}

// ---- conv_algos ----

// Every planned (shape, direction), in the cache's order.
static int cu_conv_algos(Backend *be, ConvAlgo *out, int cap) {
  ConvCache *cc = cuda_ctx(be)->convs;
  int k = 0;
  for (int s = 0; cc && s < cc->cap; s++) {
    const ConvPlan *p = cc->slot[s];
    if (!p) continue;
    for (int dir = 0; dir < 3; dir++) {
      if (!p->have[dir]) continue;
      if (k < cap) {
        const AlgoNote *a = &p->note[dir];
        ConvAlgo *o = &out[k];
        o->d = p->key;
        o->dir = (ConvDir)dir;
        memcpy(o->chosen, a->chosen, sizeof o->chosen);
        memcpy(o->fastest, a->fastest, sizeof o->fastest);
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
