// conv_engines.cu — convolutions through cuDNN's graph API: the engines PyTorch's
// cudnn.benchmark chooses among, beside the legacy algorithms of conv_cuda.cu.
//
// One direction of one convolution shape is an operation graph of one node. cuDNN's heuristics
// (modes instant and fallback, as PyTorch asks, and B) list engine configurations for it; each one
// that finalizes into an execution plan, needs at most the workspace limit and keeps to the math
// the backend allows (no TF32 unless c->tf32, never inputs converted down) is a candidate.
// conv_cuda.cu times the candidates beside its legacy algorithm and keeps the fastest.
//
// Everything here may fail on a cuDNN that lacks an engine for a shape, or the graph API for
// a direction: planning then keeps the legacy algorithm (a failure to build the graph itself
// is said once per backend on stderr), and a plan that fails to run while timed loses. Once
// chosen, a plan that fails to run is fatal, naming the call (conv_engine_run with check).
#include "cuda_common.cuh"

#include <vector>

// Tensor uids: the three tensors of every direction (dx, dw, dy are x, w, y).
enum { UID_X = 'x', UID_W = 'w', UID_Y = 'y' };

// Builds descriptors, keeps the first failure and skips every call after it; destroys what it
// made, except what release() hands over.
struct Builder {
  cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
  char failed[96] = "";  // the first call that failed
  std::vector<cudnnBackendDescriptor_t> made;

  bool ok() const { return st == CUDNN_STATUS_SUCCESS; }
  bool check(cudnnStatus_t s, const char *call, long attr = -1) {
    if (ok() && s != CUDNN_STATUS_SUCCESS) {
      st = s;
      if (attr >= 0) snprintf(failed, sizeof failed, "%s(attribute %ld)", call, attr);
      else snprintf(failed, sizeof failed, "%s", call);
    }
    return ok();
  }
  cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t type) {
    cudnnBackendDescriptor_t d = NULL;
    if (ok() && check(cudnnBackendCreateDescriptor(type, &d), "cudnnBackendCreateDescriptor")) made.push_back(d);
    return d;
  }
  void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, int64_t n,
           const void *v) {
    if (ok()) check(cudnnBackendSetAttribute(d, a, t, n, v), "cudnnBackendSetAttribute", (long)a);
  }
  void get(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, int64_t cap,
           int64_t *n, void *v) {
    if (ok()) check(cudnnBackendGetAttribute(d, a, t, cap, n, v), "cudnnBackendGetAttribute", (long)a);
  }
  void finalize(cudnnBackendDescriptor_t d) {
    if (ok()) check(cudnnBackendFinalize(d), "cudnnBackendFinalize");
  }
  // d is the caller's to destroy from now on.
  void release(cudnnBackendDescriptor_t d) {
    for (auto &m : made)
      if (m == d) m = NULL;
  }
  ~Builder() {
    for (auto d : made)
      if (d) cudnnBackendDestroyDescriptor(d);
  }
};

// A packed NCHW float tensor, declared 16-byte aligned: conv_cuda.cu runs a view that is not on
// its legacy algorithm (conv_engine_aligned).
static cudnnBackendDescriptor_t tensor(Builder &b, int64_t uid, int n, int c, int h, int w) {
  const int64_t dims[4] = {n, c, h, w}, strides[4] = {(int64_t)c * h * w, (int64_t)h * w, w, 1}, align = 16;
  const cudnnDataType_t f = CUDNN_DATA_FLOAT;
  cudnnBackendDescriptor_t t = b.make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  b.set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
  b.set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
  b.set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
  b.set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  b.set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
  b.finalize(t);
  return t;
}

// The operation graph of one direction of d: alpha 1, beta 0 forward and 1 backward (the
// backward ops accumulate, as the backend contract says).
static cudnnBackendDescriptor_t op_graph(Builder &b, CudaCtx *c, const ConvDesc *d, ConvDir dir) {
  cudnnBackendDescriptor_t x = tensor(b, UID_X, d->B, d->Cin, d->H, d->W);
  cudnnBackendDescriptor_t w = tensor(b, UID_W, d->Cout, d->Cin, d->K, d->K);
  cudnnBackendDescriptor_t y = tensor(b, UID_Y, d->B, d->Cout, d->Ho, d->Wo);

  const cudnnDataType_t f = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t spatial = 2, pads[2] = {d->pad, d->pad}, strides[2] = {d->stride, d->stride}, ones[2] = {1, 1};
  cudnnBackendDescriptor_t conv = b.make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  b.set(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
  b.set(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  b.set(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
  b.set(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
  b.set(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
  b.set(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides);
  b.set(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, ones);
  b.finalize(conv);

  static const cudnnBackendDescriptorType_t type[3] = {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                                                       CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
                                                       CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR};
  // Per direction: alpha, beta, conv, then the attributes that take x, w and y.
  static const cudnnBackendAttributeName_t attr[3][6] = {
      {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y},
      {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY},
      {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY}};
  const float alpha = 1.0f, beta = dir == CONV_FWD ? 0.0f : 1.0f;
  const cudnnBackendAttributeName_t *a = attr[dir];
  cudnnBackendDescriptor_t op = b.make(type[dir]);
  b.set(op, a[0], CUDNN_TYPE_FLOAT, 1, &alpha);
  b.set(op, a[1], CUDNN_TYPE_FLOAT, 1, &beta);
  b.set(op, a[2], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv);
  b.set(op, a[3], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
  b.set(op, a[4], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w);
  b.set(op, a[5], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
  b.finalize(op);

  // The handle attributes (here and on the plan) are deprecated since cuDNN 9.8 in favour of a
  // device-property descriptor (for building plans without a device); cuDNN 9 still takes them.
  cudnnBackendDescriptor_t g = b.make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  b.set(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op);
  b.set(g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->cudnn);
  b.finalize(g);
  return g;
}

#define MAX_CONFIGS_PER_MODE 8  // the heuristics put their best first; planning time grows with each

// The engine configurations heuristics mode `mode` offers for graph g (none when it fails).
static std::vector<cudnnBackendDescriptor_t> configs(Builder &b, cudnnBackendDescriptor_t g, cudnnBackendHeurMode_t mode) {
  Builder h;  // a mode that fails is skipped, not fatal to the search
  cudnnBackendDescriptor_t heur = h.make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  h.set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
  h.set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  h.finalize(heur);
  int64_t count = 0;
  h.get(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL);
  if (!h.ok() || count <= 0) return {};
  if (count > MAX_CONFIGS_PER_MODE) count = MAX_CONFIGS_PER_MODE;
  std::vector<cudnnBackendDescriptor_t> cfg;
  for (int64_t i = 0; i < count; i++) cfg.push_back(b.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
  int64_t got = 0;
  if (b.ok()) h.get(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, cfg.data());
  if (!h.ok()) return {};
  cfg.resize((size_t)(got < count ? got : count));
  return cfg;
}

// Whether an engine configuration keeps to the math the backend allows; its engine's index and
// whether it is deterministic. False also when its notes cannot be read.
static bool allowed(cudnnBackendDescriptor_t cfg, int tf32, int64_t *index, int *deterministic) {
  Builder b;
  cudnnBackendDescriptor_t eng = b.make(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  int64_t one = 0, n = 0, nb = 0;  // element counts: of the engine, the notes, the behaviours
  b.get(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &one, &eng);
  cudnnBackendNumericalNote_t note[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  b.get(eng, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, note);
  b.get(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &one, index);
  if (!b.ok()) return false;
  // Behaviour notes are a convenience: a cuDNN that cannot list them has none to avoid.
  if (cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &nb, behavior) != CUDNN_STATUS_SUCCESS)
    nb = 0;
  *deterministic = 1;
  for (int64_t i = 0; i < n && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; i++) {
    if (note[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return false;
    if (note[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE && !tf32) return false;  // float in, TF32 inside
    if (note[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) *deterministic = 0;
  }
  // Kernels compiled at run time take seconds per plan to finalize, for one convolution's gain.
  for (int64_t i = 0; i < nb && i < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; i++)
    if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) return false;
  return true;
}

int conv_engines_find(CudaCtx *c, const ConvDesc *d, ConvDir dir, size_t limit, ConvEngines *out) {
  memset(out, 0, sizeof *out);
  Builder b;
  cudnnBackendDescriptor_t g = op_graph(b, c, d, dir);
  if (!b.ok()) {
    if (!c->engines_failed) {  // said once: every shape would fail the same way
      fprintf(stderr, "stepscope: cuDNN's graph API refused a convolution (%s: %s); the legacy algorithms run\n",
              b.failed, cudnnGetErrorString(b.st));
      c->engines_failed = 1;
    }
    return 0;
  }
  static const cudnnBackendHeurMode_t modes[3] = {CUDNN_HEUR_MODE_INSTANT, CUDNN_HEUR_MODE_B, CUDNN_HEUR_MODE_FALLBACK};
  for (int m = 0; m < 3 && out->n < CONV_MAX_ENGINES; m++) {
    for (cudnnBackendDescriptor_t cfg : configs(b, g, modes[m])) {
      if (out->n == CONV_MAX_ENGINES) break;
      ConvEngine e = {};
      if (!allowed(cfg, c->tf32, &e.engine, &e.deterministic)) continue;
      Builder p;  // a configuration that does not finalize (it does not support this shape) is skipped
      cudnnBackendDescriptor_t plan = p.make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      p.set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->cudnn);
      p.set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg);
      p.finalize(plan);
      int64_t ws = 0, one = 0;
      p.get(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &one, &ws);
      if (!p.ok() || ws < 0 || (size_t)ws > limit) continue;
      p.release(plan);
      e.plan = plan;
      e.workspace = (size_t)ws;
      out->e[out->n++] = e;
    }
  }
  if (!out->n) return 0;
  // The plans were made from the graph and configurations: they live as long as the plans do.
  out->owned = new std::vector<cudnnBackendDescriptor_t>(std::move(b.made));
  b.made.clear();
  return out->n;
}

cudnnStatus_t conv_engine_run(CudaCtx *c, const ConvEngine *e, const void *x, const void *w, const void *y, void *ws,
                              int check) {
  Builder b;
  void *ptr[3] = {(void *)x, (void *)w, (void *)y};
  const int64_t uid[3] = {UID_X, UID_W, UID_Y};
  cudnnBackendDescriptor_t pack = b.make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  b.set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptr);
  b.set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uid);
  b.set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
  b.finalize(pack);
  if (b.ok()) b.check(cudnnBackendExecute(c->cudnn, e->plan, pack), "cudnnBackendExecute");
  if (!b.ok() && check) cuda_check_failed("cuDNN", cudnnGetErrorString(b.st), b.failed, __FILE__, __LINE__);
  return b.st;
}

int conv_engine_aligned(const void *x, const void *w, const void *y) {
  return ((uintptr_t)x | (uintptr_t)w | (uintptr_t)y) % 16 == 0;
}

// Destroys every plan but the one at `keep` (-1: all of them), and with none left, the
// descriptors they were made from.
void conv_engines_keep(ConvEngines *es, int keep) {
  for (int i = 0; i < es->n; i++)
    if (i != keep && es->e[i].plan) {
      cudnnBackendDestroyDescriptor(es->e[i].plan);
      es->e[i].plan = NULL;
    }
  if (keep < 0 && es->owned) {
    auto *owned = (std::vector<cudnnBackendDescriptor_t> *)es->owned;
    for (auto d : *owned)
      if (d) cudnnBackendDestroyDescriptor(d);
    delete owned;
    es->owned = NULL;
    es->n = 0;
  }
}
