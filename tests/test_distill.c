// test_distill.c — fine-tuning with a teacher (trainer_set_teacher) and the loss-driven step
// budget (engine/sat/budget.h): the plain objective untouched at W = 0, a zero loss and gradient
// against oneself, gradients by finite differences, recorded steps equal to direct ones, the
// budget's arithmetic, and `stepscope finetune --distill --steps-by loss` end to end.
#include "engine/checkpoint.h"
#include "engine/sat/budget.h"
#include "engine/sat/plan.h"
#include "engine/train.h"
#include "backend_recorder.h"
#include "models.h"
#include "test.h"
#include "cli_run.h"
#include <stdlib.h>
#include <unistd.h>

#define IMG (1 * 32 * 32)  // the tiny preset: 1 channel, 32 x 32

static float *host_copy(Backend *be, const float *src, size_t n) {
  float *h = xmalloc(sizeof(float) * n);
  be->download(be, h, src, n);
  return h;
}

// W = 0 with a teacher set is the plain objective bit for bit: same losses, weights and EMA,
// with Min-SNR weights on (they must go through unchanged too).
TEST(distill_w0_is_the_plain_objective) {
  Backend *be = backend_cpu_ref_create();
  UNet *a = test_tiny_random(be, 11, 0.1f), *b = test_tiny_random(be, 11, 0.1f), *te = test_tiny_random(be, 12, 0.1f);
  Dataset ds = test_random_data(5, 3);
  OptimCfg oc = optim_defaults();
  Trainer ta, tb;
  trainer_init(&ta, a, &ds, &oc, SCHED_LINEAR, 1000, 2, 100, 600, 7);
  trainer_init(&tb, b, &ds, &oc, SCHED_LINEAR, 1000, 2, 100, 600, 7);
  ta.minsnr_gamma = tb.minsnr_gamma = 5;
  trainer_set_teacher(&tb, te, 0.0f);
  ASSERT(tb.teacher == NULL);
  for (int s = 0; s < 4; s++) {
    float la = trainer_step(&ta, NULL, NULL), lb = trainer_step(&tb, NULL, NULL);
    ASSERTF(la == lb && isfinite(la), "step %d: %.9g plain, %.9g with W = 0", s, la, lb);
  }
  float *wa = host_copy(be, a->w, a->size), *wb = host_copy(be, b->w, b->size);
  float *ea = host_copy(be, ta.opt.ema, a->size), *eb = host_copy(be, tb.opt.ema, b->size);
  ASSERT(!memcmp(wa, wb, sizeof(float) * a->size));
  ASSERT(!memcmp(ea, eb, sizeof(float) * a->size));
  free(wa); free(wb); free(ea); free(eb);
  trainer_free(&ta); trainer_free(&tb);
  unet_free(a); unet_free(b); unet_free(te);
  data_free(&ds);
  be->destroy(be);
}

// One step's loss (the mean of the reported per-sample losses, in double) and, into g (may be
// NULL), its gradient: a fresh trainer with the same seed each time, so the same batch; lr 0
// and no clipping leave the weights and the gradient as the step computed them.
static double step_loss(UNet *m, UNet *te, float w, const Dataset *ds, int B, float *g, Trainer *keep) {
  OptimCfg oc = optim_defaults();
  oc.lr = 0;
  oc.clip = 0;
  Trainer tr;
  trainer_init(&tr, m, ds, &oc, SCHED_LINEAR, 1000, B, 0, 1000, 21);
  trainer_set_teacher(&tr, te, w);
  float *ls = xmalloc(sizeof(float) * B);
  trainer_step(&tr, NULL, ls);
  double mean = 0;
  for (int b = 0; b < B; b++) mean += (double)ls[b] / B;
  if (g) m->be->download(m->be, g, m->g, m->size);
  free(ls);
  if (keep) *keep = tr;  // the caller reads the batch and frees it
  else trainer_free(&tr);
  return mean;
}

// step_loss(m, te, w, ds, B) as a loss of the weights alone, for test_fd_add.
typedef struct {
  UNet *m, *te;
  float w;
  const Dataset *ds;
  int B;
} StepLoss;

static double step_loss_of(void *ctx) {
  const StepLoss *c = ctx;
  return step_loss(c->m, c->te, c->w, c->ds, c->B, NULL, NULL);
}

// W = 1 against a copy of oneself: the target is the student's own prediction, so the loss and
// the whole gradient are exactly zero.
TEST(distill_w1_against_itself_is_zero) {
  Backend *be = backend_cpu_ref_create();
  UNet *m = test_tiny_random(be, 5, 0.1f), *te = test_tiny_random(be, 5, 0.1f);
  Dataset ds = test_random_data(4, 8);
  float *g = xmalloc(sizeof(float) * m->size);
  double l = step_loss(m, te, 1.0f, &ds, 3, g, NULL);
  ASSERTF(fabs(l) <= 1e-12, "loss %.9g", l);
  size_t nz = 0;
  for (size_t i = 0; i < m->size; i++) nz += g[i] != 0;
  ASSERTF(nz == 0, "%zu of %zu gradient entries are not zero", nz, m->size);
  // and not by accident: W = 0.5 against the same teacher has a loss and a gradient
  ASSERT(step_loss(m, te, 0.5f, &ds, 3, g, NULL) > 0.1);
  free(g);
  unet_free(m); unet_free(te);
  data_free(&ds);
  be->destroy(be);
}

static double mse(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
  return s / n;
}

// W = 0.7, the teacher another random model. First the reported loss is
// 0.7 mse(teacher, student) + 0.3 mse(eps, student) recomputed here from the step's batch; then
// central differences of it on 30 random parameters in float32 with h = 1e-2 match the step's
// gradient: ||fd - analytic|| / ||analytic|| < 2e-2 over the sample, as in
// unet_gradient_finite_differences (float32 rounding of the loss limits the agreement; a wrong
// gradient, e.g. the target's mix reversed, is off by O(1)).
TEST(distill_gradient_finite_differences) {
  Backend *be = backend_cpu_ref_create();
  UNet *m = test_tiny_random(be, 3, 0.15f), *te = test_tiny_random(be, 4, 0.15f);
  Dataset ds = test_random_data(4, 9);
  const int B = 2;
  const float W = 0.7f;
  float *g = xmalloc(sizeof(float) * m->size), *w = host_copy(be, m->w, m->size);
  Trainer tr;
  double l0 = step_loss(m, te, W, &ds, B, g, &tr);
  {
    const int k = tr.cur;
    float *x = be->alloc(be, (size_t)B * IMG), *out;
    be->upload(be, x, tr.h_x[k], (size_t)B * IMG);
    unet_forward(te, x, tr.h_t[k], B, &out);
    float *pt = host_copy(be, out, (size_t)B * IMG);
    unet_forward(m, x, tr.h_t[k], B, &out);
    float *ps = host_copy(be, out, (size_t)B * IMG);
    double want = 0;
    for (int b = 0; b < B; b++)
      want += (W * mse(pt + b * IMG, ps + b * IMG, IMG) + (1 - W) * mse(tr.h_eps[k] + b * IMG, ps + b * IMG, IMG)) / B;
    ASSERT_NEAR(l0, want, 0, 1e-5);
    free(pt); free(ps);
    be->free(be, x);
    trainer_free(&tr);
  }
  Rng rng;
  rng_seed(&rng, 17);
  StepLoss loss = {m, te, W, &ds, B};
  FdError fd = {0, 0};
  test_fd_sample(&fd, m, w, g, &rng, 30, step_loss_of, &loss);
  ASSERTF(fd.den > 0, "all sampled gradients are zero");
  printf("    relative gradient error %.3g\n", sqrt(fd.num / fd.den));
  ASSERTF(sqrt(fd.num / fd.den) < 2e-2, "relative gradient error %.3g", sqrt(fd.num / fd.den));
  free(g); free(w);
  unet_free(m); unet_free(te);
  data_free(&ds);
  be->destroy(be);
}

// On a backend that records (the CPU stand-in for CUDA graphs), distilled steps replayed from
// one recording give the losses and weights of direct steps, bit for bit; a teacher whose arena
// moves (a larger pass in between) gets the step recorded again; no call a capture refuses.
TEST(distill_graph_replay_equals_direct) {
  Backend *rbe = backend_recorder_wrap(backend_cpu_create(1)), *pbe = backend_cpu_create(1);
  RecorderStats *st = backend_recorder_stats(rbe);
  UNet *rm = test_tiny_random(rbe, 41, 0.1f), *pm = test_tiny_random(pbe, 41, 0.1f);
  UNet *rt = test_tiny_random(rbe, 42, 0.1f), *pt = test_tiny_random(pbe, 42, 0.1f);
  Dataset ds = test_random_data(7, 5);
  OptimCfg oc = optim_defaults();
  Trainer a, b;
  trainer_init(&a, rm, &ds, &oc, SCHED_LINEAR, 1000, 3, 0, 1000, 9);
  trainer_init(&b, pm, &ds, &oc, SCHED_LINEAR, 1000, 3, 0, 1000, 9);
  b.use_graph = 0;
  trainer_set_teacher(&a, rt, 0.5f);
  trainer_set_teacher(&b, pt, 0.5f);
  for (int s = 0; s < 5; s++) {
    if (s == 3) {  // the teacher's arena moves, the student's does not
      const unsigned gen = rt->arena->gen, sgen = rm->arena->gen;
      ASSERT_EQ_INT(a.graph_captures, 1);
      float *x = rbe->alloc(rbe, (size_t)12 * IMG), *out;
      const int t[12] = {0};
      unet_forward(rt, x, t, 12, &out);
      rbe->free(rbe, x);
      ASSERT(rt->arena->gen != gen && rm->arena->gen == sgen);
    }
    float la = trainer_step(&a, NULL, NULL), lb = trainer_step(&b, NULL, NULL);
    ASSERTF(la == lb && isfinite(la), "step %d: loss %.9g recorded, %.9g direct", s, la, lb);
  }
  ASSERT_EQ_INT(a.graph_captures, 2);
  ASSERT_EQ_INT(a.graph_launches, 5);
  ASSERT_EQ_INT(b.graph_launches, 0);
  float *wa = host_copy(rbe, rm->w, rm->size), *wb = host_copy(pbe, pm->w, pm->size);
  ASSERT(!memcmp(wa, wb, sizeof(float) * rm->size));
  ASSERTF(st->violations == 0, "%d refused calls during capture, first: %s", st->violations, st->first_violation);
  ASSERT_EQ_INT(st->freed_touched, 0);
  free(wa); free(wb);
  trainer_free(&a); trainer_free(&b);
  unet_free(rm); unet_free(pm); unet_free(rt); unet_free(pt);
  data_free(&ds);
  rbe->destroy(rbe); pbe->destroy(pbe);
}

// Distilled training resumes bit for bit: N steps straight equal K steps, a checkpoint, and
// N - K more on a trainer rebuilt from it with the teacher set again (the teacher draws nothing
// from the Rng and runs the same forward on the same batch).
TEST(distill_resume_is_bit_exact) {
  Backend *be = backend_cpu_ref_create();
  // the default init: test_randomize also fills the padding between tensors, which no checkpoint keeps
  UNet *a = test_tiny_unet(be, NULL), *b = test_tiny_unet(be, NULL), *te = test_tiny_random(be, 52, 0.1f);
  unet_init_params(a, 51);
  unet_init_params(b, 51);
  Dataset ds = test_random_data(5, 4);
  OptimCfg oc = optim_defaults();
  enum { N = 5, K = 2, B = 2 };
  float straight[N], resumed[N];
  Trainer ta, tb, tc;
  trainer_init(&ta, a, &ds, &oc, SCHED_LINEAR, 1000, B, 200, 700, 13);
  trainer_set_teacher(&ta, te, 0.6f);
  for (int i = 0; i < N; i++) straight[i] = trainer_step(&ta, NULL, NULL);
  trainer_init(&tb, b, &ds, &oc, SCHED_LINEAR, 1000, B, 200, 700, 13);
  trainer_set_teacher(&tb, te, 0.6f);
  for (int i = 0; i < K; i++) resumed[i] = trainer_step(&tb, NULL, NULL);
  Err e;
  ASSERTF(test_resume(&tb, "distill-resume.safetensors", &tc, &e) == 0, "%s", e.msg);  // with te again
  UNet *c = tc.model;
  for (int i = K; i < N; i++) resumed[i] = trainer_step(&tc, NULL, NULL);
  for (int i = 0; i < N; i++) ASSERTF(straight[i] == resumed[i], "step %d: %.9g vs %.9g", i, straight[i], resumed[i]);
  float *wa = host_copy(be, a->w, a->size), *wc = host_copy(be, c->w, c->size);
  size_t nd = 0, first = 0;
  for (size_t i = 0; i < a->size; i++) if (wa[i] != wc[i]) { if (!nd) first = i; nd++; }
  ASSERTF(nd == 0, "%zu of %zu weights differ, first %zu: %.9g vs %.9g", nd, a->size, first, wa[first], wc[first]);
  free(wa); free(wc);
  trainer_free(&ta); trainer_free(&tc);
  unet_free(a); unet_free(c); unet_free(te);
  data_free(&ds);
  be->destroy(be);
}

static long sum(const long *v, int n) {
  long s = 0;
  for (int i = 0; i < n; i++) s += v[i];
  return s;
}

TEST(budget_by_gap_splits_exactly) {
  long st[6];
  // in proportion above the 5 % floors, summing to the total
  const double gap[4] = {0.1, 0.3, 0.0, 0.6};
  budget_by_gap(gap, 4, 1000, 0.05, st);
  ASSERT_EQ_INT(sum(st, 4), 1000);
  ASSERT_EQ_INT(st[0], 50 + 80);
  ASSERT_EQ_INT(st[1], 50 + 240);
  ASSERT_EQ_INT(st[2], 50);
  ASSERT_EQ_INT(st[3], 50 + 480);
  // remainders: the sum stays exact and every group keeps its floor (ceil(5 % of 997) = 50)
  const double odd[5] = {0.013, 0.27, NAN, -1, 0.07};
  budget_by_gap(odd, 5, 997, 0.05, st);
  ASSERT_EQ_INT(sum(st, 5), 997);
  for (int i = 0; i < 5; i++) ASSERTF(st[i] >= 50, "group %d: %ld steps", i, st[i]);
  ASSERT_EQ_INT(st[2], 50);  // NAN and negative gaps count as none
  ASSERT_EQ_INT(st[3], 50);
  // equal gaps, or all zero: equal shares
  const double same[3] = {0.2, 0.2, 0.2}, none[3] = {0, 0, 0};
  budget_by_gap(same, 3, 300, 0.05, st);
  ASSERT(st[0] == 100 && st[1] == 100 && st[2] == 100);
  budget_by_gap(none, 3, 301, 0.05, st);
  ASSERT_EQ_INT(sum(st, 3), 301);
  ASSERT(st[0] == 101 && st[1] == 100 && st[2] == 100);  // the one left over to the first
  // floors that cannot all fit (30 groups at 5 %): equal
  double many[30] = {0};
  long big[30];
  many[7] = 1;
  budget_by_gap(many, 30, 60, 0.05, big);
  ASSERT_EQ_INT(sum(big, 30), 60);
  for (int i = 0; i < 30; i++) ASSERT_EQ_INT(big[i], 2);
  // one group with a gap among zeros: the others at their floors, it the rest
  const double one[3] = {0, 0, 0.4};
  budget_by_gap(one, 3, 200, 0.05, st);
  ASSERT(st[0] == 10 && st[1] == 10 && st[2] == 180);
}

// ---- the CLI: stepscope finetune --distill W --steps-by loss --budget N ----

#define run(r, ...) cli_run(r, cli_bin("stepscope"), __VA_ARGS__)

// train (tiny, 30 steps) -> plan (3 groups) -> prune -> finetune --distill 0.5 --steps-by loss
// --budget 15: the allocation table comes first and sums to the budget, each fine-tune has taken
// its steps and records distill and teacher; the same command again (every group now a fine-tune
// with training state) measures the same pruned models and prints the same allocation; bad
// values of the new options are usage errors.
TEST(distill_cli_finetune_steps_by_loss) {
  if (!cli_have("stepscope")) return;
  const char *dir = test_tmpdir(), *dev = "--device cpu --threads 1";
  char m[300], plan[300];
  snprintf(m, sizeof m, "%s/distill-m.safetensors", dir);
  snprintf(plan, sizeof plan, "%s/distill.plan", dir);
  CliResult *r = xmalloc(sizeof *r);
  run(r, "train --config tiny --steps 30 --batch 16 --out %s %s --quiet", m, dev);
  if (r->status) { test_skip("no training data for the test model"); free(r); return; }
  run(r, "plan --model %s --groups 3 --k 0.5 --rounds 2 --calib 32 --out %s", m, plan);
  ASSERTF(r->status == 0, "plan: %s", r->err);
  run(r, "prune --plan %s %s --quiet", plan, dev);
  ASSERTF(r->status == 0, "prune: %s", r->err);

  run(r, "finetune --plan %s --distill 2 %s", plan, dev);
  ASSERT_EQ_INT(r->status, 2);
  ASSERTF(strstr(r->err, "--distill"), "%s", r->err);
  run(r, "finetune --plan %s --steps-by time %s", plan, dev);
  ASSERT_EQ_INT(r->status, 2);
  run(r, "finetune --plan %s --steps 4 --budget 12 %s", plan, dev);
  ASSERT_EQ_INT(r->status, 2);
  run(r, "finetune --help");
  ASSERTF(strstr(r->out, "--distill") && strstr(r->out, "--steps-by") && strstr(r->out, "--budget"), "%s", r->out);

  const char *ft = "--distill 0.5 --steps-by loss --budget 15 --gap-n 16 --batch 4 --quiet";
  run(r, "finetune --plan %s %s %s", plan, ft, dev);
  ASSERTF(r->status == 0, "finetune: %s", r->err);
  const char *table = strstr(r->out, "steps by loss gap");
  ASSERTF(table, "no allocation table in: %s", r->out);
  char first[sizeof r->out];
  snprintf(first, sizeof first, "%s", table);
  long total = 0, steps[3];
  for (int j = 0; j < 3; j++) {
    char tag[8];
    snprintf(tag, sizeof tag, "\ng%d ", j);
    const char *row = strstr(table, tag);
    ASSERTF(row, "no row for g%d in: %s", j, table);
    const char *nl = strchr(row + 1, '\n'), *end = nl ? nl : row + strlen(row);
    const char *p = end;
    while (p > row && p[-1] != ' ') p--;
    steps[j] = strtol(p, NULL, 10);
    ASSERTF(steps[j] >= 1, "g%d: %ld steps (at least 5 %% of 15)", j, steps[j]);
    total += steps[j];
  }
  ASSERT_EQ_INT(total, 15);

  Plan p;
  Err e;
  ASSERTF(plan_load(plan, &p, &e) == 0, "%s", e.msg);
  for (int j = 0; j < 3; j++) {
    ASSERTF(strstr(p.g[j].model, ".ft."), "g%d: %s", j, p.g[j].model);
    char *d = ckpt_meta(p.g[j].model, "distill", &e), *t = ckpt_meta(p.g[j].model, "teacher", &e);
    char *st = ckpt_meta(p.g[j].model, "step", &e);
    ASSERTF(d && !strcmp(d, "0.5"), "g%d: distill '%s'", j, d ? d : "(none)");
    ASSERTF(t && !strcmp(t, p.base), "g%d: teacher '%s', base '%s'", j, t ? t : "(none)", p.base);
    ASSERTF(st && atol(st) == steps[j], "g%d: step %s, allocated %ld", j, st ? st : "?", steps[j]);
    free(d); free(t); free(st);
  }
  // again: nothing left to do, the same allocation (measured on the pruned parents)
  run(r, "finetune --plan %s %s %s", plan, ft, dev);
  ASSERTF(r->status == 0, "finetune again: %s", r->err);
  ASSERTF((table = strstr(r->out, "steps by loss gap")) && !strcmp(table, first), "first:\n%s\nagain:\n%s", first,
          r->out);
  // another weight on resume: said, and used
  run(r, "finetune --plan %s --group 1 --distill 0.25 --budget %ld %s", plan, steps[1] + 1, dev);
  ASSERTF(r->status == 0, "finetune --distill 0.25: %s", r->err);
  ASSERTF(strstr(r->err, "--distill 0.5 so far"), "%s", r->err);
  char *d = ckpt_meta(p.g[1].model, "distill", &e);
  ASSERTF(d && !strcmp(d, "0.25"), "distill '%s'", d ? d : "(none)");
  free(d);
  free(r);
}
