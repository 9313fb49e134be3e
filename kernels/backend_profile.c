// backend_profile.c — a timing decorator around any backend: where a training step's time goes.
//
// Every op of the wrapper syncs the inner backend, runs the op on it, syncs again and charges
// the elapsed wall time to the op's name (convolutions also to their shape and direction).
// The first sync keeps earlier work out of the op's time, the second puts the op's queued GPU
// work in it. That adds a small per-call overhead (a device synchronisation and the loss of
// overlap between host and GPU), which lands in the gap between the sum of op times and the
// measured step, beside the host's own work. Ops run on the inner backend with the inner
// backend as their `be`, so an op that calls another (the CUDA conv adds its bias with
// bcast_add) is counted once, as itself.
#include "backend.h"
#include "backend_ops.h"
#include <stdlib.h>
#include <string.h>

// The wrapper times every op of the vtable (backend_ops.h).
#define AS_ENUM(op, kind) OP_##op,
#define AS_NAME(op, kind) #op,
#define AS_WRAPPER(op, kind) .op = w_##op,  // the table backend_decorate takes
enum { BACKEND_OPS(AS_ENUM) NOPS };
static const char *const op_name[NOPS] = {BACKEND_OPS(AS_NAME)};

typedef struct { long calls; double sec; } Tally;
typedef struct { ConvDesc d; ConvDir dir; Tally t; } ConvTally;

typedef struct {
  Backend *inner;
  Tally op[NOPS];
  ConvTally *conv;  // one per (shape, direction) seen; a UNet has a few dozen
  int nconv, cap;
} Prof;

static void prof_destroy(Backend *be);

static Prof *prof_of(Backend *be) {
  CHECK(be && be->destroy == prof_destroy, "not a backend made by backend_profile_wrap");
  return be->ctx;
}

static void add_conv(Prof *p, ConvDir dir, const ConvDesc *d, double sec) {
  int i = 0;
  while (i < p->nconv && !(p->conv[i].dir == dir && conv_desc_equal(&p->conv[i].d, d))) i++;
  if (i == p->nconv) {
    if (p->nconv == p->cap) p->conv = xrealloc(p->conv, (p->cap = p->cap ? 2 * p->cap : 64) * sizeof *p->conv);
    p->conv[p->nconv++] = (ConvTally){*d, dir, {0, 0}};
  }
  p->conv[i].t.calls++;
  p->conv[i].t.sec += sec;
}

// The body of every wrapper: `call` runs between two syncs of the inner backend `in`; a
// convolution (conv non-NULL) is also charged to its shape and direction.
#define TIMED_CONV(id, conv, dir, call) do { \
    Prof *p = be->ctx; Backend *in = p->inner; const ConvDesc *conv_ = (conv); \
    in->sync(in); double t0_ = now_sec(); \
    call; \
    in->sync(in); double dt_ = now_sec() - t0_; \
    p->op[id].calls++; p->op[id].sec += dt_; \
    if (conv_) add_conv(p, dir, conv_, dt_); \
  } while (0)
#define TIMED(id, call) TIMED_CONV(id, NULL, CONV_FWD, call)

// ---- memory ----
static float *w_alloc(Backend *be, size_t n) { float *r; TIMED(OP_alloc, r = in->alloc(in, n)); return r; }
static void w_free(Backend *be, float *x) { TIMED(OP_free, in->free(in, x)); }
static void w_upload(Backend *be, float *dst, const float *src, size_t n) {
  TIMED(OP_upload, in->upload(in, dst, src, n));
}
static void w_download(Backend *be, float *dst, const float *src, size_t n) {
  TIMED(OP_download, in->download(in, dst, src, n));
}
static void w_copy(Backend *be, float *dst, const float *src, size_t n) { TIMED(OP_copy, in->copy(in, dst, src, n)); }
static void w_fill(Backend *be, float *x, float v, size_t n) { TIMED(OP_fill, in->fill(in, x, v, n)); }
// A sync has nothing queued before it to wait for here (every op already synced): it is
// counted, and its time is that of an idle synchronisation.
static void w_sync(Backend *be) {
  Prof *p = be->ctx;
  double t0 = now_sec();
  p->inner->sync(p->inner);
  p->op[OP_sync].calls++;
  p->op[OP_sync].sec += now_sec() - t0;
}

// ---- compute ----
static void w_gemm(Backend *be, int batch, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                   long strideA, const float *B, long strideB, float beta, float *C, long strideC) {
  TIMED(OP_gemm, in->gemm(in, batch, transA, transB, M, N, K, alpha, A, strideA, B, strideB, beta, C, strideC));
}
static void w_conv2d_fwd(Backend *be, const ConvDesc *d, const float *x, const float *w, const float *b, float *y) {
  TIMED_CONV(OP_conv2d_fwd, d, CONV_FWD, in->conv2d_fwd(in, d, x, w, b, y));
}
static void w_conv2d_bwd_data(Backend *be, const ConvDesc *d, const float *dy, const float *w, float *dx) {
  TIMED_CONV(OP_conv2d_bwd_data, d, CONV_BWD_DATA, in->conv2d_bwd_data(in, d, dy, w, dx));
}
static void w_conv2d_bwd_filter(Backend *be, const ConvDesc *d, const float *x, const float *dy, float *dw,
                                float *db) {
  TIMED_CONV(OP_conv2d_bwd_filter, d, CONV_BWD_FILTER, in->conv2d_bwd_filter(in, d, x, dy, dw, db));
}
static void w_groupnorm_fwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *gamma,
                            const float *beta, float *y, float *mean, float *rstd) {
  TIMED(OP_groupnorm_fwd, in->groupnorm_fwd(in, B, C, HW, G, x, gamma, beta, y, mean, rstd));
}
static void w_groupnorm_bwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy,
                            const float *gamma, const float *mean, const float *rstd, float *dx, float *dgamma,
                            float *dbeta) {
  TIMED(OP_groupnorm_bwd, in->groupnorm_bwd(in, B, C, HW, G, x, dy, gamma, mean, rstd, dx, dgamma, dbeta));
}
static void w_groupnorm_silu_bwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *dy,
                                 const float *gamma, const float *beta, const float *mean, const float *rstd, float *dx,
                                 float *dgamma, float *dbeta) {
  TIMED(OP_groupnorm_silu_bwd, in->groupnorm_silu_bwd(in, B, C, HW, G, x, dy, gamma, beta, mean, rstd, dx, dgamma, dbeta));
}
static void w_groupnorm_silu_fwd(Backend *be, int B, int C, int HW, int G, const float *x, const float *gamma,
                                 const float *beta, float *a, float *y, float *mean, float *rstd) {
  TIMED(OP_groupnorm_silu_fwd, in->groupnorm_silu_fwd(in, B, C, HW, G, x, gamma, beta, a, y, mean, rstd));
}
static void w_silu_fwd(Backend *be, size_t n, const float *x, float *y) {
  TIMED(OP_silu_fwd, in->silu_fwd(in, n, x, y));
}
static void w_silu_bwd(Backend *be, size_t n, const float *x, const float *dy, float *dx) {
  TIMED(OP_silu_bwd, in->silu_bwd(in, n, x, dy, dx));
}
static void w_softmax_fwd(Backend *be, int rows, int n, float scale, const float *x, float *y) {
  TIMED(OP_softmax_fwd, in->softmax_fwd(in, rows, n, scale, x, y));
}
static void w_softmax_bwd(Backend *be, int rows, int n, float scale, const float *y, const float *dy, float *dx) {
  TIMED(OP_softmax_bwd, in->softmax_bwd(in, rows, n, scale, y, dy, dx));
}
static void w_add(Backend *be, size_t n, const float *a, const float *b, float *y) {
  TIMED(OP_add, in->add(in, n, a, b, y));
}
static void w_axpy(Backend *be, size_t n, float alpha, const float *x, float *y) {
  TIMED(OP_axpy, in->axpy(in, n, alpha, x, y));
}
static void w_scale(Backend *be, size_t n, float alpha, float *x) { TIMED(OP_scale, in->scale(in, n, alpha, x)); }
static void w_mul(Backend *be, size_t n, const float *a, const float *b, float *y) {
  TIMED(OP_mul, in->mul(in, n, a, b, y));
}
static void w_mul_acc(Backend *be, size_t n, const float *a, const float *b, float *y) {
  TIMED(OP_mul_acc, in->mul_acc(in, n, a, b, y));
}
static void w_bcast_add(Backend *be, int B, int C, int HW, const float *v, int vstride, float *y) {
  TIMED(OP_bcast_add, in->bcast_add(in, B, C, HW, v, vstride, y));
}
static void w_bcast_add_bwd(Backend *be, int B, int C, int HW, const float *dy, int vstride, float *dv) {
  TIMED(OP_bcast_add_bwd, in->bcast_add_bwd(in, B, C, HW, dy, vstride, dv));
}
static void w_chan_copy(Backend *be, int B, int nc, int HW, const float *src, int src_C, int src_off, float *dst,
                        int dst_C, int dst_off, float beta) {
  TIMED(OP_chan_copy, in->chan_copy(in, B, nc, HW, src, src_C, src_off, dst, dst_C, dst_off, beta));
}
static void w_upsample2x_fwd(Backend *be, int B, int C, int H, int W, const float *x, float *y) {
  TIMED(OP_upsample2x_fwd, in->upsample2x_fwd(in, B, C, H, W, x, y));
}
static void w_upsample2x_bwd(Backend *be, int B, int C, int H, int W, const float *dy, float *dx) {
  TIMED(OP_upsample2x_bwd, in->upsample2x_bwd(in, B, C, H, W, dy, dx));
}
static void w_mse_loss(Backend *be, int B, int D, const float *pred, const float *target, const float *w, float *loss,
                       float *dpred) {
  TIMED(OP_mse_loss, in->mse_loss(in, B, D, pred, target, w, loss, dpred));
}
static void w_adamw(Backend *be, size_t n, float *p_, const float *g, float *m, float *v, float lr, float beta1,
                    float beta2, float eps, float wd, int step) {
  TIMED(OP_adamw, in->adamw(in, n, p_, g, m, v, lr, beta1, beta2, eps, wd, step));
}
static void w_ema(Backend *be, size_t n, float *e, const float *p_, float decay) {
  TIMED(OP_ema, in->ema(in, n, e, p_, decay));
}
static double w_sumsq(Backend *be, size_t n, const float *x) {
  double r;
  TIMED(OP_sumsq, r = in->sumsq(in, n, x));
  return r;
}

// Not an op: what the inner backend chose, passed through untimed.
static int w_conv_algos(Backend *be, ConvAlgo *out, int cap) {
  Backend *in = ((Prof *)be->ctx)->inner;
  return in->conv_algos(in, out, cap);
}

static void prof_destroy(Backend *be) {
  Prof *p = be->ctx;
  p->inner->destroy(p->inner);
  free(p->conv);
  free(p);
  free(be);
}

Backend *backend_profile_wrap(Backend *inner) {
  Prof *p = xcalloc(1, sizeof *p);
  p->inner = inner;
  // The graph entries are left NULL: ops replayed from a graph never pass through the wrapper,
  // and syncing inside a capture is not allowed, so callers see a backend without graphs and
  // run every op directly.
  Backend *be = backend_decorate(inner, p, &(const Backend){BACKEND_OPS(AS_WRAPPER)});
  be->conv_algos = inner->conv_algos ? w_conv_algos : NULL;
  be->destroy = prof_destroy;
  return be;
}

void backend_profile_reset(Backend *be) {
  Prof *p = prof_of(be);
  memset(p->op, 0, sizeof p->op);
  p->nconv = 0;
}

int backend_profile_get(Backend *be, const char *op, long *calls, double *sec) {
  Prof *p = prof_of(be);
  for (int i = 0; i < NOPS; i++)
    if (!strcmp(op, op_name[i])) {
      if (calls) *calls = p->op[i].calls;
      if (sec) *sec = p->op[i].sec;
      return 0;
    }
  return -1;
}

// ---- the report ----

static const char *const dir_name[3] = {"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter"};

static int by_sec_desc(const Tally *a, const Tally *b) { return (a->sec < b->sec) - (a->sec > b->sec); }
typedef struct { int op; Tally t; } OpRow;
static int op_rows_desc(const void *a, const void *b) {
  return by_sec_desc(&((const OpRow *)a)->t, &((const OpRow *)b)->t);
}
static int convs_desc(const void *a, const void *b) {
  return by_sec_desc(&((const ConvTally *)a)->t, &((const ConvTally *)b)->t);
}

// "B,Cin,HxW->Cout,kK,sS" (the padding is K/2 throughout the UNet; shown when it is not).
static void shape_str(const ConvDesc *d, char *s, size_t n) {
  int k = snprintf(s, n, "%d,%d,%dx%d->%d,k%d,s%d", d->B, d->Cin, d->H, d->W, d->Cout, d->K, d->stride);
  if (d->pad != d->K / 2 && k > 0 && (size_t)k < n) snprintf(s + k, n - k, ",p%d", d->pad);
}

static const ConvTally *find_conv(const Prof *p, ConvDir dir, const ConvDesc *d) {
  for (int i = 0; i < p->nconv; i++)
    if (p->conv[i].dir == dir && conv_desc_equal(&p->conv[i].d, d)) return &p->conv[i];
  return NULL;
}

// One row of the algorithm table: what the backend chose and how the profile saw it run.
typedef struct { const ConvAlgo *a; const ConvTally *t; } AlgoRow;

static int algo_rows(const void *x, const void *y) {  // by direction, then the costliest first
  const AlgoRow *a = x, *b = y;
  if (a->a->dir != b->a->dir) return (int)a->a->dir - (int)b->a->dir;
  return by_sec_desc(&a->t->t, &b->t->t);
}

// Per (shape, direction) the profile saw: the algorithm the backend runs and the fastest it
// could, with the library's times, the time per call measured here (with its bias and the
// syncs), and calls per step x (chosen - fastest) summed: what the deterministic choice costs.
static void report_algos(const Prof *p, FILE *f, int steps) {
  Backend *in = p->inner;
  int n = in->conv_algos(in, NULL, 0), nrow = 0;
  ConvAlgo *a = xcalloc(n > 0 ? n : 1, sizeof *a);
  n = in->conv_algos(in, a, n);
  AlgoRow *row = xcalloc(n > 0 ? n : 1, sizeof *row);
  for (int i = 0; i < n; i++) {
    const ConvTally *t = find_conv(p, a[i].dir, &a[i].d);
    if (t) row[nrow++] = (AlgoRow){&a[i], t};  // else planned, but not run in the profiled steps
  }
  qsort(row, nrow, sizeof *row, algo_rows);
  fprintf(f, "\n  %s convolution algorithms: chosen and fastest with the times measured when the shape was\n"
          "  planned (by the library's search, or by --engine-search), ms/call as run here;\n"
          "  * = results vary run to run;\n"
          "  cost = calls/step x (chosen - fastest):\n", in->name);
  fprintf(f, "  %-18s %-26s %6s %8s  %-21s %8s  %-22s %8s %8s\n", "direction", "shape", "calls", "here", "chosen",
          "ms", "fastest", "ms", "cost");
  double cost = 0;
  int unknown = 0;
  for (int k = 0; k < nrow; k++) {
    const ConvAlgo *x = row[k].a;
    const Tally *t = &row[k].t->t;
    double per_step = (double)t->calls / steps, here = 1e3 * t->sec / t->calls;
    char shape[64], fastest[32];
    shape_str(&x->d, shape, sizeof shape);
    snprintf(fastest, sizeof fastest, "%s%s", x->fastest, x->fastest_deterministic ? "" : "*");
    fprintf(f, "  %-18s %-26s %6.1f %8.3f  %-21s ", dir_name[x->dir], shape, per_step, here, x->chosen);
    if (x->chosen_ms < 0 || x->fastest_ms < 0) {
      unknown++;
      fprintf(f, "%8s  %-22s %8s %8s\n", "-", fastest, "-", "-");
    } else {
      double c = per_step * (x->chosen_ms - x->fastest_ms);
      cost += c;
      fprintf(f, "%8.3f  %-22s %8.3f %8.3f\n", x->chosen_ms, fastest, x->fastest_ms, c);
    }
  }
  if (!nrow) fprintf(f, "  (no convolution planned by the backend ran in the profiled steps)\n");
  fprintf(f, "  determinism costs %.3f ms per step by these measurements%s\n", cost,
          unknown ? " (shapes without measured times left out)" : "");
  free(row);
  free(a);
}

void backend_profile_report(Backend *be, FILE *f, double wall_ms, int steps) {
  Prof *p = prof_of(be);
  if (steps < 1) steps = 1;
  OpRow row[NOPS];
  int n = 0;
  double total = 0;
  for (int i = 0; i < NOPS; i++) {
    total += p->op[i].sec;
    if (p->op[i].calls) row[n++] = (OpRow){i, p->op[i]};
  }
  qsort(row, n, sizeof row[0], op_rows_desc);
  const double ms = 1e3 / steps, pct = total > 0 ? 100 / total : 0;
  fprintf(f, "profile: %d step%s on %s, every op between two syncs of the backend\n", steps, steps == 1 ? "" : "s",
          p->inner->name);
  fprintf(f, "  %-18s %10s %10s %8s\n", "op", "calls/step", "ms/step", "% of ops");
  for (int k = 0; k < n; k++)
    fprintf(f, "  %-18s %10.1f %10.3f %7.1f%%\n", op_name[row[k].op], (double)row[k].t.calls / steps,
            row[k].t.sec * ms, row[k].t.sec * pct);
  fprintf(f, "  %-18s %10s %10.3f %7.1f%%\n", "sum of ops", "", total * ms, total > 0 ? 100.0 : 0.0);
  fprintf(f, "  %-18s %10s %10.3f  (%.3f ms/step outside the ops: host work and the profiler's syncs)\n",
          "measured step", "", wall_ms / steps, (wall_ms - 1e3 * total) / steps);

  // Convolutions by shape and direction, the costliest first.
  ConvTally *c = xmalloc((p->nconv ? p->nconv : 1) * sizeof *c);
  memcpy(c, p->conv, p->nconv * sizeof *c);
  qsort(c, p->nconv, sizeof *c, convs_desc);
  double conv_total = 0, top = 0;
  for (int i = 0; i < p->nconv; i++) conv_total += c[i].t.sec;
  const int ntop = p->nconv < 10 ? p->nconv : 10;
  for (int i = 0; i < ntop; i++) top += c[i].t.sec;
  if (p->nconv) {
    fprintf(f, "\n  convolutions by shape (B,Cin,HxW->Cout,kernel,stride), the %d costliest of %d shape-directions "
            "(%.1f%% of the conv time):\n", ntop, p->nconv, conv_total > 0 ? 100 * top / conv_total : 0.0);
    fprintf(f, "  %-18s %-26s %10s %10s %8s\n", "direction", "shape", "calls/step", "ms/step", "% of ops");
  }
  for (int i = 0; i < ntop; i++) {
    char shape[64];
    shape_str(&c[i].d, shape, sizeof shape);
    fprintf(f, "  %-18s %-26s %10.1f %10.3f %7.1f%%\n", dir_name[c[i].dir], shape, (double)c[i].t.calls / steps,
            c[i].t.sec * ms, c[i].t.sec * pct);
  }
  free(c);
  if (p->inner->conv_algos) report_algos(p, f, steps);
}
