// cudnn_graph_emu.cpp — the emulated cuDNN graph API (cudnn_graph_emu.h says what it checks).
#include "tests/cuda_emu/cudnn_graph_emu.h"
#include "tests/cuda_emu/cudnn_emu_internal.h"

#include <pthread.h>
#include <stdio.h>

#include <map>
#include <set>
#include <vector>

namespace cuda_emu {
namespace {

// ---- the made-up engines ----

struct Engine {
  int64_t index;
  bool det, tensor_core, down_convert, runtime_compiled, stride1_only;
  int ws_kind;  // 0 none, 1 small, 2 a column matrix, 3 large
};

const Engine engines[] = {
    {0, true, false, false, false, false, 0},  {4, false, false, false, false, false, 0},  // atomics
    {6, true, true, false, false, false, 1},   {11, true, false, false, false, true, 2},
    {27, true, false, false, true, false, 0},  {39, true, true, true, false, false, 1},
    {58, true, false, false, false, false, 3},
};

const Engine *engine_by_index(int64_t index) {
  for (const Engine &e : engines)
    if (e.index == index) return &e;
  return NULL;
}

// What each heuristics mode offers, best first as it judges.
std::vector<int64_t> offered(cudnnBackendHeurMode_t mode) {
  switch (mode) {
  case CUDNN_HEUR_MODE_INSTANT:
  case CUDNN_HEUR_MODE_A: return {11, 0, 6, 58};
  case CUDNN_HEUR_MODE_B: return {4, 58, 27, 0, 39};
  case CUDNN_HEUR_MODE_FALLBACK: return {0, 11};
  }
  return {};
}

size_t engine_workspace(const Engine &e, const Shape &s) {
  switch (e.ws_kind) {
  case 1: return (size_t)s.r * s.s * s.ho * s.wo * 4 + 256;
  case 2: return (size_t)s.c * s.r * s.s * s.ho * s.wo * 4;
  case 3: return (size_t)s.n * (s.c + s.k) * (s.h + s.r) * (s.w + s.s) * 8;
  }
  return 0;
}

// Made up, fixed per direction, shape and engine, in the legacy algorithms' range.
double engine_ms(Dir d, const Shape &s, const Engine &e) {
  const uint64_t h = made_up_hash({(int)d, s.n, s.c, s.h, s.w, s.k, s.r, s.u, s.pad_h, 1000 + (int)e.index});
  double ms = 0.04 + (double)(h % 1000) / 1000.0;
  if (!e.det) ms *= 0.6;
  if (e.tensor_core) ms *= 0.5;
  return ms;
}

// ---- descriptors ----

struct Attr {
  cudnnBackendAttributeType_t type;
  int64_t n;
  std::vector<uint8_t> bytes;
  template <typename T> T at(int64_t i) const {
    T v;
    memcpy(&v, bytes.data() + i * sizeof(T), sizeof v);
    return v;
  }
};

// One convolution node as finalizing resolved it: what graphs, configurations, engines and
// plans carry on (copied, so that they do not depend on the descriptors they came from).
struct ConvNode {
  Dir dir;
  Shape s;
  float alpha, beta;
  int64_t uid[3], align[3];  // x (or dx), w (or dw), y (or dy)
};

struct Desc {
  cudnnBackendDescriptorType_t type;
  bool finalized = false;
  std::map<int, Attr> attrs;
  // Derived when finalized (or filled by a getter, for configurations and engines):
  int64_t dims[4] = {0, 0, 0, 0}, uid = 0, align = 0;  // tensor
  ConvNode node = {};                                   // operation, graph, heuristics, config, engine, plan
  std::vector<int64_t> offer;                           // heuristics: engine indices
  const Engine *engine = NULL;                          // config, engine, plan
  size_t workspace = 0;                                 // plan
  std::map<int64_t, void *> bound;                      // variant pack: uid -> pointer
  void *ws = NULL;                                      // variant pack
};

pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
std::set<Desc *> live;

Desc *live_desc(cudnnBackendDescriptor_t d) {
  pthread_mutex_lock(&live_lock);
  Desc *r = live.count((Desc *)d) ? (Desc *)d : NULL;
  pthread_mutex_unlock(&live_lock);
  return r;
}

cudnnStatus_t refuse(cudnnStatus_t s, const char *call, const char *why, long attr = -1) {
  if (attr >= 0) fprintf(stderr, "cuda_emu: %s(attribute %ld): %s (%s)\n", call, attr, cudnnGetErrorString(s), why);
  else fprintf(stderr, "cuda_emu: %s: %s (%s)\n", call, cudnnGetErrorString(s), why);
  return s;
}

size_t element_size(cudnnBackendAttributeType_t t) {
  switch (t) {
  case CUDNN_TYPE_DATA_TYPE:
  case CUDNN_TYPE_FLOAT:
  case CUDNN_TYPE_CONVOLUTION_MODE:
  case CUDNN_TYPE_HEUR_MODE:
  case CUDNN_TYPE_NUMERICAL_NOTE:
  case CUDNN_TYPE_BEHAVIOR_NOTE: return 4;
  default: return 8;  // handles, int64, double, pointers, descriptors
  }
}

// Which attributes each kind of descriptor takes, of what type and how many (the operations'
// are op_attrs's, below).
struct Rule {
  cudnnBackendDescriptorType_t desc;
  cudnnBackendAttributeName_t name;
  cudnnBackendAttributeType_t type;
  int64_t min_n, max_n;
};

const Rule rules[] = {
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, 1},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 1, 8},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 1, 8},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, 1},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, 1},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, 1},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, 1},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, 1},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 1, 3},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 1, 3},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 1, 3},
    {CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 1, 3},
    {CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 64},
    {CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, 1},
    {CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1},
    {CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, 1},
    {CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, 1},
    {CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
     1, 1},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 1, 64},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 1, 64},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, 1},
};

// The attributes of one operation kind: alpha and beta (float or double), then the convolution
// and the tensors x, w and y (descriptors), one of each.
struct OpAttrs {
  cudnnBackendDescriptorType_t type;
  Dir dir;
  cudnnBackendAttributeName_t a[6];
};
const OpAttrs op_attrs[3] = {
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, FWD,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y}},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, BWD_DATA,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY}},
    {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR, BWD_FILTER,
     {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY}},
};

const OpAttrs *op_kind(cudnnBackendDescriptorType_t t) {
  for (const OpAttrs &o : op_attrs)
    if (o.type == t) return &o;
  return NULL;
}

// The finalized descriptor of kind `type` that attribute `name` of d refers to, or NULL.
Desc *child(const Desc *d, int name, cudnnBackendDescriptorType_t type) {
  auto it = d->attrs.find(name);
  if (it == d->attrs.end()) return NULL;
  Desc *c = live_desc(it->second.at<cudnnBackendDescriptor_t>(0));
  return c && c->finalized && c->type == type ? c : NULL;
}

const Attr *attr(const Desc *d, int name) {
  auto it = d->attrs.find(name);
  return it == d->attrs.end() ? NULL : &it->second;
}

bool has_all(const Desc *d, std::initializer_list<int> names) {
  for (int n : names)
    if (!d->attrs.count(n)) return false;
  return true;
}

double scalar(const Attr *a) { return a->type == CUDNN_TYPE_FLOAT ? a->at<float>(0) : a->at<double>(0); }

const char *const FIN = "cudnnBackendFinalize";

cudnnStatus_t finalize_tensor(Desc *d) {
  if (!has_all(d, {CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_ATTR_TENSOR_STRIDES,
                   CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT}))
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "a tensor needs its type, dimensions, strides, uid and alignment");
  const Attr *dims = attr(d, CUDNN_ATTR_TENSOR_DIMENSIONS), *str = attr(d, CUDNN_ATTR_TENSOR_STRIDES);
  if (attr(d, CUDNN_ATTR_TENSOR_DATA_TYPE)->at<cudnnDataType_t>(0) != CUDNN_DATA_FLOAT || dims->n != 4 || str->n != 4)
    return refuse(CUDNN_STATUS_NOT_SUPPORTED, FIN, "only 4-d float tensors are emulated");
  int64_t packed = 1;
  for (int i = 3; i >= 0; i--) {
    d->dims[i] = dims->at<int64_t>(i);
    if (d->dims[i] <= 0) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "a tensor dimension <= 0");
    if (str->at<int64_t>(i) != packed) return refuse(CUDNN_STATUS_NOT_SUPPORTED, FIN, "only packed NCHW is emulated");
    packed *= d->dims[i];
  }
  d->uid = attr(d, CUDNN_ATTR_TENSOR_UNIQUE_ID)->at<int64_t>(0);
  d->align = attr(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT)->at<int64_t>(0);
  if (d->align < 4 || (d->align & (d->align - 1)))
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "a tensor's alignment must be a power of two, at least its element");
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t finalize_conv(Desc *d) {
  const int need[] = {CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
                      CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_ATTR_CONVOLUTION_DILATIONS,
                      CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS,
                      CUDNN_ATTR_CONVOLUTION_POST_PADDINGS};
  for (int n : need)
    if (!d->attrs.count(n)) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "a convolution setting is missing", n);
  if (attr(d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS)->at<int64_t>(0) != 2 ||
      attr(d, CUDNN_ATTR_CONVOLUTION_COMP_TYPE)->at<cudnnDataType_t>(0) != CUDNN_DATA_FLOAT)
    return refuse(CUDNN_STATUS_NOT_SUPPORTED, FIN, "only 2-d float convolutions are emulated");
  for (int n : {CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES,
                CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS})
    if (attr(d, n)->n != 2) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "not one value per spatial dimension", n);
  const Attr *pre = attr(d, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS), *post = attr(d, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS);
  const Attr *str = attr(d, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES), *dil = attr(d, CUDNN_ATTR_CONVOLUTION_DILATIONS);
  for (int i = 0; i < 2; i++) {
    if (pre->at<int64_t>(i) < 0 || str->at<int64_t>(i) <= 0)
      return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "a negative padding or a stride <= 0");
    if (pre->at<int64_t>(i) != post->at<int64_t>(i) || dil->at<int64_t>(i) != 1)
      return refuse(CUDNN_STATUS_NOT_SUPPORTED, FIN, "only symmetric padding without dilation is emulated");
  }
  return CUDNN_STATUS_SUCCESS;
}

int out_dim(int in, int pad, int f, int stride) { return (in + 2 * pad - f) / stride + 1; }

cudnnStatus_t finalize_op(Desc *d, const OpAttrs &o) {
  for (int n : o.a)
    if (!d->attrs.count(n)) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "an operation attribute is missing", n);
  Desc *conv = child(d, o.a[2], CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  Desc *t[3];
  for (int i = 0; i < 3; i++) t[i] = child(d, o.a[3 + i], CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  if (!conv || !t[0] || !t[1] || !t[2])
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "a convolution or tensor that is not a live, finalized descriptor");
  if (t[0]->uid == t[1]->uid || t[0]->uid == t[2]->uid || t[1]->uid == t[2]->uid)
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "two tensors share a uid");
  const int64_t *x = t[0]->dims, *w = t[1]->dims, *y = t[2]->dims;
  const int pad = (int)attr(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS)->at<int64_t>(0);
  const int pad_w = (int)attr(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS)->at<int64_t>(1);
  const int u = (int)attr(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES)->at<int64_t>(0);
  const int v = (int)attr(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES)->at<int64_t>(1);
  ConvNode &n = d->node;
  n.dir = o.dir;
  n.s = Shape{(int)x[0], (int)x[1], (int)x[2], (int)x[3], (int)w[0], (int)w[2], (int)w[3],
              out_dim((int)x[2], pad, (int)w[2], u), out_dim((int)x[3], pad_w, (int)w[3], v), pad, pad_w, u, v,
              attr(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE)->at<cudnnConvolutionMode_t>(0) == CUDNN_CONVOLUTION};
  if (x[1] != w[1]) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "x and w disagree on the input channels");
  if (n.s.ho <= 0 || n.s.wo <= 0 || y[0] != x[0] || y[1] != w[0] || y[2] != n.s.ho || y[3] != n.s.wo)
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "y is not the output of this convolution");
  n.alpha = (float)scalar(attr(d, o.a[0]));
  n.beta = (float)scalar(attr(d, o.a[1]));
  for (int i = 0; i < 3; i++) n.uid[i] = t[i]->uid, n.align[i] = t[i]->align;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t finalize_graph(Desc *d) {
  const Attr *ops = attr(d, CUDNN_ATTR_OPERATIONGRAPH_OPS), *h = attr(d, CUDNN_ATTR_OPERATIONGRAPH_HANDLE);
  if (!ops || !h || !h->at<cudnnHandle_t>(0))
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "an operation graph needs its operations and a handle");
  if (ops->n != 1) return refuse(CUDNN_STATUS_NOT_SUPPORTED, FIN, "only graphs of one convolution are emulated");
  Desc *op = live_desc(ops->at<cudnnBackendDescriptor_t>(0));
  if (!op || !op->finalized || !op_kind(op->type))
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "an operation that is not a live, finalized convolution");
  d->node = op->node;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t finalize_heur(Desc *d) {
  Desc *g = child(d, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  const Attr *mode = attr(d, CUDNN_ATTR_ENGINEHEUR_MODE);
  if (!g || !mode) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "heuristics need a finalized graph and a mode");
  d->node = g->node;
  d->offer = offered(mode->at<cudnnBackendHeurMode_t>(0));
  if (d->offer.empty()) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "an unknown heuristics mode");
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t finalize_plan(Desc *d) {
  const Attr *h = attr(d, CUDNN_ATTR_EXECUTION_PLAN_HANDLE);
  Desc *cfg = child(d, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  if (!h || !h->at<cudnnHandle_t>(0) || !cfg)
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "a plan needs a handle and a finalized engine configuration");
  d->node = cfg->node;
  d->engine = cfg->engine;
  const Shape &s = d->node.s;
  if (d->engine->stride1_only && (s.u != 1 || s.v != 1))
    return CUDNN_STATUS_NOT_SUPPORTED;  // quietly, as an engine that does not apply
  d->workspace = engine_workspace(*d->engine, s);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t finalize_pack(Desc *d) {
  const Attr *uids = attr(d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS), *ptrs = attr(d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
  const Attr *ws = attr(d, CUDNN_ATTR_VARIANT_PACK_WORKSPACE);
  if (!uids || !ptrs || uids->n != ptrs->n)
    return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "a variant pack needs as many pointers as uids");
  for (int64_t i = 0; i < uids->n; i++) d->bound[uids->at<int64_t>(i)] = ptrs->at<void *>(i);
  d->ws = ws ? ws->at<void *>(0) : NULL;
  return CUDNN_STATUS_SUCCESS;
}

// A configuration or engine handed out by a getter: d (created by the caller) takes on `from`'s
// node and engine and counts as finalized, as cuDNN's do.
bool fill(void *slot, cudnnBackendDescriptorType_t type, const ConvNode &node, const Engine *e) {
  Desc *d = live_desc(slot);
  if (!d || d->type != type) return false;
  d->node = node, d->engine = e, d->finalized = true;
  return true;
}

}  // namespace

cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t type, cudnnBackendDescriptor_t *d) {
  if (!d) return CUDNN_STATUS_BAD_PARAM;
  if (injected_failure("cudnnBackendCreateDescriptor")) return CUDNN_STATUS_NOT_SUPPORTED;
  Desc *n = new Desc;
  n->type = type;
  pthread_mutex_lock(&live_lock);
  live.insert(n);
  pthread_mutex_unlock(&live_lock);
  *d = n;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t d) {
  pthread_mutex_lock(&live_lock);
  bool was = live.erase((Desc *)d) > 0;
  pthread_mutex_unlock(&live_lock);
  if (!was) return refuse(CUDNN_STATUS_BAD_PARAM, "cudnnBackendDestroyDescriptor", "not a live descriptor");
  delete (Desc *)d;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t dd, cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type, int64_t count, const void *values) {
  const char *call = "cudnnBackendSetAttribute";
  Desc *d = live_desc(dd);
  if (!d) return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live descriptor", name);
  if (d->finalized) return refuse(CUDNN_STATUS_BAD_PARAM, call, "the descriptor is already finalized", name);
  if (!values) return refuse(CUDNN_STATUS_BAD_PARAM, call, "no values", name);
  // The rule for (kind, name, type): the table's, or an operation's (op_attrs).
  bool known = false, typed = false;
  int64_t min_n = 1, max_n = 1;
  if (const OpAttrs *o = op_kind(d->type)) {
    for (int i = 0; i < 6; i++)
      if (o->a[i] == name) {
        known = true;
        typed = i < 2 ? type == CUDNN_TYPE_FLOAT || type == CUDNN_TYPE_DOUBLE : type == CUDNN_TYPE_BACKEND_DESCRIPTOR;
      }
  }
  for (const Rule &r : rules)
    if (r.desc == d->type && r.name == name) {
      known = true;
      if (r.type == type) typed = true, min_n = r.min_n, max_n = r.max_n;
    }
  if (!typed) return refuse(CUDNN_STATUS_BAD_PARAM, call, known ? "a wrong attribute type" : "not an attribute of this kind", name);
  if (count < min_n || count > max_n) return refuse(CUDNN_STATUS_BAD_PARAM, call, "a wrong element count", name);
  const uint8_t *v = (const uint8_t *)values;
  d->attrs[name] = Attr{type, count, std::vector<uint8_t>(v, v + count * element_size(type))};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t dd) {
  Desc *d = live_desc(dd);
  if (!d) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "not a live descriptor");
  if (d->finalized) return refuse(CUDNN_STATUS_BAD_PARAM, FIN, "finalized twice");
  if (injected_failure(FIN)) return CUDNN_STATUS_NOT_SUPPORTED;
  cudnnStatus_t s;
  if (const OpAttrs *o = op_kind(d->type)) s = finalize_op(d, *o);
  else switch (d->type) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR: s = finalize_tensor(d); break;
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR: s = finalize_conv(d); break;
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR: s = finalize_graph(d); break;
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR: s = finalize_heur(d); break;
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR: s = finalize_plan(d); break;
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR: s = finalize_pack(d); break;
    default: s = refuse(CUDNN_STATUS_NOT_SUPPORTED, FIN, "this kind is filled by a getter, not finalized here");
  }
  d->finalized = s == CUDNN_STATUS_SUCCESS;
  return s;
}

cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t dd, cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type, int64_t requested, int64_t *count,
                                       void *values) {
  const char *call = "cudnnBackendGetAttribute";
  Desc *d = live_desc(dd);
  if (!d || !d->finalized) return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live, finalized descriptor", name);
  if (!count || (requested > 0 && !values)) return refuse(CUDNN_STATUS_BAD_PARAM, call, "nowhere to put it", name);
  auto want = [&](cudnnBackendDescriptorType_t kind, cudnnBackendAttributeType_t t) {
    return d->type == kind && type == t;
  };
  if (name == CUDNN_ATTR_ENGINEHEUR_RESULTS && want(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR)) {
    const int64_t n = (int64_t)d->offer.size();
    if (requested == 0) { *count = n; return CUDNN_STATUS_SUCCESS; }
    int64_t i = 0;
    for (; i < requested && i < n; i++)
      if (!fill(((void **)values)[i], CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, d->node, engine_by_index(d->offer[i])))
        return refuse(CUDNN_STATUS_BAD_PARAM, call, "a result slot that is not a live engine configuration", name);
    *count = i;
    return CUDNN_STATUS_SUCCESS;
  }
  if (name == CUDNN_ATTR_ENGINECFG_ENGINE && want(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR)) {
    if (requested < 1 || !fill(((void **)values)[0], CUDNN_BACKEND_ENGINE_DESCRIPTOR, d->node, d->engine))
      return refuse(CUDNN_STATUS_BAD_PARAM, call, "the slot is not a live engine descriptor", name);
    *count = 1;
    return CUDNN_STATUS_SUCCESS;
  }
  if (name == CUDNN_ATTR_ENGINE_NUMERICAL_NOTE && want(CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_TYPE_NUMERICAL_NOTE)) {
    // An engine that notes anything notes something harmless first (as real ones list several):
    // a reader that looks at the first note only is caught.
    std::vector<cudnnBackendNumericalNote_t> notes;
    if (d->engine->tensor_core || d->engine->down_convert || !d->engine->det)
      notes.push_back(d->engine->index % 2 ? CUDNN_NUMERICAL_NOTE_FFT : CUDNN_NUMERICAL_NOTE_WINOGRAD);
    if (d->engine->tensor_core) notes.push_back(CUDNN_NUMERICAL_NOTE_TENSOR_CORE);
    if (d->engine->down_convert) notes.push_back(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS);
    if (!d->engine->det) notes.push_back(CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC);
    *count = std::min(requested, (int64_t)notes.size());
    if (*count) memcpy(values, notes.data(), *count * sizeof notes[0]);
    return CUDNN_STATUS_SUCCESS;
  }
  if (name == CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE && want(CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_TYPE_BEHAVIOR_NOTE)) {
    *count = d->engine->runtime_compiled && requested > 0;
    if (*count) ((cudnnBackendBehaviorNote_t *)values)[0] = CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION;
    return CUDNN_STATUS_SUCCESS;
  }
  if (name == CUDNN_ATTR_ENGINE_GLOBAL_INDEX && want(CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_TYPE_INT64) && requested > 0) {
    *(int64_t *)values = d->engine->index;
    *count = 1;
    return CUDNN_STATUS_SUCCESS;
  }
  if (name == CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE && want(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, CUDNN_TYPE_INT64) &&
      requested > 0) {
    *(int64_t *)values = (int64_t)d->workspace;
    *count = 1;
    return CUDNN_STATUS_SUCCESS;
  }
  return refuse(CUDNN_STATUS_NOT_SUPPORTED, call, "not an attribute this emulator answers, or a wrong type", name);
}

cudnnStatus_t cudnnBackendExecute(cudnnHandle_t h, cudnnBackendDescriptor_t plan_d, cudnnBackendDescriptor_t pack_d) {
  const char *call = "cudnnBackendExecute";
  if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
  if (injected_failure(call)) return CUDNN_STATUS_EXECUTION_FAILED;
  Desc *plan = live_desc(plan_d), *pack = live_desc(pack_d);
  if (!plan || !plan->finalized || plan->type != CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR)
    return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live, finalized execution plan");
  if (!pack || !pack->finalized || pack->type != CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR)
    return refuse(CUDNN_STATUS_BAD_PARAM, call, "not a live, finalized variant pack");
  const ConvNode &n = plan->node;
  void *p[3];
  for (int i = 0; i < 3; i++) {
    auto it = pack->bound.find(n.uid[i]);
    if (it == pack->bound.end()) return refuse(CUDNN_STATUS_BAD_PARAM, call, "a tensor of the graph has no pointer");
    p[i] = it->second;
    if (!p[i] || (uintptr_t)p[i] % (uintptr_t)n.align[i])
      return refuse(CUDNN_STATUS_BAD_PARAM, call, "a pointer is not aligned as its tensor declared");
  }
  if (plan->workspace && !pack->ws) return refuse(CUDNN_STATUS_BAD_PARAM, call, "the plan needs a workspace");
  // (in1, in2, out) of queue_conv from (x, w, y): forward (x, w, y), backward-data (dy, w, dx),
  // backward-filter (x, dy, dw).
  void *in1 = n.dir == BWD_DATA ? p[2] : p[0], *in2 = n.dir == BWD_FILTER ? p[2] : p[1];
  void *out = n.dir == FWD ? p[2] : n.dir == BWD_DATA ? p[0] : p[1];
  return queue_conv(h, call, n.dir, n.s, n.alpha, n.beta, in1, in2, out, pack->ws, plan->workspace,
                    engine_ms(n.dir, n.s, *plan->engine));
}

}  // namespace cuda_emu

extern "C" long cuda_emu_backend_descriptors(void) {
  pthread_mutex_lock(&cuda_emu::live_lock);
  long n = (long)cuda_emu::live.size();
  pthread_mutex_unlock(&cuda_emu::live_lock);
  return n;
}
