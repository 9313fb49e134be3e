// prune_worker.c — the Prune view's worker: the proxy search that prunes the base model
// for a group (importance, R proposals scored by the proxy loss, the memory bank) and the
// fine-tune of a group model on its own timesteps, with the same engine calls and the same
// files as `stepscope prune` and `stepscope finetune`. It runs on the job's thread and
// reports through the Prune state under the job's mutex; prune_view_finetune() runs the
// same code on the calling thread, for the tests.
#include "engine/sat/finetune.h"
#include "engine/sat/search.h"
#include "tui/explorer/views/prune.h"
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

// ---- paths, as the CLI makes them ----

// <plan folder>/<plan file name without extension>.g<j>.safetensors
static int model_path(char *out, size_t cap, const char *plan_path, int j) {
  char tmp[PATH_MAX], name[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", plan_path);
  snprintf(name, sizeof name, "%s", basename(tmp));
  char *dot = strrchr(name, '.');
  if (dot && dot != name) *dot = 0;
  snprintf(tmp, sizeof tmp, "%s", plan_path);
  const char *dir = dirname(tmp);
  int n = strcmp(dir, ".") ? snprintf(out, cap, "%s/%s.g%d.safetensors", dir, name, j)
                           : snprintf(out, cap, "%s.g%d.safetensors", name, j);
  return n > 0 && n < (int)cap ? 0 : -1;
}

// "x.g2.safetensors" -> "x.g2.ft.safetensors"
static int ft_path(char *out, size_t cap, const char *pruned) {
  const char *ext = ".safetensors";
  size_t n = strlen(pruned), ne = strlen(ext);
  int k = n > ne && !strcmp(pruned + n - ne, ext) ? snprintf(out, cap, "%.*s.ft%s", (int)(n - ne), pruned, ext)
                                                  : snprintf(out, cap, "%s.ft", pruned);
  return k > 0 && k < (int)cap ? 0 : -1;
}

// ---- the worker ----

typedef struct {
  Prune *s;
  Backend *be;
  UNet *base;
  Schedule sched;
  Dataset test, train;
  int have_test, have_train;
  Calib calib;
} Ctx;

static void task_done(Prune *s, Task *t, TaskState state, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void task_done(Prune *s, Task *t, TaskState state, const char *fmt, ...) {
  job_lock(&s->job);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->result, sizeof t->result, fmt, ap);
  va_end(ap);
  t->state = state;
  t->secs = now_sec() - t->t_start;
  job_unlock(&s->job);
  job_wake(&s->job);
}

static void report(void *ctx, const Bank *b, const BankEntry *x) {
  Prune *s = ctx;
  job_lock(&s->job);
  if (s->nrounds < MAX_ROUNDS) {
    Round *r = &s->round[s->nrounds++];
    *r = (Round){x->round, x->score, x->macs_ratio, ""};
    snprintf(r->skipped, sizeof r->skipped, "%.150s", x->skipped);
  }
  s->best = b->best >= 0 ? b->e[b->best].round : -1;
  job_unlock(&s->job);
  int R = s->plan.rounds > 0 ? s->plan.rounds : 1;
  job_progress(&s->job, (s->cur + 0.1 + 0.9 * x->round / R) / s->ntasks, "prune group i=%d: round %d/%d",
               s->plan.ngroups - s->round_group, x->round, R);
}

static int need_test(Ctx *c, Err *e) {
  if (c->have_test) return 0;
  if (data_load(c->s->data, DATA_TEST, &c->test, e)) return -1;
  c->have_test = 1;
  calib_init(&c->calib, &c->test, c->s->plan.calib_n, c->s->plan.seed);
  return 0;
}

static int search_cancelled(void *ctx) { return job_cancelled(&((Prune *)ctx)->job); }

static void run_prune(Ctx *c, Task *t) {
  Prune *s = c->s;
  const Plan *p = &s->plan;
  const PlanGroup *g = &p->g[t->group];
  Err e;
  char path[512];
  if (model_path(path, sizeof path, s->plan_path, t->group)) { task_done(s, t, T_FAILED, "the model path is too long for a plan"); return; }
  job_progress(&s->job, (double)s->cur / s->ntasks, "prune group i=%d: loading calibration data", p->ngroups - t->group);
  if (need_test(c, &e)) { task_done(s, t, T_FAILED, "%s", e.msg); return; }
  Criterion crit;
  if (criterion_parse(p->criterion, &crit)) crit = CRIT_TAYLOR;
  ImpCfg ic = imp_defaults(g->ratio >= 1 ? CRIT_MAGNITUDE : crit, g->t0, g->t1);  // full size: nothing to rank
  ic.seed = p->seed;
  JobSpan span = {&s->job, (s->cur + 0.05) / s->ntasks, (s->cur + 0.5) / s->ntasks};
  ic.watch = job_watch(&span);
  job_progress(&s->job, (s->cur + 0.05) / s->ntasks, "prune group i=%d: %s importance", p->ngroups - t->group, criterion_name(ic.crit));
  Importance imp;
  if (importance_compute(c->base, &c->sched, &c->calib, &ic, &imp, &e)) {
    task_done(s, t, job_cancelled(&s->job) ? T_CANCELLED : T_FAILED, "%s", e.msg);
    return;
  }
  if (job_cancelled(&s->job)) { importance_free(&imp); task_done(s, t, T_CANCELLED, "cancelled"); return; }
  SearchCfg sc = search_defaults(g->ratio, g->t0, g->t1);
  sc.rounds = g->ratio >= 1 ? 1 : p->rounds;
  sc.proposer = p->proposer;
  sc.seed = p->seed + (uint64_t)t->group;
  sc.report = report;
  sc.cancelled = search_cancelled;
  sc.ctx = s;
  job_lock(&s->job);
  s->nrounds = 0, s->best = -1, s->round_group = t->group;
  job_unlock(&s->job);
  Bank bank;
  UNet *m = search_run(c->base, &c->sched, &c->calib, &imp, &sc, &bank, &e);
  importance_free(&imp);
  if (!m) { bank_free(&bank); task_done(s, t, job_cancelled(&s->job) ? T_CANCELLED : T_FAILED, "%s", e.msg); return; }
  if (search_save(path, m, p, g, s->base, ic.crit, sc.proposer, &bank, s->data, &e)) {
    task_done(s, t, T_FAILED, "%s", e.msg);
  } else {
    job_lock(&s->job);
    snprintf(t->model, sizeof t->model, "%s", path);
    job_unlock(&s->job);
    const BankEntry *best = &bank.e[bank.best];
    task_done(s, t, T_DONE, "%.3f× MACs · proxy %.4f (uniform %.4f) · round %d/%d", unet_macs(m) / unet_macs(c->base),
              best->score, bank.e[0].score, best->round, bank.n);
  }
  unet_free(m);
  bank_free(&bank);
}

// The model a fine-tune of group j starts from: this run's prune of it, else the plan's.
static const char *ft_source(Prune *s, int j, char *buf, size_t cap) {
  for (int k = s->ntasks - 1; k >= 0; k--)
    if (s->task[k].kind == TASK_PRUNE && s->task[k].group == j && s->task[k].state == T_DONE) return s->task[k].model;
  snprintf(buf, cap, "%s", s->plan.g[j].model);
  return buf[0] ? buf : NULL;
}

static void gap_progress(void *ctx, double frac) {
  Prune *s = ctx;
  job_progress(&s->job, (double)s->cur / s->ntasks, "fine-tune: measuring the pruned models' loss gaps, %d/%d groups",
               (int)lround(frac * s->plan.ngroups), s->plan.ngroups);
}

// The steps of every group's fine-tune, once per run (on the worker): the budget over all the
// plan's groups, equally or — steps by loss — in proportion to how far each pruned model's loss
// on its timesteps lies above the base model's (at least 5 % each), measured as `stepscope
// finetune --steps-by loss` measures. Returns 1, or -1 with alloc_err.
static int allocate(Ctx *c) {
  Prune *s = c->s;
  const Plan *p = &s->plan;
  job_lock(&s->job);
  int state = s->alloc_state;
  job_unlock(&s->job);
  if (state) return state;
  long steps[PLAN_MAX_GROUPS];
  double gap[PLAN_MAX_GROUPS];
  char why[640] = "";
  for (int j = 0; j < p->ngroups; j++) gap[j] = NAN;
  if (!s->by_loss) {
    finetune_steps_equal(p->ngroups, s->budget, steps);
  } else {
    static char buf[PLAN_MAX_GROUPS][512];  // one worker at a time
    const char *models[PLAN_MAX_GROUPS];
    for (int j = 0; j < p->ngroups && !why[0]; j++)
      if (!(models[j] = ft_source(s, j, buf[j], sizeof buf[j])))
        snprintf(why, sizeof why, "steps by loss: group i=%d has no model yet: prune every group first (P), or "
                 "spread the steps equally (l)", p->ngroups - j);
    Err e;
    if (!why[0]) {
      job_progress(&s->job, (double)s->cur / s->ntasks, "fine-tune: loading %s to measure the loss gaps", s->data);
      if (need_test(c, &e)) snprintf(why, sizeof why, "%s", e.msg);
      else if (c->test.c != c->base->cfg.in_ch || c->test.h != c->base->cfg.img || c->test.w != c->base->cfg.img)
        snprintf(why, sizeof why, "%s: images are %dx%dx%d, the model takes %dx%dx%d", s->data, c->test.c, c->test.h,
                 c->test.w, c->base->cfg.in_ch, c->base->cfg.img, c->base->cfg.img);
    }
    if (!why[0]) {
      FinetuneShare sh[PLAN_MAX_GROUPS];
      Watch w = {search_cancelled, gap_progress, s};
      gap_progress(s, 0);
      if (finetune_steps_by_loss(c->base, &c->sched, &c->test, FINETUNE_GAP_N, p, 0, p->ngroups, models, s->budget, w,
                                 sh, NULL, &e))
        snprintf(why, sizeof why, "%s", e.msg);
      else
        for (int j = 0; j < p->ngroups; j++) steps[j] = sh[j].steps, gap[j] = sh[j].gap;
    }
  }
  job_lock(&s->job);
  if (why[0]) {
    s->alloc_state = -1;
    snprintf(s->alloc_err, sizeof s->alloc_err, "%s", why);
  } else {
    s->alloc_state = 1;
    memcpy(s->alloc_steps, steps, sizeof(long) * (size_t)p->ngroups);
    memcpy(s->alloc_gap, gap, sizeof(double) * (size_t)p->ngroups);
  }
  state = s->alloc_state;
  job_unlock(&s->job);
  job_wake(&s->job);
  return state;
}

static void run_finetune(Ctx *c, Task *t) {
  Prune *s = c->s;
  const Plan *p = &s->plan;
  const PlanGroup *g = &p->g[t->group];
  Err e;
  char buf[512], out[512];
  const char *src = ft_source(s, t->group, buf, sizeof buf);
  if (!src) { task_done(s, t, T_FAILED, "no model to fine-tune: prune the group first (p)"); return; }
  if (allocate(c) < 0) {
    task_done(s, t, job_cancelled(&s->job) ? T_CANCELLED : T_FAILED, "%s", s->alloc_err);
    return;
  }
  if (!c->have_train) {
    job_progress(&s->job, (double)s->cur / s->ntasks, "fine-tune group i=%d: loading %s", p->ngroups - t->group, s->data);
    if (data_load(s->data, DATA_TRAIN, &c->train, &e)) { task_done(s, t, T_FAILED, "%s", e.msg); return; }
    c->have_train = 1;
  }
  CkptInfo info;
  UNet *probe = ckpt_load_model(src, c->be, 1, &info, &e);
  if (!probe) { task_done(s, t, T_FAILED, "%s", e.msg); return; }
  unet_free(probe);
  // a model with training state is a fine-tune in progress: continue it in place
  const int resume = info.has_train_state;
  if (resume) snprintf(out, sizeof out, "%s", src);
  else if (ft_path(out, sizeof out, src)) { task_done(s, t, T_FAILED, "the fine-tune's path is too long for a plan"); return; }
  UNet *m = ckpt_load_model(src, c->be, !resume, NULL, &e);
  if (!m) { task_done(s, t, T_FAILED, "%s", e.msg); return; }
  OptimCfg oc = optim_defaults();
  Trainer tr;
  trainer_init(&tr, m, &c->train, &oc, p->schedule, p->T, s->batch, g->t0, g->t1, p->seed ^ (0xf17e + (uint64_t)t->group));
  if (resume && ckpt_load_train_state(src, &tr, &e)) {
    trainer_free(&tr);
    unet_free(m);
    task_done(s, t, T_FAILED, "%s", e.msg);
    return;
  }
  // the base model as the teacher: loaded by this worker on its own (its own arena), EMA weights
  trainer_set_teacher(&tr, c->base, (float)s->distill);
  const double was_w = resume ? finetune_recorded_distill(src) : s->distill;
  const int steps = (int)s->alloc_steps[t->group];
  job_lock(&s->job);
  s->nloss = 0, s->ft_group = t->group, s->ft_step = tr.opt.step, s->ft_steps = steps;
  job_unlock(&s->job);
  const char *parent = resume ? (info.parent[0] ? info.parent : src) : src;
  FinetuneMeta meta;  // what `stepscope finetune` records: parent, ratio, base, distill, teacher
  const char *const *extra = finetune_meta(&meta, parent, g->ratio, s->base, s->distill);
  char wnote[48] = "";
  if (s->distill > 0 || was_w > 0)
    snprintf(wnote, sizeof wnote, fabs(was_w - s->distill) > 1e-6 ? " · W %.2g (was %.2g)" : " · W %.2g", s->distill,
             was_w);
  double ema = -1;
  int saved_ok = 1;
  while (tr.opt.step < steps && !job_cancelled(&s->job)) {
    float loss = trainer_step(&tr, NULL, NULL);
    ema = ema < 0 ? loss : 0.98 * ema + 0.02 * loss;
    job_lock(&s->job);
    if (s->nloss == s->loss_cap) s->loss_cap = s->loss_cap ? 2 * s->loss_cap : 1024, s->loss = xrealloc(s->loss, sizeof(float) * (size_t)s->loss_cap);
    s->loss[s->nloss++] = (float)ema;
    s->ft_step = tr.opt.step;
    job_unlock(&s->job);
    if (tr.opt.step % 5 == 0 || tr.opt.step == steps)
      job_progress(&s->job, (s->cur + (double)tr.opt.step / (steps ? steps : 1)) / s->ntasks,
                   "fine-tune group i=%d: step %d/%d · loss %.4f", p->ngroups - t->group, tr.opt.step, steps, ema);
    if (tr.opt.step % SAVE_EVERY == 0 && tr.opt.step < steps && ckpt_save(out, m, &tr, s->data, extra, &e)) { saved_ok = 0; break; }
  }
  // saved at the end and on cancel (resumable: f continues it)
  if (saved_ok && ckpt_save(out, m, &tr, s->data, extra, &e)) saved_ok = 0;
  if (!saved_ok) task_done(s, t, T_FAILED, "%s", e.msg);
  else {
    job_lock(&s->job);
    snprintf(t->model, sizeof t->model, "%s", out);
    job_unlock(&s->job);
    task_done(s, t, job_cancelled(&s->job) ? T_CANCELLED : T_DONE, "%sstep %d/%d · loss %.4f%s",
              job_cancelled(&s->job) ? "saved, resumable · " : "", tr.opt.step, steps, ema, wnote);
  }
  trainer_free(&tr);
  unet_free(m);
}

void prune_work(Job *job) {
  Prune *s = job->arg;
  Err e;
  Ctx c = {.s = s};
  c.be = backend_create(s->device, s->threads, &e);
  if (!c.be) { job_fail(job, "%s", e.msg); return; }
  c.base = ckpt_load_model(s->base, c.be, 1, NULL, &e);
  if (!c.base) { job_fail(job, "%s", e.msg); c.be->destroy(c.be); return; }
  schedule_init(&c.sched, s->plan.schedule, s->plan.T);
  for (int k = 0; k < s->ntasks; k++) {
    Task *t = &s->task[k];
    job_lock(job);
    s->cur = k;
    t->state = T_RUNNING;
    t->t_start = now_sec();
    job_unlock(job);
    if (job_cancelled(job)) { task_done(s, t, T_CANCELLED, "cancelled"); continue; }
    if (t->kind == TASK_PRUNE) run_prune(&c, t);
    else run_finetune(&c, t);
  }
  schedule_free(&c.sched);
  if (c.have_test) calib_free(&c.calib), data_free(&c.test);
  if (c.have_train) data_free(&c.train);
  unet_free(c.base);
  c.be->destroy(c.be);
}

// ---- a run's inputs and its queue (set on the UI thread, before the job starts) ----

// A run's inputs: the plan (its models resolved), the files and the fine-tune settings.
void prune_setup(Prune *s, const Plan *p, const char *plan_path, const char *base, const char *data,
                       const char *device, int threads, double distill, int by_loss, long budget) {
  s->plan = *p;
  snprintf(s->plan_path, sizeof s->plan_path, "%s", plan_path);
  snprintf(s->base, sizeof s->base, "%s", base);
  snprintf(s->data, sizeof s->data, "%s", data);
  snprintf(s->device, sizeof s->device, "%s", device);
  s->threads = threads, s->batch = FT_BATCH;
  s->distill = distill, s->by_loss = by_loss, s->budget = budget;
  s->ntasks = 0, s->applied = 0, s->nrounds = 0, s->nloss = 0, s->cur = 0;
  s->alloc_state = 0, s->alloc_err[0] = 0;
}

// Prunes, then fine-tunes, of groups [lo, hi), each in sampling order (the noisiest first).
void prune_add_tasks(Prune *s, int prune, int finetune, int lo, int hi) {
  const Plan *p = &s->plan;
  for (int k = 0; k < 2; k++) {
    if ((k == 0 && !prune) || (k == 1 && !finetune)) continue;
    for (int j = hi - 1; j >= lo; j--)
      s->task[s->ntasks++] = (Task){k ? TASK_FINETUNE : TASK_PRUNE, j, p->g[j].t0, p->g[j].t1, T_PENDING, "", "", 0, 0};
  }
}

int prune_view_finetune(const char *plan_path, const char *data, const char *device, int threads, int batch,
                        double distill, int by_loss, long budget, PruneRunResult *r) {
  memset(r, 0, sizeof *r);
  Plan p;
  Err e;
  if (plan_load(plan_path, &p, &e)) { snprintf(r->error, sizeof r->error, "%s", e.msg); return -1; }
  Prune *s = calloc(1, sizeof *s);
  job_init(&s->job, "prune/fine-tune", -1);
  prune_setup(s, &p, plan_path, p.base, data, device, threads, distill, by_loss, budget > 0 ? budget : (long)p.finetune_steps * p.ngroups);
  if (batch > 0) s->batch = batch;
  prune_add_tasks(s, 0, 1, 0, p.ngroups);
  s->job.arg = s;
  prune_work(&s->job);  // the worker's own function, on this thread
  int rc = s->job.error[0] ? -1 : 0;
  if (rc) snprintf(r->error, sizeof r->error, "%s", s->job.error);
  r->ngroups = p.ngroups;
  for (int j = 0; j < p.ngroups; j++) r->steps[j] = s->alloc_steps[j], r->gap[j] = s->alloc_gap[j];
  for (int k = 0; k < s->ntasks; k++) {
    const Task *t = &s->task[k];
    snprintf(r->model[t->group], sizeof r->model[t->group], "%s", t->model);
    snprintf(r->result[t->group], sizeof r->result[t->group], "%s", t->result);
    if (t->state != T_DONE && !rc) {
      rc = -1;
      snprintf(r->error, sizeof r->error, "group i=%d: %s", p.ngroups - t->group, t->result);
    }
  }
  job_destroy(&s->job);
  free(s->loss);
  free(s);
  return rc;
}
