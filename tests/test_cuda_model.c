// test_cuda_model.c — the whole model on the CUDA backend against the CPU: a training step's
// output and gradients, training steps whose losses track, DDIM images from the same seed,
// recorded forwards and training steps (CUDA graphs) against direct ones, and two backends
// recording and sampling on two threads. Errors are printed as they are seen.
//
// Every test runs twice: cuda_model_* on a GPU (skipped without one), cuda_emu_model_* on the
// emulated backend (tests/cuda_emu: the same backend code on the CPU, with CUDA's rules for
// streams, captures, cuBLAS and cuDNN), at sizes that fit CI. The emulator computes in fp32 with
// exact convolutions, so its tolerances are tighter.
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "engine/sampler.h"
#include "engine/train.h"
#include "models.h"
#include "tests/cuda_emu/backend_cuda_emu.h"

// The backend under test, and how to make another of its kind (the two-thread test makes one
// per thread).
static Backend *gpu;
static Backend *(*make_backend)(Err *err);

// Backends with cuDNN's graph-API engines in the search (BackendOpts.engine_search).
static const BackendOpts engine_search = {.engine_search = 1};

#ifdef STEPSCOPE_CUDA
#define GPU_TEST(fn) TEST(fn)
static Backend *make_cuda(Err *err) { return backend_create("cuda", 1, err); }
static Backend *make_cuda_engines(Err *err) { return backend_create_opts("cuda", 1, &engine_search, err); }
#else
#define GPU_TEST(fn) __attribute__((unused)) static void fn(void)
static Backend *make_cuda(Err *err) { return NULL; }  // never called: no GPU test is registered
static Backend *make_cuda_engines(Err *err) { return NULL; }
#endif

// The CUDA backend `make` makes, made once; without a usable device the test skips, or fails
// when STEPSCOPE_REQUIRE_CUDA=1 (the GPU machine, where a skip would hide a broken setup).
static int have_gpu_from(Backend *(*make)(Err *), Backend **cached, int *tried) {
  static char why[600];
  if (!*tried) {
    *tried = 1;
    Err e = {{0}};
    if (!(*cached = make(&e))) snprintf(why, sizeof why, "%s", e.msg);
  }
  gpu = *cached;
  make_backend = make;
  if (gpu) return 1;
  const char *req = getenv("STEPSCOPE_REQUIRE_CUDA");
  if (req && !strcmp(req, "1")) test_fail(__FILE__, __LINE__, "%s (STEPSCOPE_REQUIRE_CUDA=1)", why);
  else test_skip(why);
  return 0;
}

static int have_gpu(void) {
  static Backend *cuda;
  static int tried;
  return have_gpu_from(make_cuda, &cuda, &tried);
}

static int have_gpu_engines(void) {
  static Backend *cuda;
  static int tried;
  return have_gpu_from(make_cuda_engines, &cuda, &tried);
}

static Backend *make_emu(Err *err) { return backend_cuda_emu_create_opts(NULL, err); }
static Backend *make_emu_engines(Err *err) { return backend_cuda_emu_create_opts(&engine_search, err); }

// The emulated backend `make` makes, made once, with the emulator's schedule seeded afresh for
// each test.
static int have_emu_from(Backend *(*make)(Err *), Backend **cached) {
  Err e = {{0}};
  if (!*cached && !(*cached = make(&e))) {
    test_fail(__FILE__, __LINE__, "the emulated CUDA backend: %s", e.msg);
    return 0;
  }
  gpu = *cached;
  make_backend = make;
  cuda_emu_seed(1);
  return 1;
}

static int have_emu(void) {
  static Backend *emu;
  return have_emu_from(make_emu, &emu);
}

static int have_emu_engines(void) {
  static Backend *emu;
  return have_emu_from(make_emu_engines, &emu);
}

// ||a - b|| / ||b||, printed.
static double rel_l2(const char *what, const float *a, const float *b, size_t n) {
  double e = test_rel_l2(a, b, n);
  printf("    %-44s rel L2 error %.2e  (n = %zu)\n", what, e, n);
  return e;
}

static float *download(UNet *m, const float *p, size_t n) {
  float *h = xmalloc(sizeof(float) * n);
  m->be->download(m->be, h, p, n);
  return h;
}

// One forward and backward of the tiny preset with the same weights, inputs and output
// gradient: the output and the whole gradient within tol (each tensor's within 10 tol, since a
// tensor with small gradients magnifies rounding).
static void step_gradients(int B, double tol) {
  Backend *ref = backend_cpu_ref_create();
  UNet *m[2] = {test_tiny_random(ref, 3, 0.1f), test_tiny_random(gpu, 3, 0.1f)};
  const int t[4] = {1, 250, 600, 999};
  const size_t n = (size_t)B * 32 * 32;
  float *hx = xmalloc(sizeof(float) * n), *hd = xmalloc(sizeof(float) * n), *out[2], *g[2];
  Rng r;
  rng_seed(&r, 5);
  rng_normal_fill(&r, hx, (long)n);
  rng_normal_fill(&r, hd, (long)n);
  for (int k = 0; k < 2; k++) {
    Backend *be = m[k]->be;
    float *x = be->alloc(be, n), *dout = be->alloc(be, n), *y;
    be->upload(be, x, hx, n);
    be->upload(be, dout, hd, n);
    unet_forward(m[k], x, t, B, &y);
    out[k] = download(m[k], y, n);
    be->fill(be, m[k]->g, 0, m[k]->size);
    unet_backward(m[k], dout);
    g[k] = download(m[k], m[k]->g, m[k]->size);
    be->free(be, x);
    be->free(be, dout);
  }
  ASSERT(rel_l2("forward output", out[1], out[0], n) <= tol);
  ASSERT(rel_l2("all gradients", g[1], g[0], m[0]->size) <= tol);
  double worst = 0;
  const char *worst_name = "";
  for (int i = 0; i < m[0]->nparams; i++) {
    const Param *p = &m[0]->params[i];
    double num = 0, den = 0;
    for (size_t j = p->off; j < p->off + p->n; j++) {
      double d = (double)g[1][j] - g[0][j];
      num += d * d;
      den += (double)g[0][j] * g[0][j];
    }
    double e = den > 0 ? sqrt(num / den) : sqrt(num);
    if (!(e <= worst)) worst = e, worst_name = p->name;
  }
  printf("    worst tensor: %s, rel L2 error %.2e\n", worst_name, worst);
  ASSERTF(worst <= 10 * tol, "gradient of %s: relative L2 error %.3g", worst_name, worst);
  for (int k = 0; k < 2; k++) { free(out[k]); free(g[k]); unet_free(m[k]); }
  free(hx); free(hd);
  ref->destroy(ref);
}

GPU_TEST(cuda_model_step_gradients) { if (have_gpu()) step_gradients(4, 1e-4); }
TEST(cuda_emu_model_step_gradients) { if (have_emu()) step_gradients(2, 1e-5); }

// How many planned (shape, direction)s of the backend under test run a graph-API plan.
static int engines_chosen(void) {
  int n = gpu->conv_algos(gpu, NULL, 0), k = 0;
  ConvAlgo *a = xcalloc(n ? n : 1, sizeof *a);
  gpu->conv_algos(gpu, a, n);
  for (int i = 0; i < n; i++) k += !strncmp(a[i].chosen, "engine", 6);
  printf("    %d of %d planned convolution directions run a cuDNN graph-API engine\n", k, n);
  free(a);
  return k;
}

// The same with cuDNN's graph-API engines in the search (whichever it picked per shape; the
// emulator's made-up times make it pick some).
GPU_TEST(cuda_model_engines_step_gradients) {
  if (have_gpu_engines()) step_gradients(4, 1e-4), engines_chosen();
}
TEST(cuda_emu_model_engines_step_gradients) {
  if (!have_emu_engines()) return;
  step_gradients(2, 1e-5);
  ASSERT(engines_chosen() > 0);
}

// AdamW steps from the same seed on the same random data: every loss within tol (relative) of
// the CPU's. The trajectories drift apart by rounding only.
static void training_steps_track(int steps, int batch, double tol) {
  Backend *cpu = backend_cpu_create(4);
  Dataset ds = test_random_data(64, 8);
  OptimCfg oc = optim_defaults();
  UNet *m[2];
  Trainer tr[2];
  Backend *bes[2] = {cpu, gpu};
  for (int k = 0; k < 2; k++) {
    m[k] = test_tiny_unet(bes[k], NULL);
    unet_init_params(m[k], 1);
    trainer_init(&tr[k], m[k], &ds, &oc, SCHED_LINEAR, 1000, batch, 0, 1000, 1);
  }
  double worst = 0, sum = 0;
  int worst_step = 0;
  for (int s = 0; s < steps; s++) {
    float a = trainer_step(&tr[0], NULL, NULL), b = trainer_step(&tr[1], NULL, NULL);
    double d = fabs((double)b - a) / fabs(a);
    ASSERTF(isfinite(b), "step %d: CUDA loss %g", s, b);
    sum += d;
    if (d > worst) worst = d, worst_step = s;
  }
  printf("    losses over %d steps: max rel difference %.2e (step %d), mean %.2e\n", steps, worst, worst_step,
         sum / steps);
  ASSERTF(worst <= tol, "step %d: losses differ by %.3g (relative)", worst_step, worst);
  for (int k = 0; k < 2; k++) { trainer_free(&tr[k]); unet_free(m[k]); }
  data_free(&ds);
  cpu->destroy(cpu);
}

GPU_TEST(cuda_model_100_training_steps_track) { if (have_gpu()) training_steps_track(100, 8, 1e-3); }
TEST(cuda_emu_model_training_steps_track) { if (have_emu()) training_steps_track(4, 2, 1e-5); }

// DDIM with the same seed and weights: the same images on both (within tol).
static void ddim_same_seed_same_image(int steps, int B, double tol) {
  Backend *cpu = backend_cpu_create(4);
  UNet *m[2] = {test_tiny_random(cpu, 4, 0.1f), test_tiny_random(gpu, 4, 0.1f)};
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 1000);
  SamplerCfg cfg = sampler_cfg_default();
  cfg.steps = steps;
  cfg.seed = 42;
  const size_t n = (size_t)B * 32 * 32;
  float *x[2];
  Err e;
  for (int k = 0; k < 2; k++) {
    x[k] = xmalloc(sizeof(float) * n);
    ASSERT_EQ_INT(sample_run(&s, &cfg, B, 1, 32, 32, test_unet_eps, m[k], NULL, NULL, x[k], &e), 0);
  }
  ASSERT(rel_l2("DDIM images", x[1], x[0], n) <= tol);
  for (int k = 0; k < 2; k++) { free(x[k]); unet_free(m[k]); }
  schedule_free(&s);
  cpu->destroy(cpu);
}

GPU_TEST(cuda_model_ddim_same_seed_same_image) { if (have_gpu()) ddim_same_seed_same_image(20, 4, 1e-3); }
TEST(cuda_emu_model_ddim_same_seed_same_image) { if (have_emu()) ddim_same_seed_same_image(5, 2, 1e-4); }

// Recorded forwards replay the very kernels a direct forward runs: the same bits, for two
// batch sizes (Ba < Bb) in turn and across weight updates, one recording per batch size.
static void graphs_replay_equals_direct(int Ba, int Bb) {
  UNet *rec = test_tiny_random(gpu, 6, 0.1f), *direct = test_tiny_random(gpu, 6, 0.1f);
  direct->use_graphs = 0;
  const struct { int t, B; } calls[] = {{999, Ba}, {500, Ba}, {10, Bb}, {0, Ba}, {250, Bb}, {1, Ba}};
  float *x = xmalloc(sizeof(float) * Bb * 1024), *a = xmalloc(sizeof(float) * Bb * 1024),
        *b = xmalloc(sizeof(float) * Bb * 1024);
  Rng r;
  rng_seed(&r, 7);
  for (int i = 0; i < 8; i++) {
    if (i == 6) { test_randomize(rec, 60, 0.1f); test_randomize(direct, 60, 0.1f); }
    const int t = calls[i % 6].t, B = calls[i % 6].B;
    const size_t n = (size_t)B * 1024;
    rng_normal_fill(&r, x, (long)n);
    unet_eps_host(rec, t, x, B, a);
    unet_eps_host(direct, t, x, B, b);
    double worst = 0;
    for (size_t j = 0; j < n; j++) worst = fmax(worst, fabs((double)a[j] - b[j]));
    ASSERTF(worst == 0, "call %d (t %d, B %d): recorded and direct differ by up to %g", i, t, B, worst);
  }
  printf("    8 calls bit-identical; %ld recordings, %ld replays\n", rec->graph_captures, rec->graph_launches);
  ASSERT(rec->use_graphs);
  ASSERT_EQ_INT(rec->graph_launches, 8);
  ASSERT(rec->graph_captures >= 2 && rec->graph_captures <= 3);  // Ba again if Bb moved the arena
  free(x); free(a); free(b);
  unet_free(rec);
  unet_free(direct);
}

GPU_TEST(cuda_model_graphs_replay_equals_direct) { if (have_gpu()) graphs_replay_equals_direct(4, 7); }
TEST(cuda_emu_model_graphs_replay_equals_direct) { if (have_emu()) graphs_replay_equals_direct(2, 3); }

// A recording outlives growth of the backend's shared buffers: another model on the same
// backend (as the explorer runs the base and the group models) runs a larger batch, which grows
// the cuDNN workspace and the reduction scratch; the first model's recording, which points into
// the old ones, still replays the same bits as a direct forward, without being recorded again.
static void graphs_survive_buffer_growth(int B, int B_big) {
  UNet *rec = test_tiny_random(gpu, 8, 0.1f), *direct = test_tiny_random(gpu, 8, 0.1f);
  UNet *other = test_tiny_random(gpu, 9, 0.1f);
  direct->use_graphs = other->use_graphs = 0;
  float *x = xmalloc(sizeof(float) * B_big * 1024), *a = xmalloc(sizeof(float) * B_big * 1024),
        *b = xmalloc(sizeof(float) * B_big * 1024);
  Rng r;
  rng_seed(&r, 11);
  for (int i = 0; i < 3; i++) {
    if (i == 2) {  // the other model, at the larger batch, in between
      rng_normal_fill(&r, x, (long)B_big * 1024);
      unet_eps_host(other, 400, x, B_big, a);
    }
    rng_normal_fill(&r, x, (long)B * 1024);
    unet_eps_host(rec, 100 + i, x, B, a);
    unet_eps_host(direct, 100 + i, x, B, b);
    ASSERTF(!memcmp(a, b, sizeof(float) * B * 1024), "call %d: recorded and direct differ", i);
  }
  printf("    %ld recording, %ld replays; bit-identical after the shared buffers grew\n", rec->graph_captures,
         rec->graph_launches);
  ASSERT_EQ_INT(rec->graph_captures, 1);
  ASSERT_EQ_INT(rec->graph_launches, 3);
  free(x); free(a); free(b);
  unet_free(rec);
  unet_free(direct);
  unet_free(other);
}

GPU_TEST(cuda_model_graphs_survive_buffer_growth) { if (have_gpu()) graphs_survive_buffer_growth(4, 32); }
TEST(cuda_emu_model_graphs_survive_buffer_growth) { if (have_emu()) graphs_survive_buffer_growth(2, 6); }

// Two trainers of the same tiny model (weights from model_seed, batches from train_seed) on
// the backend under test: tr[0] as training runs (a recorded step where the backend records),
// tr[1] issuing every op directly.
static void recorded_and_direct(const Dataset *ds, int batch, uint64_t model_seed, uint64_t train_seed, UNet *m[2],
                                Trainer tr[2]) {
  OptimCfg oc = optim_defaults();
  for (int k = 0; k < 2; k++) {
    m[k] = test_tiny_random(gpu, model_seed, 0.1f);
    trainer_init(&tr[k], m[k], ds, &oc, SCHED_LINEAR, 1000, batch, 0, 1000, train_seed);
  }
  tr[1].use_graph = 0;
}

// Training steps replayed from a recording run the very kernels of direct steps: the same
// losses, bit for bit, and one recording. distill > 0: with a teacher (its forward recorded too).
static void training_graph_equals_direct_w(int steps, int batch, float distill) {
  Dataset ds = test_random_data(40, 12);
  UNet *m[2], *te[2] = {NULL, NULL};
  Trainer tr[2];
  recorded_and_direct(&ds, batch, 13, 2, m, tr);
  for (int k = 0; k < 2 && distill > 0; k++) {
    te[k] = test_tiny_random(gpu, 14, 0.1f);
    trainer_set_teacher(&tr[k], te[k], distill);
  }
  for (int s = 0; s < steps; s++) {
    float a = trainer_step(&tr[0], NULL, NULL), b = trainer_step(&tr[1], NULL, NULL);
    ASSERTF(a == b && isfinite(a), "step %d: recorded %.9g, direct %.9g", s, a, b);
  }
  printf("    %d steps bit-identical; %ld recording, %ld replays\n", steps, tr[0].graph_captures,
         tr[0].graph_launches);
  ASSERT_EQ_INT(tr[0].graph_captures, 1);
  ASSERT_EQ_INT(tr[0].graph_launches, steps);
  for (int k = 0; k < 2; k++) { trainer_free(&tr[k]); unet_free(m[k]); if (te[k]) unet_free(te[k]); }
  data_free(&ds);
}
static void training_graph_equals_direct(int steps, int batch) { training_graph_equals_direct_w(steps, batch, 0); }

GPU_TEST(cuda_model_training_graph_equals_direct) { if (have_gpu()) training_graph_equals_direct(10, 16); }
TEST(cuda_emu_model_training_graph_equals_direct) { if (have_emu()) training_graph_equals_direct(4, 2); }
GPU_TEST(cuda_model_distill_training_graph_equals_direct) {
  if (have_gpu()) training_graph_equals_direct_w(10, 16, 0.5f);
}
TEST(cuda_emu_model_distill_training_graph_equals_direct) {
  if (have_emu()) training_graph_equals_direct_w(3, 2, 0.5f);
}
// Graph-API plans run inside recordings as they run directly.
GPU_TEST(cuda_model_engines_training_graph_equals_direct) {
  if (have_gpu_engines()) training_graph_equals_direct(10, 16);
}
TEST(cuda_emu_model_engines_training_graph_equals_direct) {
  if (have_emu_engines()) training_graph_equals_direct(3, 2);
}

// Two backends on two threads, each recording and replaying while the other loads, plans
// and samples (as the explorer's two samplers do): each gives what it gives alone.
typedef struct { uint64_t seed; int steps; float x[3 * 1024]; int rc; } Side;

static void *sample_side(void *arg) {
  Side *sd = arg;
  Err e = {{0}};
  Backend *be = make_backend(&e);
  if (!be) { sd->rc = -2; return NULL; }
  UNet *m = test_tiny_random(be, sd->seed, 0.1f);
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 1000);
  SamplerCfg cfg = sampler_cfg_default();
  cfg.steps = sd->steps;
  cfg.seed = sd->seed;
  sd->rc = sample_run(&s, &cfg, 3, 1, 32, 32, test_unet_eps, m, NULL, NULL, sd->x, &e);
  schedule_free(&s);
  unet_free(m);
  be->destroy(be);
  return NULL;
}

static void two_threads_record_and_sample(int steps) {
  static Side alone[2], together[2];
  for (int k = 0; k < 2; k++) {
    alone[k].seed = together[k].seed = 70 + k;
    alone[k].steps = together[k].steps = steps;
    sample_side(&alone[k]);
    ASSERT_EQ_INT(alone[k].rc, 0);
  }
  pthread_t th[2];
  for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, sample_side, &together[k]);
  for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
  for (int k = 0; k < 2; k++) {
    ASSERT_EQ_INT(together[k].rc, 0);
    ASSERTF(!memcmp(alone[k].x, together[k].x, sizeof alone[k].x), "thread %d: images differ from its run alone", k);
  }
  printf("    two threads sampled side by side: the same images as alone\n");
}

GPU_TEST(cuda_model_two_threads_record_and_sample) { if (have_gpu()) two_threads_record_and_sample(30); }
TEST(cuda_emu_model_two_threads_record_and_sample) { if (have_emu()) two_threads_record_and_sample(4); }

// Another thread's calls that wait for the whole device must not land inside a recording: the
// process lock holds them off until the capture ends. Here the other thread plans convolution
// after convolution on a second backend (cuDNN's search allocates and frees device memory).
// Without the lock the emulator voids the capture, as CUDA would, and the model falls back to
// direct calls. Emulator only: it needs CUDA's capture rules, not speed.
static volatile int churn_stop;
static void *plan_convolutions(void *arg) {
  long *planned = arg;
  Err e = {{0}};
  Backend *be = make_backend(&e);
  if (!be) return NULL;
  for (int i = 1; !churn_stop && i < 100000; i++) {
    ConvDesc d = conv_desc(i, 2, 4, 4, 2, 3, 1, 1);  // a new shape each time: a new plan
    float *x = be->alloc(be, (size_t)i * 32), *w = be->alloc(be, 36), *y = be->alloc(be, (size_t)i * 32);
    be->conv2d_fwd(be, &d, x, w, NULL, y);
    be->free(be, x), be->free(be, w), be->free(be, y);
    (*planned)++;
  }
  be->destroy(be);
  return NULL;
}

TEST(cuda_emu_model_recordings_hold_off_other_threads) {
  if (!have_emu()) return;
  float x[2 * 1024], eps[2 * 1024];
  memset(x, 0, sizeof x);
  long planned = 0;
  churn_stop = 0;
  pthread_t th;
  pthread_create(&th, NULL, plan_convolutions, &planned);
  int fell_back = 0;
  const int n = 8;
  for (int i = 0; i < n; i++) {
    UNet *m = test_tiny_random(gpu, 30 + i, 0.1f);
    unet_eps_host(m, 500, x, 2, eps);  // records, then replays
    fell_back += !m->use_graphs;
    unet_free(m);
  }
  churn_stop = 1;
  pthread_join(th, NULL);
  printf("    %d recordings while another thread planned %ld convolutions: %d fell back\n", n, planned, fell_back);
  ASSERT(planned > 0);
  ASSERT_EQ_INT(fell_back, 0);
}

// ---- failure paths, by fault injection on the emulator ----

// A recording that fails, wherever it fails, leaves the model running its ops directly, with
// the same results and nothing left over from the failure (the next checked call succeeds):
// the capture cannot begin; a cuBLAS call fails while recorded; instantiation fails; a cuDNN
// call fails while a training step is recorded.
TEST(cuda_emu_model_failed_recordings_fall_back) {
  if (!have_emu()) return;
  const int B = 2;
  const size_t n = (size_t)B * 1024;
  float *x = xmalloc(sizeof(float) * n), *want = xmalloc(sizeof(float) * n), *got = xmalloc(sizeof(float) * n);
  Rng r;
  rng_seed(&r, 12);
  rng_normal_fill(&r, x, (long)n);
  UNet *direct = test_tiny_random(gpu, 12, 0.1f);
  direct->use_graphs = 0;
  unsigned long long before = cuda_emu_calls("cublasSgemmStridedBatched");
  unet_eps_host(direct, 300, x, B, want);
  const int gemms = (int)(cuda_emu_calls("cublasSgemmStridedBatched") - before);  // per forward
  ASSERT(gemms > 0);

  // The recording makes one direct pass first (planning), so the gemms + 1st call is the first
  // one of the recorded pass.
  const struct { const char *call; int nth; } failures[] = {
      {"cudaStreamBeginCapture", 1}, {"cublasSgemmStridedBatched", gemms + 1}, {"cudaGraphInstantiate", 1}};
  for (int i = 0; i < 3; i++) {
    UNet *m = test_tiny_random(gpu, 12, 0.1f);
    cuda_emu_fail_call(failures[i].call, failures[i].nth);
    unet_eps_host(m, 300, x, B, got);
    cuda_emu_fail_call(NULL, 0);
    ASSERTF(!memcmp(got, want, sizeof(float) * n), "%s failing: not the direct forward's output", failures[i].call);
    ASSERTF(!m->use_graphs && m->graph_captures == 0, "%s failing: still recording", failures[i].call);
    unet_eps_host(m, 300, x, B, got);  // and it goes on, directly
    ASSERT(!memcmp(got, want, sizeof(float) * n));
    unet_free(m);
  }

  // Training: a backward-filter convolution fails while the step is recorded.
  Dataset ds = test_random_data(8, 13);
  UNet *tm[2];
  Trainer tr[2];
  recorded_and_direct(&ds, B, 14, 3, tm, tr);
  before = cuda_emu_calls("cudnnConvolutionBackwardFilter");
  float lb = trainer_step(&tr[1], NULL, NULL);
  const int convs = (int)(cuda_emu_calls("cudnnConvolutionBackwardFilter") - before);
  cuda_emu_fail_call("cudnnConvolutionBackwardFilter", convs + 1);
  float la = trainer_step(&tr[0], NULL, NULL);
  cuda_emu_fail_call(NULL, 0);
  ASSERTF(la == lb, "first step: %.9g with the failed recording, %.9g direct", la, lb);
  ASSERT(!tr[0].use_graph && tr[0].graph_captures == 0);
  for (int s = 0; s < 2; s++) {
    la = trainer_step(&tr[0], NULL, NULL), lb = trainer_step(&tr[1], NULL, NULL);
    ASSERTF(la == lb, "step %d: %.9g and %.9g", s + 1, la, lb);
  }
  for (int k = 0; k < 2; k++) { trainer_free(&tr[k]); unet_free(tm[k]); }
  data_free(&ds);
  unet_free(direct);
  free(x); free(want); free(got);
}

// Outside a recording a failed CUDA, cuBLAS or cuDNN call ends the program, naming the library,
// its error, the call and the file and line (in a child process: it exits).
static const char *failing_call;
static void forward_with_failing_call(void) {
  UNet *m = test_tiny_random(gpu, 15, 0.1f);
  m->use_graphs = 0;
  float x[1024] = {0}, eps[1024];
  cuda_emu_fail_call(failing_call, 1);
  unet_eps_host(m, 10, x, 1, eps);
}

TEST(cuda_emu_failures_name_the_call) {
  if (!have_emu()) return;
  const struct { const char *call, *lib, *in, *at; } cases[] = {
      {"cudnnConvolutionForward", "cuDNN error: CUDNN_STATUS_EXECUTION_FAILED", "in cudnnConvolutionForward(",
       "kernels/cuda/conv_cuda.cu:"},
      {"cublasSgemmStridedBatched", "cuBLAS error: CUBLAS_STATUS_EXECUTION_FAILED", "in cublasSgemmStridedBatched(",
       "kernels/cuda/backend_cuda.cu:"},
      {"silu_fwd_kernel", "CUDA error: unspecified launch failure", "in cudaGetLastError()", "kernels/cuda/ops_cuda.cu:"},
  };
  static char msg[4096];
  for (int i = 0; i < 3; i++) {
    failing_call = cases[i].call;
    int status = test_in_child(forward_with_failing_call, 60, msg, sizeof msg);
    printf("    %s fails:\n", cases[i].call);
    for (const char *l = strstr(msg, "stepscope:") ? strstr(msg, "stepscope:") : msg; *l;) {
      int len = (int)strcspn(l, "\n");
      printf("      %.*s\n", len, l);
      l += len + (l[len] == '\n');
    }
    ASSERTF(WIFEXITED(status) && WEXITSTATUS(status) == 1, "%s: the child did not exit with status 1", cases[i].call);
    ASSERTF(strstr(msg, cases[i].lib) && strstr(msg, cases[i].in) && strstr(msg, cases[i].at),
            "%s: the message does not name the library, call and place:\n%s", cases[i].call, msg);
  }
}

#ifndef STEPSCOPE_CUDA
TEST(cuda_model) { test_skip("built without CUDA (nvcc or cuDNN not found, or CUDA=0)"); }
#endif
