// prune.c — view 4: make the plan's group models. A worker runs a queue of tasks — the
// proxy search that prunes the base model for a group (importance, R proposals scored by
// the proxy loss, the memory bank), and the fine-tune of a group model on its own
// timesteps — with the same engine calls and the same files as `stepscope prune` and
// `stepscope finetune`. The bank's rounds and the fine-tune loss appear as they arrive;
// each finished model is put into the plan (and the plan file saved) by the UI thread.
// A fine-tune job may distil from the base model (W) and spreads a total step budget over
// the groups, equally or by each pruned model's loss gap, as `stepscope finetune --distill W
// --steps-by equal|loss --budget N` does.
#include "engine/json.h"
#include "engine/sat/finetune.h"
#include "engine/sat/search.h"
#include "tui/explorer/app.h"
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_TASKS = 2 * PLAN_MAX_GROUPS, MAX_ROUNDS = 256, SAVE_EVERY = 500, FT_BATCH = 64 };
typedef enum { TASK_PRUNE, TASK_FINETUNE } TaskKind;
typedef enum { T_PENDING, T_RUNNING, T_DONE, T_FAILED, T_CANCELLED } TaskState;

typedef struct {
  TaskKind kind;
  int group;            // plan index
  int t0, t1;           // the group's range when the task was queued
  TaskState state;
  char model[512];      // the model it wrote ("" when none)
  char result[256];     // one line
  double t_start, secs;
} Task;

typedef struct { int round; double score, macs; char skipped[160]; } Round;

// A memory bank read back from its file (<pruned model>.bank.json).
typedef struct {
  char path[PATH_MAX];  // the file it came from ("" none)
  Round r[MAX_ROUNDS];
  int n, best;
} SavedBank;

typedef struct {
  Job job;
  SavedBank saved;      // the selected group's bank from its file, when not searching it now
  // the run's inputs (worker only)
  Plan plan;
  char plan_path[PATH_MAX], base[PATH_MAX], data[256], device[16];
  int threads, batch;   // batch: images per fine-tune step (FT_BATCH)
  double distill;       // fine-tune settings (explorer_set_finetune)
  int by_loss;
  long budget;          // over all the plan's groups
  // shared with the worker (under job.mu)
  Task task[MAX_TASKS];
  int ntasks, cur;
  Round round[MAX_ROUNDS];
  int nrounds, round_group, best;
  float *loss;          // fine-tune loss, smoothed, one per step
  int nloss, loss_cap, ft_step, ft_steps, ft_group;
  // the steps of each group's fine-tune, from the budget, once per run when its first
  // fine-tune starts: 0 not yet, 1 ready, -1 failed (alloc_err says why)
  int alloc_state;
  long alloc_steps[PLAN_MAX_GROUPS];
  double alloc_gap[PLAN_MAX_GROUPS];  // NAN: spread equally
  char alloc_err[640];
  // UI side
  int applied;          // tasks [0, applied) were put into the plan
  int save_when_done;
} Prune;

static Prune *st(App *a) {
  Prune *s = a->state[VIEW_PRUNE];
  if (s) return s;
  s = calloc(1, sizeof *s);
  job_init(&s->job, "prune/fine-tune", a->wake[1]);
  app_track_job(a, &s->job);
  a->state[VIEW_PRUNE] = s;
  return s;
}

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

static void work(Job *job) {
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

// ---- control (UI thread) ----

// A run's inputs: the plan (its models resolved), the files and the fine-tune settings.
static void setup(Prune *s, const Plan *p, const char *plan_path, const char *base, const char *data,
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
static void add_tasks(Prune *s, int prune, int finetune, int lo, int hi) {
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
  setup(s, &p, plan_path, p.base, data, device, threads, distill, by_loss, budget > 0 ? budget : (long)p.finetune_steps * p.ngroups);
  if (batch > 0) s->batch = batch;
  add_tasks(s, 0, 1, 0, p.ngroups);
  s->job.arg = s;
  work(&s->job);  // the worker's own function, on this thread
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

static void queue(App *a, int prune, int finetune, int all) {
  Prune *s = st(a);
  if (!a->base.ok) return;
  if (job_running(&s->job)) { app_msg(a, UI_WARN, "a job is running: c cancels it"); return; }
  if (!a->plan_path[0]) {
    app_msg(a, UI_WARN, "save the plan first (S): the group models are written next to the plan file");
    return;
  }
  job_reap(&s->job);
  const Plan *p = &a->ex.plan;
  const Explorer *ex = &a->ex;
  Plan run = *p;
  // group models named in the plan, resolved as the app found them
  for (int j = 0; j < p->ngroups; j++)
    if (a->group[j].ok) snprintf(run.g[j].model, sizeof run.g[j].model, "%s", a->group[j].path);
  setup(s, &run, a->plan_path, a->base.path,
        a->data_arg[0] ? a->data_arg : a->base.info.data[0] ? a->base.info.data : "fashion-mnist", a->device, a->threads,
        ex->ft_distill, ex->ft_by_loss, explorer_finetune_budget(ex));
  int lo = all ? 0 : a->ex.sel_group, hi = all ? p->ngroups : a->ex.sel_group + 1;
  add_tasks(s, prune, finetune, lo, hi);
  s->save_when_done = 1;
  job_start(&s->job, work, s);
}

// Puts finished models into the plan, in task order; saves the plan when the run is over.
static void tick(App *a) {
  Prune *s = a->state[VIEW_PRUNE];
  if (!s) return;
  int changed = 0;
  job_lock(&s->job);
  while (s->applied < s->ntasks && s->task[s->applied].state != T_PENDING && s->task[s->applied].state != T_RUNNING) {
    Task t = s->task[s->applied++];
    job_unlock(&s->job);
    if (t.model[0]) {
      const PlanGroup *g = t.group < a->ex.plan.ngroups ? &a->ex.plan.g[t.group] : NULL;
      if (!g || g->t0 != t.t0 || g->t1 != t.t1)
        app_msg(a, UI_WARN, "group [%d, %d) changed while its model was made: %s is saved but not put in the plan", t.t0, t.t1, t.model);
      else if (explorer_set_model(&a->ex, t.group, t.model) == 0)
        a->plan_gen++, changed = 1;
    }
    job_lock(&s->job);
  }
  JobState js = s->job.state;
  job_unlock(&s->job);
  if (changed) app_measure_groups(a);
  if (js != JOB_RUNNING && s->save_when_done && s->applied == s->ntasks) {
    s->save_when_done = 0;
    job_reap(&s->job);
    int made = 0;
    for (int k = 0; k < s->ntasks; k++) made += s->task[k].model[0] != 0;
    if (made && a->plan_path[0] && a->ex.modified) app_save_plan(a, a->plan_path);
    if (js == JOB_FAILED) {
      job_lock(&s->job);
      app_msg(a, UI_ERR, "%s", s->job.error);
      job_unlock(&s->job);
    }
  }
  if (a->view == VIEW_PRUNE && js == JOB_RUNNING) a->dirty = 1;
}

// ---- the bank of an earlier search, from its file ----

// "x.g2.ft.safetensors" or "x.g2.safetensors" -> "x.g2.safetensors.bank.json"
static void bank_path_of(const char *model, char *out, size_t cap) {
  const char *ft = ".ft.safetensors";
  size_t n = strlen(model), nf = strlen(ft);
  if (n > nf && !strcmp(model + n - nf, ft)) snprintf(out, cap, "%.*s.safetensors.bank.json", (int)(n - nf), model);
  else snprintf(out, cap, "%s.bank.json", model);
}

// Reads the bank beside the model (a few kilobytes: on the UI thread, once per file).
static void load_saved(SavedBank *b, const char *model) {
  char path[PATH_MAX];
  path[0] = 0;
  if (model[0]) bank_path_of(model, path, sizeof path);
  if (!strcmp(path, b->path)) return;
  memset(b, 0, sizeof *b);
  snprintf(b->path, sizeof b->path, "%s", path);
  b->best = -1;
  FILE *f = path[0] ? fopen(path, "rb") : NULL;
  if (!f) return;
  char *text = NULL;
  size_t len = 0, cap = 0, k;
  char buf[4096];
  while ((k = fread(buf, 1, sizeof buf, f)) > 0 && len < (1u << 24)) {
    if (len + k > cap) cap = (len + k) * 2, text = xrealloc(text, cap);
    memcpy(text + len, buf, k), len += k;
  }
  fclose(f);
  Json root;
  Err e;
  if (text && json_parse(text, len, &root, &e) == 0) {
    const Json *h = json_get(&root, "history");
    for (int i = 0; i < json_arr_len(h) && b->n < MAX_ROUNDS; i++) {
      const Json *x = json_at(h, i);
      Round *r = &b->r[b->n++];
      r->round = (int)json_num(json_get(x, "round"), i + 1);
      r->score = json_num(json_get(x, "score"), NAN);
      r->macs = json_num(json_get(x, "macs_ratio"), NAN);
      const char *sk = json_str(json_get(x, "skipped"));
      snprintf(r->skipped, sizeof r->skipped, "%.150s", sk ? sk : "");
    }
    b->best = (int)json_num(json_get(&root, "best_round"), -1);
    json_free(&root);
  }
  free(text);
}

// ---- drawing ----

static const char *const STATE_GLYPH[] = {"·", "▶", "✓", "✗", "■"};

// The fine-tune job's settings, one line: the budget (b, n), how it is spread (l), the
// distillation weight (d D). Values bright, keys dim.
static void draw_ft_settings(App *a, int y, int x, int w) {
  const Explorer *ex = &a->ex;
  const int x1 = x + w;
  char v[64];
  x += ui_text(y, x, x1 - x, ui_attr(UI_DIM), "fine-tune: ");
  if (ex->ft_distill > 0) x += ui_text(y, x, x1 - x, ui_attr(UI_ACCENT), "distill W=%.1f", ex->ft_distill);
  else x += ui_text(y, x, x1 - x, ui_attr(UI_TEXT), "distill W=0 (off)");
  x += ui_text(y, x, x1 - x, ui_attr(UI_DIM), " d D · ");
  x += ui_text(y, x, x1 - x, ui_attr(ex->ft_by_loss ? UI_ACCENT : UI_TEXT), "steps by %s", ex->ft_by_loss ? "loss" : "equal");
  x += ui_text(y, x, x1 - x, ui_attr(UI_DIM), " l · ");
  snprintf(v, sizeof v, "%ld steps", explorer_finetune_budget(ex));
  x += ui_text(y, x, x1 - x, ui_attr(UI_TEXT), "budget %s", v);
  if (ex->ft_budget > 0) ui_text(y, x, x1 - x, ui_attr(UI_DIM), " b");
  else ui_text(y, x, x1 - x, ui_attr(UI_DIM), " = %d × %d groups  b n", ex->plan.finetune_steps, ex->plan.ngroups);
}

static void draw_groups(App *a, Prune *s, Rect box) {
  const Explorer *ex = &a->ex;
  Rect in = ui_box(box, "group models", 1);
  Col cols[] = {{"i", 3, 1}, {"t range", 9, 0}, {"ratio", 5, 1}, {"model", 30, 0}, {"MACs", 6, 1}, {"params", 7, 1}};
  cols[3].w = in.w - 2 - ui_row_width(cols, 6) + cols[3].w;
  if (cols[3].w < 10) cols[3].w = 10;
  ui_row(in.y, in.x + 1, cols, 6, NULL, ui_attr(UI_DIM) | A_UNDERLINE);
  for (int j = 0; j < ex->plan.ngroups && j < in.h - 2; j++) {
    const GroupRow *g = &ex->row[j];
    const ModelMeta *m = &a->group[j];
    char c[6][96];
    snprintf(c[0], 96, "%d", g->index);
    snprintf(c[1], 96, "%d–%d", g->t0, g->t1 - 1);
    snprintf(c[2], 96, "%.2f", g->ratio);
    snprintf(c[3], 96, "%s", ex->plan.g[j].model[0] ? app_basename(ex->plan.g[j].model) : "— (the base model runs)");
    if (m->ok && a->base.macs > 0) snprintf(c[4], 96, "%.2f×", m->macs / a->base.macs);
    else snprintf(c[4], 96, "%s", ex->plan.g[j].model[0] ? "missing" : "");
    if (m->ok) ui_si(c[5], 96, (double)m->params);
    else c[5][0] = 0;
    const char *cells[6] = {c[0], c[1], c[2], c[3], c[4], c[5]};
    int sel = j == ex->sel_group, y = in.y + 1 + j;
    if (sel) ui_hline(y, in.x, in.w, ui_attr(UI_SEL), " ");
    ui_text(y, in.x, 1, ui_group_attr(j), "▌");
    ui_row(y, in.x + 1, cols, 6, cells, sel ? ui_attr(UI_SEL) : ui_attr(UI_TEXT));
  }
  const Plan *p = &ex->plan;
  if (in.h - 1 > p->ngroups + 1)
    ui_text(in.y + in.h - 1, in.x + 1, in.w - 2, ui_attr(UI_DIM), "search: %s · %d rounds (R) · %s proposer · %d calib images",
            p->criterion, p->rounds, p->proposer, p->calib_n);
}

static void draw_bank(App *a, Prune *s, Rect box) {
  // this run's rounds while it searches the selected group (or searched it last),
  // else the selected group's bank from its file
  job_lock(&s->job);
  int n = s->nrounds, best = s->best, grp = s->round_group;
  static Round r[MAX_ROUNDS];
  memcpy(r, s->round, sizeof(Round) * (size_t)n);
  job_unlock(&s->job);
  const int sel = a->ex.sel_group;
  const char *from = "";
  if (!n || grp != sel) {
    load_saved(&s->saved, a->group[sel].ok ? a->group[sel].path : "");
    n = s->saved.n, best = s->saved.best, grp = sel, from = " · saved";
    memcpy(r, s->saved.r, sizeof(Round) * (size_t)n);
  }
  char title[96];
  if (n) snprintf(title, sizeof title, "memory bank · group i=%d%s", a->ex.plan.ngroups - grp, from);
  else snprintf(title, sizeof title, "memory bank");
  Rect in = ui_box(box, title, 0);
  if (!n) {
    static const char *const intro[] = {
      "The proxy search's rounds, as they arrive.", "Each round: a proposal of per-layer widths,",
      "pruned to the group's MACs and scored by", "the loss on the group's own timesteps", "(lower is better). Round 1 is uniform.",
    };
    for (int k = 0; k < 5 && k < in.h; k++) ui_text(in.y + k, in.x + 1, in.w - 2, ui_attr(UI_DIM), "%s", intro[k]);
    return;
  }
  ui_text(in.y, in.x + 1, in.w - 2, ui_attr(UI_DIM) | A_UNDERLINE, "%5s  %-9s %7s  %s", "round", "proxy", "MACs", "");
  double lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < n; k++)
    if (isfinite(r[k].score)) lo = fmin(lo, r[k].score), hi = fmax(hi, r[k].score);
  int first = n > in.h - 1 ? n - (in.h - 1) : 0;
  for (int k = first; k < n; k++) {
    int y = in.y + 1 + k - first;
    if (r[k].skipped[0]) { ui_text(y, in.x + 1, in.w - 2, ui_attr(UI_WARN), "%5d  skipped: %s", r[k].round, r[k].skipped); continue; }
    int is_best = r[k].round == best;
    int x = in.x + 1;
    x += ui_text(y, x, in.w - 2, is_best ? ui_attr(UI_ACCENT) : ui_attr(UI_TEXT), "%5d  %-9.5f %6.3f×  ", r[k].round, r[k].score, r[k].macs);
    // lower proxy: longer bar
    double f = hi > lo ? 1 - 0.8 * (r[k].score - lo) / (hi - lo) : 1;
    int bw = in.x + in.w - x - 8;
    if (bw > 4) ui_bar(y, x, bw, f, is_best ? ui_attr(UI_ACCENT) : ui_attr(UI_DIM));
    if (is_best) ui_text(y, in.x + in.w - 7, 6, ui_attr(UI_ACCENT), " best");
    else if (r[k].round == 1) ui_text(y, in.x + in.w - 8, 7, ui_attr(UI_DIM), "uniform");
  }
}

static void draw_job(App *a, Prune *s, Rect box) {
  Rect in = ui_box(box, "jobs", 1);
  job_lock(&s->job);
  JobState js = s->job.state;
  double prog = s->job.progress;
  char status[200];
  snprintf(status, sizeof status, "%s", s->job.status);
  int nt = s->ntasks, cur = s->cur;
  Task task[MAX_TASKS];
  memcpy(task, s->task, sizeof(Task) * (size_t)nt);
  int nl = s->nloss;
  float *loss = nl ? xmalloc(sizeof(float) * (size_t)nl) : NULL;
  if (nl) memcpy(loss, s->loss, sizeof(float) * (size_t)nl);
  int ft_step = s->ft_step, ft_steps = s->ft_steps, alloc = s->alloc_state;
  long alloc_steps[PLAN_MAX_GROUPS];
  double alloc_gap[PLAN_MAX_GROUPS];
  memcpy(alloc_steps, s->alloc_steps, sizeof alloc_steps);
  memcpy(alloc_gap, s->alloc_gap, sizeof alloc_gap);
  job_unlock(&s->job);
  draw_ft_settings(a, in.y, in.x + 1, in.w - 2);
  in.y++, in.h--;
  if (js == JOB_RUNNING) ui_progress(in.y, in.x + 1, in.w - 2, prog, status);
  else if (!nt) {
    static const char *const intro[] = {
      "Nothing running. Make the plan's group models here:",
      "",
      "  p   prune the selected group: importance by the plan's criterion, then the proxy search",
      "  P   prune every group, noisiest first",
      "  f   fine-tune the selected group's model on its own timesteps (continues a saved run)",
      "  F   fine-tune every group's model",
      "  A   both, for every group",
      "  d D distillation weight W ±0.1: also learn from the base model   l  steps by equal | loss gap   b  budget",
      "",
      "Models are written next to the plan file; the plan then names them and is saved.",
      "From a shell:  stepscope prune --plan PLAN  and  stepscope finetune --plan PLAN",
    };
    for (int k = 0; k < 11 && k < in.h; k++) ui_text(in.y + k, in.x + 1, in.w - 2, ui_attr(k ? UI_TEXT : UI_DIM), "%s", intro[k]);
  } else {
    ui_text(in.y, in.x + 1, in.w - 2, js == JOB_FAILED ? ui_attr(UI_ERR) : ui_attr(UI_DIM), "%s",
            js == JOB_FAILED ? "failed — see the task list" : "finished · the plan names the new models");
  }
  // the task list on the left, the fine-tune loss on the right
  int lw = nl > 1 && in.w > 100 ? in.w * 2 / 3 : in.w - 2;
  int rows = in.h - 1, first = cur - rows + 2 > 0 ? cur - rows + 2 : 0;
  for (int k = first; k < nt && k - first < rows; k++) {
    const Task *t = &task[k];
    int y = in.y + 1 + k - first;
    attr_t at = t->state == T_FAILED ? ui_attr(UI_ERR) : t->state == T_RUNNING ? ui_attr(UI_ACCENT) : t->state == T_DONE ? ui_attr(UI_OK) : ui_attr(UI_DIM);
    int x = in.x + 1;
    x += ui_text(y, x, lw, at, "%s %-9s i=%-2d ", STATE_GLYPH[t->state], t->kind == TASK_PRUNE ? "prune" : "fine-tune",
                 a->ex.plan.ngroups > t->group ? a->ex.plan.ngroups - t->group : 0);
    if (t->kind == TASK_FINETUNE && alloc == 1) {  // its share of the budget
      if (isfinite(alloc_gap[t->group]))
        x += ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_TEXT), "g%d: %ld steps (gap %+.4f) ", t->group,
                     alloc_steps[t->group], alloc_gap[t->group]);
      else
        x += ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_TEXT), "g%d: %ld steps ", t->group, alloc_steps[t->group]);
      if (t->result[0]) x += ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_DIM), "· ");
    }
    if (t->result[0]) x += ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_TEXT), "%s ", t->result);
    if (t->model[0]) ui_text(y, x, in.x + 1 + lw - x, ui_attr(UI_DIM), "→ %s", app_basename(t->model));
  }
  if (nl > 1 && in.w > 100) {
    Rect pr = {in.y + 1, in.x + lw + 2, in.h - 1, in.w - lw - 3};
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < nl; k++) lo = fmin(lo, loss[k]), hi = fmax(hi, loss[k]);
    Plot pl;
    plot_begin(&pl, pr, 0, ft_steps > nl ? ft_steps : nl, lo, hi > lo ? hi : lo + 1e-3, "%.3f", 0, pr.h >= 6 ? 3 : 2, 0, "");
    if (pl.area.w) {
      double *xs = xmalloc(sizeof(double) * (size_t)nl), *ys = xmalloc(sizeof(double) * (size_t)nl);
      for (int k = 0; k < nl; k++) xs[k] = ft_step - nl + 1 + k, ys[k] = loss[k];
      plot_curve(&pl, xs, ys, nl, ui_attr(UI_ACCENT));
      plot_end(&pl);
      free(xs), free(ys);
      ui_text(pl.area.y + pl.area.h, pl.area.x + 1, pl.area.w - 1, ui_attr(UI_DIM), " fine-tune loss · step %d/%d ", ft_step, ft_steps);
    }
  }
  free(loss);
}

static void no_model(App *a, Rect r) {
  Rect in = ui_box(r, "Prune and fine-tune", 1);
  int y = in.y + 1;
  ui_text(y++, in.x + 2, in.w - 4, ui_attr(UI_WARN), "No base model to prune.");
  ui_text(y++, in.x + 2, in.w - 4, ui_attr(UI_TEXT), "%s", a->base.err[0] ? a->base.err : "no model");
  y++;
  ui_text(y++, in.x + 2, in.w - 4, ui_attr(UI_TEXT), "Train one, then save a plan (S) and come back:");
  ui_text(y++, in.x + 4, in.w - 6, ui_attr(UI_ACCENT), "stepscope train --out assets/base.safetensors");
  ui_text(y++, in.x + 2, in.w - 4, ui_attr(UI_TEXT), "The same from the command line:  stepscope prune --plan P; stepscope finetune --plan P");
}

static void draw(App *a, Rect r) {
  if (!a->base.ok) { no_model(a, r); return; }
  Prune *s = st(a);
  int top = a->ex.plan.ngroups + 4;
  if (top < 9) top = 9;
  if (top > r.h / 2) top = r.h / 2;
  int gw = r.w * 3 / 5;
  draw_groups(a, s, (Rect){r.y, r.x, top, gw});
  draw_bank(a, s, (Rect){r.y, r.x + gw, top, r.w - gw});
  draw_job(a, s, (Rect){r.y + top, r.x, r.h - top, r.w});
}

// ---- input ----

static void steps_answer(App *a, const char *text) {
  char *end;
  long v = strtol(text, &end, 10);
  if (end == text || *end) { app_msg(a, UI_WARN, "not a number: '%s'", text); return; }
  app_edited(a, explorer_set_search(&a->ex, -1, (int)v, -1));
}

static void rounds_answer(App *a, const char *text) {
  char *end;
  long v = strtol(text, &end, 10);
  if (end == text || *end) { app_msg(a, UI_WARN, "not a number: '%s'", text); return; }
  app_edited(a, explorer_set_search(&a->ex, (int)v, -1, -1));
}

static void budget_answer(App *a, const char *text) {
  char *end;
  long v = strtol(text, &end, 10);
  if (end == text || *end || v < 0) { app_msg(a, UI_WARN, "not a number of steps: '%s'", text); return; }
  if (explorer_set_finetune(&a->ex, -1, -1, v)) app_msg(a, UI_WARN, "%s", a->ex.msg);
}

// W up or down by 0.1, wrapping around 0..1; kept on the tenths.
static void step_distill(App *a, int dir) {
  int tenths = (int)lround(a->ex.ft_distill * 10) + dir;
  tenths = (tenths + 11) % 11;
  explorer_set_finetune(&a->ex, tenths / 10.0, -1, -1);
  app_msg(a, UI_TEXT, tenths ? "fine-tune: distilled from the base model, loss W·|ε_base − ε_g|² + (1 − W)·|ε − ε_g|², W = %.1f"
                             : "fine-tune: no distillation (W = %.1f), the plain objective", tenths / 10.0);
}

static int key(App *a, int ch) {
  if (!a->base.ok) return 0;
  Prune *s = st(a);
  Explorer *ex = &a->ex;
  char cur[32];
  switch (ch) {
    case KEY_UP: case 'k': explorer_select_group(ex, ex->sel_group - 1); explorer_select_bound(ex, ex->sel_group); return 1;
    case KEY_DOWN: case 'j': explorer_select_group(ex, ex->sel_group + 1); explorer_select_bound(ex, ex->sel_group); return 1;
    case 'p': queue(a, 1, 0, 0); return 1;
    case 'P': queue(a, 1, 0, 1); return 1;
    case 'f': queue(a, 0, 1, 0); return 1;
    case 'F': queue(a, 0, 1, 1); return 1;
    case 'A': queue(a, 1, 1, 1); return 1;
    case 'c': case 27:
      if (job_running(&s->job)) {
        job_cancel(&s->job);
        app_msg(a, UI_WARN, "cancelling: a fine-tune stops at once and is saved; a search stops after its rounds");
      }
      return 1;
    case 'n':
      snprintf(cur, sizeof cur, "%d", ex->plan.finetune_steps);
      app_input(a, "fine-tune steps", "Optimizer steps per group model (0 skips fine-tuning):", cur, steps_answer);
      return 1;
    case 'd': step_distill(a, +1); return 1;
    case 'D': step_distill(a, -1); return 1;
    case 'l':
      explorer_set_finetune(ex, -1, !ex->ft_by_loss, -1);
      app_msg(a, UI_TEXT, ex->ft_by_loss ? "fine-tune steps by loss: the budget goes to the groups by each pruned model's loss gap (at least 5 %% each)"
                                         : "fine-tune steps equal: each group the same share of the budget");
      return 1;
    case 'b':
      snprintf(cur, sizeof cur, "%ld", ex->ft_budget);
      app_input(a, "fine-tune budget", "Total fine-tune steps over all groups (0: steps per group × groups):", cur, budget_answer);
      return 1;
    case 'R':
      snprintf(cur, sizeof cur, "%d", ex->plan.rounds);
      app_input(a, "search rounds", "Proxy-search rounds per group (round 1 is the uniform proposal):", cur, rounds_answer);
      return 1;
  }
  return 0;
}

// The keys in the order they are cut from the right on a narrow terminal; cancel first while a
// job runs.
static int hints(App *a, KeyHint *h, int cap) {
  static const KeyHint k[] = {
    {"c", "cancel", 'c'}, {"p", "prune", 'p'}, {"P", "all", 'P'}, {"f", "tune", 'f'}, {"F", "all", 'F'},
    {"A", "both", 'A'}, {"d", "distill", 'd'}, {"l", "steps-by", 'l'}, {"b", "budget", 'b'}, {"n", "steps", 'n'},
    {"R", "rounds", 'R'}, {"↑↓", "group", 0},
  };
  Prune *s = a->state[VIEW_PRUNE];
  int first = s && job_running(&s->job) ? 0 : 1, n = 0;
  for (int i = first; i < (int)(sizeof k / sizeof k[0]) && n < cap; i++) h[n++] = k[i];
  return n;
}

static void destroy(App *a) {
  Prune *s = a->state[VIEW_PRUNE];
  if (!s) return;
  job_destroy(&s->job);  // a fine-tune saves its checkpoint as it stops
  free(s->loss);
  free(s);
  a->state[VIEW_PRUNE] = NULL;
}

static const char *const help[] = {
  "↑↓  j k\tselect a group",
  "p  P\tproxy search: prune the selected group's model, or every group's",
  "f  F\tfine-tune the selected group's model on its timesteps, or every group's",
  "A\tprune and fine-tune every group (noisiest first)",
  "c  Esc\tcancel: a fine-tune stops now (saved, resumable with f); a search after its rounds",
  "n\tfine-tune steps per group;  R: search rounds (both saved in the plan)",
  "d  D\tdistillation weight W up, down by 0.1 (0..1): the fine-tune also learns from the base model",
  "\tas teacher, loss W·|ε_base − ε_g|² + (1 − W)·|ε − ε_g|² (like finetune --distill W)",
  "l\tfine-tune steps by equal | loss: the budget spread evenly, or by each pruned model's loss",
  "\tgap (its ε-MSE minus the base's on its timesteps), at least 5 % each; measured when the",
  "\tjob's first fine-tune starts, shown per group in the job list",
  "b\tfine-tune budget: total steps over all groups (0: steps per group × groups)",
  "\tModels are written next to the plan file as <plan>.g<j>.safetensors (and .ft. for",
  "\tfine-tunes, .bank.json for the memory bank); the plan is updated and saved.",
  "\tThe same as `stepscope prune --plan P` and `stepscope finetune --plan P`.",
  NULL,
};

const View view_prune = {
  .name = "Prune", .draw = draw, .key = key, .hints = hints, .help = help, .tick = tick, .destroy = destroy,
};
