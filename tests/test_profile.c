// The profiling decorator (kernels/backend_profile.c): results bit-identical to the bare
// backend, call counts that match the model's structure, times that fit inside the wall
// time, reset, the report (with a stand-in for cuDNN's algorithm choices), and no graphs.
#include "engine/train.h"
#include "kernels/backend_ops.h"
#include "models.h"
#include "test.h"
#include <stdlib.h>

static long calls(Backend *prof, const char *op) {
  long n = -1;
  if (backend_profile_get(prof, op, &n, NULL) != 0) return -1;
  return n;
}

// The ops the profiler knows (every op of the vtable); the report and backend_profile_get use
// these names.
#define OP_NAME(op, kind) #op,
static const char *const ops[] = {BACKEND_OPS(OP_NAME)};
#define NOPS (int)(sizeof ops / sizeof ops[0])

static double total_sec(Backend *prof) {
  double s = 0, t;
  for (int i = 0; i < NOPS; i++)
    if (backend_profile_get(prof, ops[i], NULL, &t) == 0) s += t;
  return s;
}

// One forward and backward of the tiny random model on be (output and gradients to the host).
static void fwd_bwd(Backend *be, float *out_h, float **grad_h, size_t *ngrad) {
  UNet *m = test_tiny_random(be, 3, 0.15f);
  int B = 2, t[2] = {10, 700};
  size_t n = (size_t)B * 32 * 32;
  float *hx = xmalloc(sizeof(float) * n);
  Rng r;
  rng_seed(&r, 9);
  rng_normal_fill(&r, hx, (long)n);
  float *x = be->alloc(be, n), *out;
  be->upload(be, x, hx, n);
  unet_forward(m, x, t, B, &out);
  be->download(be, out_h, out, n);
  be->fill(be, m->g, 0, m->size);
  unet_backward(m, out);  // d(sum out^2 / 2)/d out = out
  *ngrad = m->size;
  *grad_h = xmalloc(sizeof(float) * m->size);
  be->download(be, *grad_h, m->g, m->size);
  be->free(be, x);
  free(hx);
  unet_free(m);
}

TEST(profile_forward_backward_bit_identical) {
  float out_a[2048], out_b[2048], *ga, *gb;
  size_t na, nb;
  Backend *plain = backend_cpu_ref_create(), *prof = backend_profile_wrap(backend_cpu_ref_create());
  ASSERT(!strcmp(prof->name, "cpu-ref"));
  fwd_bwd(plain, out_a, &ga, &na);
  fwd_bwd(prof, out_b, &gb, &nb);
  ASSERT_EQ_INT(na, nb);
  ASSERT(memcmp(out_a, out_b, sizeof out_a) == 0);
  ASSERT(memcmp(ga, gb, sizeof(float) * na) == 0);
  ASSERT(calls(prof, "conv2d_fwd") > 0 && calls(prof, "conv2d_bwd_filter") > 0);
  free(ga);
  free(gb);
  plain->destroy(plain);
  prof->destroy(prof);  // and its inner backend
}

// Convolutions, GroupNorms and GEMMs of one forward, counted from the nodes.
typedef struct { long conv, norm, gemm; } Expect;

static Expect from_structure(const UNet *m) {
  Expect e = {0, 0, 2};  // the time-embedding MLP: two linears
  for (int i = 0; i < m->nnodes; i++) {
    const Node *n = &m->nodes[i];
    switch (n->kind) {
      case NODE_CONV_IN: case NODE_DOWN: case NODE_UP: e.conv += 1; break;
      case NODE_OUT: e.conv += 1; e.norm += 1; break;
      case NODE_RES: e.conv += 2 + n->res.has_skip; e.norm += 2; e.gemm += 1; break;  // + its temb linear
      case NODE_ATTN: e.conv += 2; e.norm += 1; e.gemm += 2; break;  // qkv, proj; q^T k and v P^T
    }
  }
  return e;
}

TEST(profile_counts_match_model_structure) {
  Backend *prof = backend_profile_wrap(backend_cpu_create(2));
  UNet *m = test_tiny_random(prof, 4, 0.1f);
  Expect e = from_structure(m);
  long conv_weights = 0;  // a cross-check of the count above: every conv has one 4-D weight
  for (int i = 0; i < m->nparams; i++) conv_weights += m->params[i].ndim == 4;
  ASSERT_EQ_INT(e.conv, conv_weights);
  int B = 2, t[2] = {1, 999};
  float *x = prof->alloc(prof, (size_t)B * 1024), *out;
  backend_profile_reset(prof);
  double t0 = now_sec();
  unet_forward(m, x, t, B, &out);
  ASSERT_EQ_INT(calls(prof, "conv2d_fwd"), e.conv);
  // a GroupNorm followed by SiLU runs as one op where the backend has it (the CPU's)
  ASSERT_EQ_INT(calls(prof, "groupnorm_fwd") + calls(prof, "groupnorm_silu_fwd"), e.norm);
  ASSERT(calls(prof, "groupnorm_silu_fwd") > 0);
  ASSERT_EQ_INT(calls(prof, "gemm"), e.gemm);
  ASSERT_EQ_INT(calls(prof, "conv2d_bwd_data"), 0);
  unet_backward(m, out);
  double wall = now_sec() - t0;
  ASSERT_EQ_INT(calls(prof, "conv2d_fwd"), e.conv);
  ASSERT_EQ_INT(calls(prof, "conv2d_bwd_filter"), e.conv);
  ASSERT_EQ_INT(calls(prof, "conv2d_bwd_data"), e.conv - 1);  // conv_in: no gradient for the image
  ASSERT_EQ_INT(calls(prof, "groupnorm_bwd") + calls(prof, "groupnorm_silu_bwd"), e.norm);  // and its backward
  ASSERT_EQ_INT(calls(prof, "groupnorm_silu_bwd"), calls(prof, "groupnorm_silu_fwd"));
  ASSERT_EQ_INT(calls(prof, "adamw"), 0);
  for (int i = 0; i < NOPS; i++) {
    double s = -1;
    ASSERTF(backend_profile_get(prof, ops[i], NULL, &s) == 0, "no op named %s", ops[i]);
    ASSERTF(s >= 0, "%s: %g s", ops[i], s);
  }
  ASSERTF(total_sec(prof) <= wall, "ops %.6f s > wall %.6f s", total_sec(prof), wall);
  ASSERT(total_sec(prof) > 0);
  ASSERT(backend_profile_get(prof, "conv3d_fwd", NULL, NULL) == -1);

  // Reset forgets everything; the same forward counts the same again.
  backend_profile_reset(prof);
  for (int i = 0; i < NOPS; i++) ASSERTF(calls(prof, ops[i]) == 0, "%s not reset", ops[i]);
  ASSERT(total_sec(prof) == 0);
  unet_forward(m, x, t, B, &out);
  ASSERT_EQ_INT(calls(prof, "conv2d_fwd"), e.conv);
  ASSERT_EQ_INT(calls(prof, "conv2d_bwd_filter"), 0);
  prof->free(prof, x);
  unet_free(m);
  prof->destroy(prof);
}

// Two training steps of the tiny model on be; returns the second step's loss, the weights after
// it (*w, malloc'd) and its wall time. With prof (be itself, wrapped) the profile is reset
// between the steps, so it holds the second step alone; *ops is then the sum of its op times.
static float train_two_steps(Backend *be, Backend *prof, float **w, size_t *n, double *wall, double *ops) {
  Dataset d = test_random_data(8, 5);
  UNet *m = test_tiny_random(be, 6, 0.1f);
  OptimCfg oc = optim_defaults();
  oc.warmup = 0;
  Trainer tr;
  trainer_init(&tr, m, &d, &oc, SCHED_LINEAR, 1000, 4, 0, 1000, 21);
  tr.use_lanes = 0;  // a profiled backend has none: the plain one runs op by op as well
  trainer_step(&tr, NULL, NULL);
  if (prof) backend_profile_reset(prof);
  double t0 = now_sec();
  float loss = trainer_step(&tr, NULL, NULL);
  *wall = now_sec() - t0;
  if (prof) *ops = total_sec(prof);
  *n = m->size;
  *w = xmalloc(sizeof(float) * m->size);
  be->download(be, *w, m->w, m->size);
  trainer_free(&tr);
  unet_free(m);
  free(d.x);
  return loss;
}

TEST(profile_training_step_bit_identical) {
  Backend *plain = backend_cpu_create(2), *prof = backend_profile_wrap(backend_cpu_create(2));
  float *wa, *wb;
  size_t na, nb;
  double wall_a, wall_b, ops = -1;
  float la = train_two_steps(plain, NULL, &wa, &na, &wall_a, NULL);
  float lb = train_two_steps(prof, prof, &wb, &nb, &wall_b, &ops);
  ASSERTF(la == lb, "loss %.9g plain, %.9g profiled", la, lb);
  ASSERT_EQ_INT(na, nb);
  ASSERT(memcmp(wa, wb, sizeof(float) * na) == 0);
  // One step: one loss, one optimiser update, one EMA update, one gradient norm.
  ASSERT_EQ_INT(calls(prof, "mse_loss"), 1);
  ASSERT_EQ_INT(calls(prof, "adamw"), 1);
  ASSERT_EQ_INT(calls(prof, "ema"), 1);
  ASSERT_EQ_INT(calls(prof, "sumsq"), 1);
  ASSERT(calls(prof, "upload") >= 3 && calls(prof, "download") >= 1);  // the batch in, the losses out
  ASSERTF(ops > 0 && ops <= wall_b, "ops %.6f s, step %.6f s", ops, wall_b);
  free(wa);
  free(wb);
  plain->destroy(plain);
  prof->destroy(prof);
}

// ---- the report ----

static char *report(Backend *prof, double wall_ms, int steps) {
  FILE *f = tmpfile();
  backend_profile_report(prof, f, wall_ms, steps);
  long n = ftell(f);
  char *s = xcalloc(n + 1, 1);
  rewind(f);
  size_t got = fread(s, 1, n, f);
  s[got] = 0;
  fclose(f);
  return s;
}

// A stand-in for cuDNN: conv_in's forward at batch 2 "chose" a 2 ms algorithm where a 0.5 ms
// nondeterministic one exists; another shape's times are unknown; a third never runs.
static int fake_algos(Backend *be, ConvAlgo *out, int cap) {
  const ConvAlgo a[3] = {
    {conv_desc(2, 1, 32, 32, 8, 3, 1, 1), CONV_FWD, "algo_det", "algo_fast", 2.0f, 0.5f, 0},
    {conv_desc(2, 1, 32, 32, 8, 3, 1, 1), CONV_BWD_FILTER, "heuristic", "heuristic", -1, -1, 1},
    {conv_desc(64, 3, 7, 7, 5, 3, 1, 1), CONV_FWD, "never_run", "never_run", 9.0f, 1.0f, 1}};
  for (int i = 0; i < 3 && i < cap; i++) out[i] = a[i];
  return 3;
}

TEST(profile_report_tables) {
  Backend *inner = backend_cpu_ref_create();
  ASSERT(inner->conv_algos == NULL);  // the CPU chooses no algorithms...
  inner->conv_algos = fake_algos;     // ...but this one pretends to
  Backend *prof = backend_profile_wrap(inner);
  ASSERT(prof->conv_algos != NULL);
  ConvAlgo one;
  ASSERT_EQ_INT(prof->conv_algos(prof, &one, 1), 3);  // passed through
  ASSERT(!strcmp(one.chosen, "algo_det"));
  UNet *m = test_tiny_random(prof, 4, 0.1f);
  ASSERT_EQ_INT(m->nodes[0].conv.cout, 8);  // the fake's shape is conv_in's
  int B = 2, t[2] = {1, 999};
  float *x = prof->alloc(prof, (size_t)B * 1024), *out;
  backend_profile_reset(prof);
  double t0 = now_sec();
  for (int step = 0; step < 2; step++) {
    unet_forward(m, x, t, B, &out);
    unet_backward(m, out);
  }
  double wall_ms = (now_sec() - t0) * 1e3;
  char *s = report(prof, wall_ms, 2);
  const char *want[] = {"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter", "groupnorm_fwd", "gemm", "silu_fwd",
                        "softmax_fwd", "sum of ops", "measured step", "convolutions by shape", "2,1,32x32->8,k3,s1",
                        "algo_det", "algo_fast*", "heuristic"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) ASSERTF(strstr(s, want[i]), "no '%s' in:\n%s", want[i], s);
  ASSERTF(!strstr(s, "never_run"), "a shape that never ran is reported:\n%s", s);
  ASSERTF(!strstr(s, "adamw"), "an op with no calls is listed:\n%s", s);
  // one call per step x (2 - 0.5) ms; the unknown one is left out of the sum
  ASSERTF(strstr(s, "determinism costs 1.500 ms per step"), "%s", s);
  // 10 shape rows at most, each conv shape row with its calls per step
  int rows = 0;
  for (const char *p = strstr(s, "convolutions by shape"); p && (p = strstr(p, "\n  conv2d_")); p++) rows++;
  const char *algos = strstr(s, "convolution algorithms");
  ASSERT(algos);
  int algo_rows = 0;
  for (const char *p = algos; (p = strstr(p, "\n  conv2d_")); p++) algo_rows++;
  ASSERTF(rows - algo_rows == 10, "%d shape rows:\n%s", rows - algo_rows, s);
  ASSERT_EQ_INT(algo_rows, 2);
  free(s);
  prof->free(prof, x);
  unet_free(m);
  prof->destroy(prof);
}

static int fake_capture(Backend *be) { return 0; }
static int inner_destroyed;
static void (*real_destroy)(Backend *);
static void counting_destroy(Backend *be) { inner_destroyed++; real_destroy(be); }

TEST(profile_wrapper_offers_no_graphs_and_owns_inner) {
  Backend *inner = backend_cpu_ref_create();
  inner->capture_begin = fake_capture;  // even when the inner backend has graphs
  real_destroy = inner->destroy;
  inner->destroy = counting_destroy;
  inner_destroyed = 0;
  Backend *prof = backend_profile_wrap(inner);
  ASSERT(prof->capture_begin == NULL && prof->capture_end == NULL && prof->graph_launch == NULL &&
         prof->graph_destroy == NULL);
  ASSERT(prof->conv_algos == NULL);
  ASSERT(prof->gemm && prof->conv2d_fwd && prof->sumsq && prof->alloc && prof->sync);
  prof->destroy(prof);
  ASSERT_EQ_INT(inner_destroyed, 1);
}
