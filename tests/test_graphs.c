// Recorded forwards (unet_graph.c) on a CPU stand-in for CUDA graphs (backend_recorder.c):
// replays give the pixels direct calls give, follow weight updates, are recorded once per
// batch size and model, are recorded again when memory they use moves, and never make a
// call that a CUDA capture would refuse.
#include "engine/sampler.h"
#include "backend_recorder.h"
#include "models.h"
#include "test.h"

#define IMG (1 * 32 * 32)  // the tiny preset: 1 channel, 32 x 32

typedef struct {
  Backend *rbe, *pbe;  // recorder over cpu-ref; plain cpu-ref
  UNet *rm, *pm;       // the same weights on each
  RecorderStats *st;
} Pair;

// fast: the BLAS backend on one thread (deterministic too), for the slower tests.
static void pair_open_on(Pair *p, uint64_t seed, int fast) {
  p->rbe = backend_recorder_wrap(fast ? backend_cpu_create(1) : backend_cpu_ref_create());
  p->pbe = fast ? backend_cpu_create(1) : backend_cpu_ref_create();
  p->rm = test_tiny_random(p->rbe, seed, 0.1f);
  p->pm = test_tiny_random(p->pbe, seed, 0.1f);
  p->st = backend_recorder_stats(p->rbe);
}

static void pair_open(Pair *p, uint64_t seed) { pair_open_on(p, seed, 0); }

static void pair_close(Pair *p) {
  unet_free(p->rm); unet_free(p->pm);
  p->rbe->destroy(p->rbe); p->pbe->destroy(p->pbe);
}

// The recorder saw no call a CUDA capture would refuse, and no replay touched freed memory.
static void expect_clean(const RecorderStats *st) {
  ASSERTF(st->violations == 0, "%d refused calls during capture, first: %s", st->violations, st->first_violation);
  ASSERT_EQ_INT(st->freed_touched, 0);
}

// eps at (t, B) from both models on the same random x; 1 when bit-identical and finite.
static int same_eps(Pair *p, int t, int B, uint64_t seed) {
  size_t n = (size_t)B * IMG;
  float *x = xmalloc(sizeof(float) * n), *a = xmalloc(sizeof(float) * n), *b = xmalloc(sizeof(float) * n);
  Rng r;
  rng_seed(&r, seed);
  rng_normal_fill(&r, x, (long)n);
  unet_eps_host(p->rm, t, x, B, a);
  unet_eps_host(p->pm, t, x, B, b);
  int ok = 1;
  for (size_t i = 0; i < n; i++) ok &= isfinite(a[i]) && a[i] == b[i];
  free(x); free(a); free(b);
  return ok;
}

TEST(graphs_replay_equals_direct_forward) {
  Pair p;
  pair_open(&p, 11);
  const struct { int t, B; } calls[] = {{999, 2}, {500, 2}, {10, 3}, {0, 2}, {250, 3}, {1, 2}};
  for (int i = 0; i < 6; i++) ASSERTF(same_eps(&p, calls[i].t, calls[i].B, 100 + i), "call %d differs", i);
  // B = 2, then B = 3, whose larger pass outgrows the arena and so moves it, then B = 2
  // once more; after that the arena holds both and nothing is recorded again.
  ASSERT_EQ_INT(p.st->captures, 3);
  ASSERT_EQ_INT(p.st->launches, 6);
  ASSERT_EQ_INT(p.rm->graph_launches, 6);
  expect_clean(p.st);
  pair_close(&p);
}

// The recording reads the weights from memory at each replay: new weights, new eps.
TEST(graphs_follow_weight_updates) {
  Pair p;
  pair_open(&p, 12);
  ASSERT(same_eps(&p, 700, 2, 1));
  test_randomize(p.rm, 99, 0.1f);
  test_randomize(p.pm, 99, 0.1f);
  ASSERT(same_eps(&p, 700, 2, 2));
  ASSERT_EQ_INT(p.st->captures, 1);
  pair_close(&p);
}

// A larger training pass outgrows the arena, a larger batch the input buffers: recordings
// that point into the old memory must not be replayed.
TEST(graphs_recorded_again_when_memory_moves) {
  Pair p;
  pair_open(&p, 13);
  ASSERT(same_eps(&p, 300, 2, 1));
  const int B = 6, t[6] = {1, 200, 400, 600, 800, 999};
  float *x = p.rbe->alloc(p.rbe, (size_t)B * IMG), *out;
  p.rbe->fill(p.rbe, x, 0.5f, (size_t)B * IMG);
  unsigned gen = p.rm->arena->gen;
  unet_forward(p.rm, x, t, B, &out);
  p.rbe->fill(p.rbe, p.rm->g, 0, p.rm->size);
  unet_backward(p.rm, out);
  ASSERT(p.rm->arena->gen != gen);  // else this test tests nothing
  ASSERT(same_eps(&p, 300, 2, 2));
  ASSERT_EQ_INT(p.st->captures, 2);
  ASSERT(same_eps(&p, 300, 8, 3));  // grows xin and tfeat
  ASSERT(same_eps(&p, 300, 2, 4));
  ASSERT_EQ_INT(p.st->captures, 4);
  expect_clean(p.st);
  p.rbe->free(p.rbe, x);
  pair_close(&p);
}

// More batch sizes than slots: the least recently used recording goes.
TEST(graphs_evict_least_recently_used) {
  Pair p;
  pair_open(&p, 14);
  for (int B = 1; B <= UNET_MAX_GRAPHS + 1; B++) ASSERT(same_eps(&p, 50, B, B));
  ASSERT_EQ_INT(p.st->captures, UNET_MAX_GRAPHS + 1);
  ASSERT(same_eps(&p, 50, UNET_MAX_GRAPHS + 1, 9));  // still there
  ASSERT_EQ_INT(p.st->captures, UNET_MAX_GRAPHS + 1);
  ASSERT(same_eps(&p, 50, 1, 10));  // the oldest was evicted
  ASSERT_EQ_INT(p.st->captures, UNET_MAX_GRAPHS + 2);
  pair_close(&p);
}

// A capture that fails leaves the model running its ops directly, with the same results.
TEST(graphs_failed_capture_falls_back) {
  Pair p;
  pair_open(&p, 15);
  p.st->fail_next_capture = 1;
  ASSERT(same_eps(&p, 640, 2, 1));
  ASSERT_EQ_INT(p.rm->use_graphs, 0);
  ASSERT(same_eps(&p, 640, 2, 2));
  ASSERT_EQ_INT(p.st->launches, 0);
  pair_close(&p);
}

// The recorder itself: it must see a refused call and a stale replay, or the tests above
// could not fail.
TEST(graphs_recorder_catches_misuse) {
  Backend *be = backend_recorder_wrap(backend_cpu_ref_create());
  RecorderStats *st = backend_recorder_stats(be);
  float *a = be->alloc(be, 4), *b = be->alloc(be, 4), h[4] = {1, 2, 3, 4};
  ASSERT_EQ_INT(be->capture_begin(be), 0);
  be->upload(be, a, h, 4);
  be->add(be, 4, a, a, b);
  BackendGraph *g = be->capture_end(be);
  ASSERT(g && st->violations == 1 && !strcmp(st->first_violation, "upload"));
  be->graph_launch(be, g);
  be->download(be, h, b, 4);
  ASSERT(h[3] == 8.0f);  // the upload ran outside the graph; the add replays
  be->free(be, a);
  be->graph_launch(be, g);
  ASSERT_EQ_INT(st->freed_touched, 1);
  be->download(be, h, b, 4);
  ASSERT(isnan(h[0]));
  be->graph_destroy(be, g);
  be->free(be, b);
  be->destroy(be);
}

// Whole DDIM runs with two models taking turns (as a SAT plan does): the same pixels as
// without recordings, one recording per model.
typedef struct { UNet *hi, *lo; } Two;
static int two_eps(void *u, int t, const float *x, int B, float *eps, Err *e) {
  (void)e;
  Two *m = u;
  unet_eps_host(t >= 500 ? m->hi : m->lo, t, x, B, eps);
  return 0;
}

TEST(graphs_sampling_two_models_same_pixels) {
  Pair p, q;
  pair_open(&p, 21);
  pair_open(&q, 22);
  Two rec = {p.rm, q.rm}, plain = {p.pm, q.pm};
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 1000);
  SamplerCfg cfg = sampler_cfg_default();
  cfg.steps = 8;
  cfg.eta = 0.5f;
  const int B = 3;
  float a[B * IMG], b[B * IMG];
  Err e;
  ASSERT_EQ_INT(sample_run(&s, &cfg, B, 1, 32, 32, two_eps, &rec, NULL, NULL, a, &e), 0);
  ASSERT_EQ_INT(sample_run(&s, &cfg, B, 1, 32, 32, two_eps, &plain, NULL, NULL, b, &e), 0);
  ASSERT(!memcmp(a, b, sizeof a));
  ASSERT_EQ_INT(p.st->captures, 1);
  ASSERT_EQ_INT(q.st->captures, 1);
  ASSERT_EQ_INT(p.st->launches + q.st->launches, 8);
  schedule_free(&s);
  pair_close(&p);
  pair_close(&q);
}

// ---- training steps ----

#include "engine/train.h"

// Training steps replayed from one recording give the losses and weights of direct steps,
// bit for bit, over an epoch boundary and while the model also samples at a larger batch
// (which moves the arena, so the step is recorded again).
TEST(graphs_training_steps_equal_direct) {
  Pair p;
  pair_open_on(&p, 31, 1);
  Dataset ds = test_random_data(7, 5);
  OptimCfg oc = optim_defaults();
  Trainer a, b;
  trainer_init(&a, p.rm, &ds, &oc, SCHED_LINEAR, 1000, 3, 0, 1000, 9);
  trainer_init(&b, p.pm, &ds, &oc, SCHED_LINEAR, 1000, 3, 0, 1000, 9);
  ASSERT(same_eps(&p, 400, 16, 76));  // input buffers sized for 16 from the start
  for (int s = 0; s < 6; s++) {
    if (s == 4) {  // a larger pass in between moves the arena (and nothing else)
      const unsigned gen = p.rm->arena->gen;
      const float *tfeat = p.rm->tfeat;
      ASSERT_EQ_INT(a.graph_captures, 1);
      float *x = p.rbe->alloc(p.rbe, (size_t)12 * IMG), *out;
      const int t[12] = {0};
      unet_forward(p.rm, x, t, 12, &out);
      unet_backward(p.rm, out);
      p.rbe->free(p.rbe, x);
      ASSERT(p.rm->arena->gen != gen && p.rm->tfeat == tfeat);
    }
    float la = trainer_step(&a, NULL, NULL), lb = trainer_step(&b, NULL, NULL);
    ASSERTF(la == lb && isfinite(la), "step %d: loss %.9g recorded, %.9g direct", s, la, lb);
  }
  ASSERT_EQ_INT(a.graph_captures, 2);
  ASSERT_EQ_INT(a.graph_launches, 6);
  float *wa = xmalloc(sizeof(float) * p.rm->size), *wb = xmalloc(sizeof(float) * p.pm->size);
  p.rbe->download(p.rbe, wa, a.opt.ema, p.rm->size);
  p.pbe->download(p.pbe, wb, b.opt.ema, p.pm->size);
  ASSERT(!memcmp(wa, wb, sizeof(float) * p.rm->size));
  expect_clean(p.st);
  free(wa); free(wb);
  trainer_free(&a); trainer_free(&b);
  data_free(&ds);
  pair_close(&p);
}

// Dropout draws its masks on the host in the forward: such a model trains without a recording.
TEST(graphs_training_with_dropout_runs_directly) {
  Pair p;
  pair_open(&p, 32);
  p.rm->cfg.dropout = p.pm->cfg.dropout = 0.2f;
  Dataset ds = test_random_data(6, 6);
  OptimCfg oc = optim_defaults();
  Trainer a, b;
  trainer_init(&a, p.rm, &ds, &oc, SCHED_LINEAR, 1000, 2, 0, 1000, 3);
  trainer_init(&b, p.pm, &ds, &oc, SCHED_LINEAR, 1000, 2, 0, 1000, 3);
  for (int s = 0; s < 2; s++) ASSERT(trainer_step(&a, NULL, NULL) == trainer_step(&b, NULL, NULL));
  ASSERT_EQ_INT(a.graph_captures, 0);
  ASSERT_EQ_INT(p.st->launches, 0);
  trainer_free(&a); trainer_free(&b);
  data_free(&ds);
  pair_close(&p);
}
