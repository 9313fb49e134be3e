// backend_recorder.c — see backend_recorder.h.
#include "backend_recorder.h"
#include "kernels/backend_ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// The ops a capture records: the QUEUED ones of backend_ops.h.
#define QUEUED_ENUM(op, kind) QUEUED_ENUM_##kind(op)
#define QUEUED_ENUM_QUEUED(op) R_##op,
#define QUEUED_ENUM_HOST(op)
typedef enum { BACKEND_OPS(QUEUED_ENUM) } RecOp;
// Every op's recording wrapper, r_op, as the table backend_decorate takes.
#define AS_RECORDER(op, kind) .op = r_##op,

// One recorded call: its arguments by kind, each kind in the order the op takes them.
typedef struct {
  RecOp op;
  ConvDesc d;
  const float *p[6];  // inputs
  float *o[4];        // outputs
  long i[10];
  float f[6];
} Rec;

struct BackendGraph {
  Rec *recs;
  int n;
};

typedef struct {
  Backend *inner;
  RecorderStats st;
  int capturing;
  Rec *recs;  // the capture in progress
  int n, cap;
  struct Live { float *p; size_t n; } *live;  // allocations, to poison them when freed
  int nlive, livecap;
  struct Live *dead;  // freed (poisoned) blocks, released at destroy
  int ndead;
} RecCtx;

static RecCtx *rctx(Backend *be) { return (RecCtx *)be->ctx; }

static void violation(Backend *be, const char *what) {
  RecCtx *r = rctx(be);
  if (r->capturing && !r->st.violations++)
    snprintf(r->st.first_violation, sizeof r->st.first_violation, "%s", what);
}

static void run(Backend *in, const Rec *c) {
  const float *const *p = c->p;
  float *const *o = c->o;
  const long *i = c->i;
  const float *f = c->f;
  switch (c->op) {
  case R_gemm: in->gemm(in, i[0], i[1], i[2], i[3], i[4], i[5], f[0], p[0], i[6], p[1], i[7], f[1], o[0], i[8]); break;
  case R_conv2d_fwd: in->conv2d_fwd(in, &c->d, p[0], p[1], p[2], o[0]); break;
  case R_conv2d_bwd_data: in->conv2d_bwd_data(in, &c->d, p[0], p[1], o[0]); break;
  case R_conv2d_bwd_filter: in->conv2d_bwd_filter(in, &c->d, p[0], p[1], o[0], o[1]); break;
  case R_groupnorm_fwd: in->groupnorm_fwd(in, i[0], i[1], i[2], i[3], p[0], p[1], p[2], o[0], o[1], o[2]); break;
  case R_groupnorm_silu_fwd:
    in->groupnorm_silu_fwd(in, i[0], i[1], i[2], i[3], p[0], p[1], p[2], o[0], o[1], o[2], o[3]);
    break;
  case R_groupnorm_bwd: in->groupnorm_bwd(in, i[0], i[1], i[2], i[3], p[0], p[1], p[2], p[3], p[4], o[0], o[1], o[2]); break;
  case R_groupnorm_silu_bwd:
    in->groupnorm_silu_bwd(in, i[0], i[1], i[2], i[3], p[0], p[1], p[2], p[3], p[4], p[5], o[0], o[1], o[2]);
    break;
  case R_silu_fwd: in->silu_fwd(in, i[0], p[0], o[0]); break;
  case R_silu_bwd: in->silu_bwd(in, i[0], p[0], p[1], o[0]); break;
  case R_softmax_fwd: in->softmax_fwd(in, i[0], i[1], f[0], p[0], o[0]); break;
  case R_softmax_bwd: in->softmax_bwd(in, i[0], i[1], f[0], p[0], p[1], o[0]); break;
  case R_add: in->add(in, i[0], p[0], p[1], o[0]); break;
  case R_axpy: in->axpy(in, i[0], f[0], p[0], o[0]); break;
  case R_scale: in->scale(in, i[0], f[0], o[0]); break;
  case R_mul: in->mul(in, i[0], p[0], p[1], o[0]); break;
  case R_mul_acc: in->mul_acc(in, i[0], p[0], p[1], o[0]); break;
  case R_bcast_add: in->bcast_add(in, i[0], i[1], i[2], p[0], i[3], o[0]); break;
  case R_bcast_add_bwd: in->bcast_add_bwd(in, i[0], i[1], i[2], p[0], i[3], o[0]); break;
  case R_chan_copy: in->chan_copy(in, i[0], i[1], i[2], p[0], i[3], i[4], o[0], i[5], i[6], f[0]); break;
  case R_upsample2x_fwd: in->upsample2x_fwd(in, i[0], i[1], i[2], i[3], p[0], o[0]); break;
  case R_upsample2x_bwd: in->upsample2x_bwd(in, i[0], i[1], i[2], i[3], p[0], o[0]); break;
  case R_copy: in->copy(in, o[0], p[0], i[0]); break;
  case R_fill: in->fill(in, o[0], f[0], i[0]); break;
  case R_mse_loss: in->mse_loss(in, i[0], i[1], p[0], p[1], p[2], o[0], o[1]); break;
  case R_adamw: in->adamw(in, i[0], o[0], p[0], o[1], o[2], f[0], f[1], f[2], f[3], f[4], i[1]); break;
  case R_ema: in->ema(in, i[0], o[0], p[0], f[0]); break;
  }
}

// Runs the call now, or appends it to the capture in progress.
static void submit(Backend *be, Rec c) {
  RecCtx *r = rctx(be);
  if (!r->capturing) { run(r->inner, &c); return; }
  if (r->n == r->cap) r->recs = xrealloc(r->recs, sizeof(Rec) * (r->cap = r->cap ? 2 * r->cap : 64));
  r->recs[r->n++] = c;
}

#define P(...) .p = {__VA_ARGS__}
#define O(...) .o = {__VA_ARGS__}
#define I(...) .i = {__VA_ARGS__}
#define F(...) .f = {__VA_ARGS__}

static void r_gemm(Backend *be, int batch, int tA, int tB, int M, int N, int K, float alpha, const float *A, long sA,
                   const float *B, long sB, float beta, float *C, long sC) {
  submit(be, (Rec){R_gemm, P(A, B), O(C), I(batch, tA, tB, M, N, K, sA, sB, sC), F(alpha, beta)});
}
static void r_conv2d_fwd(Backend *be, const ConvDesc *d, const float *x, const float *w, const float *b, float *y) {
  submit(be, (Rec){R_conv2d_fwd, .d = *d, P(x, w, b), O(y)});
}
static void r_conv2d_bwd_data(Backend *be, const ConvDesc *d, const float *dy, const float *w, float *dx) {
  submit(be, (Rec){R_conv2d_bwd_data, .d = *d, P(dy, w), O(dx)});
}
static void r_conv2d_bwd_filter(Backend *be, const ConvDesc *d, const float *x, const float *dy, float *dw,
                                float *db) {
  submit(be, (Rec){R_conv2d_bwd_filter, .d = *d, P(x, dy), O(dw, db)});
}
static void r_groupnorm_fwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *g, const float *b,
                            float *y, float *mean, float *rstd) {
  submit(be, (Rec){R_groupnorm_fwd, P(x, g, b), O(y, mean, rstd), I(B, C, HW, G)});
}
static void r_groupnorm_bwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy, const float *g,
                            const float *mean, const float *rstd, float *dx, float *dg, float *db) {
  submit(be, (Rec){R_groupnorm_bwd, P(x, dy, g, mean, rstd), O(dx, dg, db), I(B, C, HW, G)});
}
static void r_groupnorm_silu_bwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy,
                                 const float *g, const float *b, const float *mean, const float *rstd, float *dx,
                                 float *dg, float *db) {
  submit(be, (Rec){R_groupnorm_silu_bwd, P(x, dy, g, b, mean, rstd), O(dx, dg, db), I(B, C, HW, G)});
}
static void r_groupnorm_silu_fwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *g,
                                 const float *b, float *a, float *y, float *mean, float *rstd) {
  submit(be, (Rec){R_groupnorm_silu_fwd, P(x, g, b), O(a, y, mean, rstd), I(B, C, HW, G)});
}
static void r_silu_fwd(Backend *be, size_t n, const float *x, float *y) { submit(be, (Rec){R_silu_fwd, P(x), O(y), I((long)n)}); }
static void r_silu_bwd(Backend *be, size_t n, const float *x, const float *dy, float *dx) {
  submit(be, (Rec){R_silu_bwd, P(x, dy), O(dx), I((long)n)});
}
static void r_softmax_fwd(Backend *be, int rows, int n, float scale, const float *x, float *y) {
  submit(be, (Rec){R_softmax_fwd, P(x), O(y), I(rows, n), F(scale)});
}
static void r_softmax_bwd(Backend *be, int rows, int n, float scale, const float *y, const float *dy, float *dx) {
  submit(be, (Rec){R_softmax_bwd, P(y, dy), O(dx), I(rows, n), F(scale)});
}
static void r_add(Backend *be, size_t n, const float *a, const float *b, float *y) { submit(be, (Rec){R_add, P(a, b), O(y), I((long)n)}); }
static void r_axpy(Backend *be, size_t n, float al, const float *x, float *y) { submit(be, (Rec){R_axpy, P(x), O(y), I((long)n), F(al)}); }
static void r_scale(Backend *be, size_t n, float al, float *x) { submit(be, (Rec){R_scale, O(x), I((long)n), F(al)}); }
static void r_mul(Backend *be, size_t n, const float *a, const float *b, float *y) { submit(be, (Rec){R_mul, P(a, b), O(y), I((long)n)}); }
static void r_mul_acc(Backend *be, size_t n, const float *a, const float *b, float *y) {
  submit(be, (Rec){R_mul_acc, P(a, b), O(y), I((long)n)});
}
static void r_bcast_add(Backend *be, int B, int C, int HW, const float *v, int vs, float *y) {
  submit(be, (Rec){R_bcast_add, P(v), O(y), I(B, C, HW, vs)});
}
static void r_bcast_add_bwd(Backend *be, int B, int C, int HW, const float *dy, int vs, float *dv) {
  submit(be, (Rec){R_bcast_add_bwd, P(dy), O(dv), I(B, C, HW, vs)});
}
static void r_chan_copy(Backend *be, int B, int nc, int HW, const float *src, int sC, int so, float *dst, int dC, int dO,
                        float beta) {
  submit(be, (Rec){R_chan_copy, P(src), O(dst), I(B, nc, HW, sC, so, dC, dO), F(beta)});
}
static void r_upsample2x_fwd(Backend *be, int B, int C, int H, int W, const float *x, float *y) {
  submit(be, (Rec){R_upsample2x_fwd, P(x), O(y), I(B, C, H, W)});
}
static void r_upsample2x_bwd(Backend *be, int B, int C, int H, int W, const float *dy, float *dx) {
  submit(be, (Rec){R_upsample2x_bwd, P(dy), O(dx), I(B, C, H, W)});
}
static void r_copy(Backend *be, float *dst, const float *src, size_t n) { submit(be, (Rec){R_copy, P(src), O(dst), I((long)n)}); }
static void r_fill(Backend *be, float *x, float v, size_t n) { submit(be, (Rec){R_fill, O(x), I((long)n), F(v)}); }
static void r_mse_loss(Backend *be, int B, int D, const float *pred, const float *target, const float *w, float *loss,
                  float *dpred) {
  submit(be, (Rec){R_mse_loss, P(pred, target, w), O(loss, dpred), I(B, D)});
}
static void r_adamw(Backend *be, size_t n, float *p, const float *g, float *m, float *v, float lr, float b1, float b2,
                    float eps, float wd, int step) {
  submit(be, (Rec){R_adamw, P(g), O(p, m, v), I((long)n, step), F(lr, b1, b2, eps, wd)});
}
static void r_ema(Backend *be, size_t n, float *e, const float *p, float decay) {
  submit(be, (Rec){R_ema, P(p), O(e), I((long)n), F(decay)});
}

// ---- calls a capture refuses: run them (the test reads the violation count) ----

static float *r_alloc(Backend *be, size_t n) {
  RecCtx *r = rctx(be);
  violation(be, "alloc");
  float *p = r->inner->alloc(r->inner, n);
  if (r->nlive == r->livecap) r->live = xrealloc(r->live, sizeof *r->live * (r->livecap = r->livecap ? 2 * r->livecap : 64));
  r->live[r->nlive++] = (struct Live){p, n};
  return p;
}
static void r_free(Backend *be, float *p) {
  RecCtx *r = rctx(be);
  violation(be, "free");
  if (!p) return;
  for (int k = 0; k < r->nlive; k++)
    if (r->live[k].p == p) {
      r->inner->fill(r->inner, p, NAN, r->live[k].n);
      r->dead = xrealloc(r->dead, sizeof *r->dead * (r->ndead + 1));
      r->dead[r->ndead++] = r->live[k];
      r->live[k] = r->live[--r->nlive];
      return;
    }
  CHECK(0, "recorder: free of a pointer it did not allocate");
}
static void r_upload(Backend *be, float *dst, const float *src, size_t n) {
  violation(be, "upload");
  rctx(be)->inner->upload(rctx(be)->inner, dst, src, n);
}
static void r_download(Backend *be, float *dst, const float *src, size_t n) {
  violation(be, "download");
  rctx(be)->inner->download(rctx(be)->inner, dst, src, n);
}
static void r_sync(Backend *be) {
  violation(be, "sync");
  rctx(be)->inner->sync(rctx(be)->inner);
}
static double r_sumsq(Backend *be, size_t n, const float *x) {
  violation(be, "sumsq");
  return rctx(be)->inner->sumsq(rctx(be)->inner, n, x);
}

// ---- graphs ----

static int r_capture_begin(Backend *be) {
  RecCtx *r = rctx(be);
  CHECK(!r->capturing, "recorder: capture_begin inside a capture");
  r->capturing = 1;
  r->n = 0;
  return 0;
}
static BackendGraph *r_capture_end(Backend *be) {
  RecCtx *r = rctx(be);
  CHECK(r->capturing, "recorder: capture_end without capture_begin");
  r->capturing = 0;
  if (r->st.fail_next_capture) { r->st.fail_next_capture = 0; return NULL; }
  BackendGraph *g = xmalloc(sizeof *g);
  g->n = r->n;
  g->recs = xmalloc(sizeof(Rec) * (r->n ? r->n : 1));
  memcpy(g->recs, r->recs, sizeof(Rec) * r->n);
  r->st.captures++;
  return g;
}
static int is_freed(const RecCtx *r, const float *p) {
  for (int k = 0; p && k < r->ndead; k++)
    if (p >= r->dead[k].p && p < r->dead[k].p + r->dead[k].n) return 1;
  return 0;
}

static void r_graph_launch(Backend *be, BackendGraph *g) {
  RecCtx *r = rctx(be);
  CHECK(!r->capturing, "recorder: graph_launch inside a capture");
  for (int k = 0; k < g->n; k++) {
    const Rec *c = &g->recs[k];
    int bad = 0;
    for (int j = 0; j < 5; j++) bad |= is_freed(r, c->p[j]);
    for (int j = 0; j < 4; j++) bad |= is_freed(r, c->o[j]);
    r->st.freed_touched += bad;
    run(r->inner, c);
  }
  r->st.launches++;
}
static void r_graph_destroy(Backend *be, BackendGraph *g) {
  (void)be;
  if (g) { free(g->recs); free(g); }
}

static void r_destroy(Backend *be) {
  RecCtx *r = rctx(be);
  for (int k = 0; k < r->ndead; k++) r->inner->free(r->inner, r->dead[k].p);
  for (int k = 0; k < r->nlive; k++) r->inner->free(r->inner, r->live[k].p);
  r->inner->destroy(r->inner);
  free(r->recs); free(r->live); free(r->dead); free(r);
  free(be);
}

RecorderStats *backend_recorder_stats(Backend *be) { return &rctx(be)->st; }

Backend *backend_recorder_wrap(Backend *inner) {
  RecCtx *r = xcalloc(1, sizeof *r);
  r->inner = inner;
  // Every op, as the inner backend has it (an optional op it lacks stays NULL), then the graphs.
  Backend *be = backend_decorate(inner, r, &(const Backend){BACKEND_OPS(AS_RECORDER)});
  be->capture_begin = r_capture_begin;
  be->capture_end = r_capture_end;
  be->graph_launch = r_graph_launch;
  be->graph_destroy = r_graph_destroy;
  be->destroy = r_destroy;
  return be;
}
