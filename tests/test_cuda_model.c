// test_cuda_model.c — the whole model on CUDA against the CPU: a training step's output and
// gradients, 100 training steps whose losses track, DDIM images from the same seed, and
// recorded forwards (CUDA graphs) against direct ones. Errors are printed as they are seen.
#include "test.h"

#ifdef STEPSCOPE_CUDA
#include <pthread.h>
#include <stdlib.h>

#include "engine/sampler.h"
#include "engine/train.h"
#include "models.h"

static Backend *gpu;

// The CUDA backend, made once; without a usable device the test skips, or fails when
// STEPSCOPE_REQUIRE_CUDA=1 (the GPU machine, where a skip would hide a broken setup).
static int have_gpu(void) {
  static int tried;
  static char why[600];
  if (!tried) {
    tried = 1;
    Err e = {{0}};
    if (!(gpu = backend_create("cuda", 1, &e))) snprintf(why, sizeof why, "no usable CUDA device: %s", e.msg);
  }
  if (gpu) return 1;
  const char *req = getenv("STEPSCOPE_REQUIRE_CUDA");
  if (req && !strcmp(req, "1")) test_fail(__FILE__, __LINE__, "%s (STEPSCOPE_REQUIRE_CUDA=1)", why);
  else test_skip(why);
  return 0;
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
// gradient: the output within 1e-4 and the whole gradient within 1e-4 (each tensor's
// within 1e-3, since a tensor with small gradients magnifies rounding).
TEST(cuda_model_step_gradients) {
  if (!have_gpu()) return;
  Backend *ref = backend_cpu_ref_create();
  UNet *m[2] = {test_tiny_random(ref, 3, 0.1f), test_tiny_random(gpu, 3, 0.1f)};
  const int B = 4, t[4] = {1, 250, 600, 999};
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
  ASSERT(rel_l2("forward output", out[1], out[0], n) <= 1e-4);
  ASSERT(rel_l2("all gradients", g[1], g[0], m[0]->size) <= 1e-4);
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
  ASSERTF(worst <= 1e-3, "gradient of %s: relative L2 error %.3g", worst_name, worst);
  for (int k = 0; k < 2; k++) { free(out[k]); free(g[k]); unet_free(m[k]); }
  free(hx); free(hd);
  ref->destroy(ref);
}

// 100 AdamW steps from the same seed on the same random data: every loss within 1e-3
// (relative) of the CPU's. The trajectories drift apart by rounding only.
TEST(cuda_model_100_training_steps_track) {
  if (!have_gpu()) return;
  Backend *cpu = backend_cpu_create(4);
  Dataset ds = test_random_data(64, 8);
  OptimCfg oc = optim_defaults();
  UNet *m[2];
  Trainer tr[2];
  Backend *bes[2] = {cpu, gpu};
  for (int k = 0; k < 2; k++) {
    m[k] = test_tiny_unet(bes[k], NULL);
    unet_init_params(m[k], 1);
    trainer_init(&tr[k], m[k], &ds, &oc, SCHED_LINEAR, 1000, 8, 0, 1000, 1);
  }
  double worst = 0, sum = 0;
  int worst_step = 0;
  for (int s = 0; s < 100; s++) {
    float a = trainer_step(&tr[0], NULL, NULL), b = trainer_step(&tr[1], NULL, NULL);
    double d = fabs((double)b - a) / fabs(a);
    ASSERTF(isfinite(b), "step %d: CUDA loss %g", s, b);
    sum += d;
    if (d > worst) worst = d, worst_step = s;
  }
  printf("    losses over 100 steps: max rel difference %.2e (step %d), mean %.2e\n", worst, worst_step, sum / 100);
  ASSERTF(worst <= 1e-3, "step %d: losses differ by %.3g (relative)", worst_step, worst);
  for (int k = 0; k < 2; k++) { trainer_free(&tr[k]); unet_free(m[k]); }
  data_free(&ds);
  cpu->destroy(cpu);
}

// DDIM-20 with the same seed and weights: the same images on both (within 1e-3).
TEST(cuda_model_ddim_same_seed_same_image) {
  if (!have_gpu()) return;
  Backend *cpu = backend_cpu_create(4);
  UNet *m[2] = {test_tiny_random(cpu, 4, 0.1f), test_tiny_random(gpu, 4, 0.1f)};
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 1000);
  SamplerCfg cfg = sampler_cfg_default();
  cfg.steps = 20;
  cfg.seed = 42;
  const int B = 4;
  const size_t n = (size_t)B * 32 * 32;
  float *x[2];
  Err e;
  for (int k = 0; k < 2; k++) {
    x[k] = xmalloc(sizeof(float) * n);
    ASSERT_EQ_INT(sample_run(&s, &cfg, B, 1, 32, 32, test_unet_eps, m[k], NULL, NULL, x[k], &e), 0);
  }
  ASSERT(rel_l2("DDIM-20 images", x[1], x[0], n) <= 1e-3);
  for (int k = 0; k < 2; k++) { free(x[k]); unet_free(m[k]); }
  schedule_free(&s);
  cpu->destroy(cpu);
}

// Recorded forwards replay the very kernels a direct forward runs: the same bits, for two
// batch sizes in turn and across weight updates, one recording per batch size.
TEST(cuda_model_graphs_replay_equals_direct) {
  if (!have_gpu()) return;
  UNet *rec = test_tiny_random(gpu, 6, 0.1f), *direct = test_tiny_random(gpu, 6, 0.1f);
  direct->use_graphs = 0;
  const struct { int t, B; } calls[] = {{999, 4}, {500, 4}, {10, 7}, {0, 4}, {250, 7}, {1, 4}};
  float *x = xmalloc(sizeof(float) * 7 * 1024), *a = xmalloc(sizeof(float) * 7 * 1024),
        *b = xmalloc(sizeof(float) * 7 * 1024);
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
  ASSERT(rec->graph_captures >= 2 && rec->graph_captures <= 3);  // B = 4 again if B = 7 moved the arena
  free(x); free(a); free(b);
  unet_free(rec);
  unet_free(direct);
}

// Training steps replayed from a recording run the very kernels of direct steps: the same
// losses, bit for bit, and one recording.
TEST(cuda_model_training_graph_equals_direct) {
  if (!have_gpu()) return;
  Dataset ds = test_random_data(40, 12);
  OptimCfg oc = optim_defaults();
  UNet *m[2];
  Trainer tr[2];
  for (int k = 0; k < 2; k++) {
    m[k] = test_tiny_random(gpu, 13, 0.1f);
    trainer_init(&tr[k], m[k], &ds, &oc, SCHED_LINEAR, 1000, 16, 0, 1000, 2);
  }
  tr[1].use_graph = 0;
  for (int s = 0; s < 10; s++) {
    float a = trainer_step(&tr[0], NULL, NULL), b = trainer_step(&tr[1], NULL, NULL);
    ASSERTF(a == b && isfinite(a), "step %d: recorded %.9g, direct %.9g", s, a, b);
  }
  printf("    10 steps bit-identical; %ld recording, %ld replays\n", tr[0].graph_captures, tr[0].graph_launches);
  ASSERT_EQ_INT(tr[0].graph_captures, 1);
  ASSERT_EQ_INT(tr[0].graph_launches, 10);
  for (int k = 0; k < 2; k++) { trainer_free(&tr[k]); unet_free(m[k]); }
  data_free(&ds);
}

// Two backends on two threads, each recording and replaying while the other loads, plans
// and samples (as the explorer's two samplers do): each gives what it gives alone.
typedef struct { uint64_t seed; float x[3 * 1024]; int rc; } Side;

static void *sample_side(void *arg) {
  Side *sd = arg;
  Err e = {{0}};
  Backend *be = backend_create("cuda", 1, &e);
  if (!be) { sd->rc = -2; return NULL; }
  UNet *m = test_tiny_random(be, sd->seed, 0.1f);
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 1000);
  SamplerCfg cfg = sampler_cfg_default();
  cfg.steps = 30;
  cfg.seed = sd->seed;
  sd->rc = sample_run(&s, &cfg, 3, 1, 32, 32, test_unet_eps, m, NULL, NULL, sd->x, &e);
  schedule_free(&s);
  unet_free(m);
  be->destroy(be);
  return NULL;
}

TEST(cuda_model_two_threads_record_and_sample) {
  if (!have_gpu()) return;
  static Side alone[2], together[2];
  for (int k = 0; k < 2; k++) {
    alone[k].seed = together[k].seed = 70 + k;
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

#else

TEST(cuda_model) { test_skip("built without CUDA (nvcc or cuDNN not found, or CUDA=0)"); }

#endif
