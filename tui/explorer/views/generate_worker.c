// generate_worker.c — the Generate view's samplers: one run of the sampler on a worker's own
// thread and backend, with the base model (BASE) or the model of the group holding t (SAT);
// each step waits for the UI's clock (Gen.target) and hands its x_t and x0-hat over as a
// Frame. See generate.h.
#include "tui/explorer/views/generate.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ---- workers ----

typedef struct {
  Worker *w;
  UNet *base, *group[PLAN_MAX_GROUPS];
  int calls;
  UNet *running;  // the model eps_begin started, its group (or -1) and the time spent so far
  int group_of_running;
  double sec;
} Run;

static int cancelled(Worker *w) { return job_cancelled(&w->job); }

// The sampler's model, in two halves (the noise is drawn while a GPU computes): begin paces
// the run to the UI's target step and starts the model of t; finish collects eps and shows
// which model ran and how long the sampler waited for it.
static int eps_begin(void *user, int t, const float *x, int B, Err *e) {
  Run *r = user;
  Worker *w = r->w;
  Gen *g = w->g;
  Frame *f = &g->f[w->side];
  const int i = r->calls++;
  const size_t n = (size_t)B * g->C * g->H * g->W;
  pthread_mutex_lock(&g->mu);
  if (i == 0) {  // show x_T before the first step
    memcpy(f->x, x, sizeof(float) * n);
    f->t = t;
    f->seq++;
  }
  while (!cancelled(w) && g->target <= i) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
  }
  pthread_mutex_unlock(&g->mu);
  job_wake(&w->job);
  if (cancelled(w)) return err_set(e, "cancelled");
  int j = plan_group_of(&g->plan, t);
  UNet *m = w->side == SAT && r->group[j] ? r->group[j] : r->base;
  double t0 = now_sec();
  unet_eps_begin(m, t, x, B);
  r->sec = now_sec() - t0;
  r->running = m;
  r->group_of_running = j;
  return 0;
}

static int eps_finish(void *user, float *eps, Err *e) {
  Run *r = user;
  Worker *w = r->w;
  Gen *g = w->g;
  Frame *f = &g->f[w->side];
  UNet *m = r->running;
  const int j = r->group_of_running;
  double t0 = now_sec();
  unet_eps_finish(m, eps);
  double ms = (r->sec + now_sec() - t0) * 1000;
  pthread_mutex_lock(&g->mu);
  f->ms = f->ms > 0 ? 0.8 * f->ms + 0.2 * ms : ms;
  f->group = w->side == SAT ? j : -1;
  const char *path = w->side == SAT && r->group[j] ? g->group_path[j] : g->base_path;
  snprintf(f->model, sizeof f->model, "%s", app_basename(path));
  f->macs = unet_macs(m);
  pthread_mutex_unlock(&g->mu);
  return 0;
}

static int step_fn(void *user, int step, int nsteps, int t, const float *x, const float *x0, int B) {
  Run *r = user;
  Gen *g = r->w->g;
  Frame *f = &g->f[r->w->side];
  const size_t n = (size_t)B * g->C * g->H * g->W;
  pthread_mutex_lock(&g->mu);
  memcpy(f->x, x, sizeof(float) * n);
  memcpy(f->x0, x0, sizeof(float) * n);
  f->step = step + 1, f->nsteps = nsteps, f->t = t;
  f->seq++;
  pthread_mutex_unlock(&g->mu);
  job_progress(&r->w->job, (double)(step + 1) / nsteps, "step %d/%d", step + 1, nsteps);
  return cancelled(r->w);
}

void gen_work(Job *job) {
  Worker *w = job->arg;
  Gen *g = w->g;
  Err e;
  Run r = {.w = w};
  Backend *be = backend_create(g->device, g->threads, &e);
  if (!be) { job_fail(job, "%s", e.msg); return; }
  r.base = ckpt_load_model(g->base_path, be, 1, NULL, &e);
  if (!r.base) { job_fail(job, "%s", e.msg); be->destroy(be); return; }
  if (w->side == SAT) {  // each distinct group model once; groups without one use the base
    for (int j = 0; j < g->plan.ngroups && !cancelled(w); j++) {
      if (!g->group_path[j][0]) continue;
      for (int k = 0; k < j && !r.group[j]; k++)
        if (r.group[k] && !strcmp(g->group_path[k], g->group_path[j])) r.group[j] = r.group[k];
      if (!r.group[j] && !(r.group[j] = ckpt_load_model(g->group_path[j], be, 1, NULL, &e))) {
        job_fail(job, "%s", e.msg);
        break;
      }
      unet_share_arena(r.group[j], r.base);  // they run in turn: one arena, warmed up once
    }
  }
  if (job_state(job) != JOB_FAILED && !cancelled(w)) {
    Schedule s;
    schedule_init(&s, g->sched, g->plan.T);
    SamplerCfg cfg = sampler_cfg_default();
    cfg.kind = g->kind;
    cfg.steps = g->ddim_steps;
    cfg.seed = g->seed;
    float *out = xmalloc(sizeof(float) * (size_t)g->B * g->C * g->H * g->W);
    const EpsSplit model = {eps_begin, eps_finish};
    int rc = sample_run_split(&s, &cfg, g->B, g->C, g->H, g->W, &model, &r, step_fn, &r, out, &e);
    if (rc < 0 && !cancelled(w)) job_fail(job, "%s", e.msg);
    free(out);
    schedule_free(&s);
  }
  for (int j = 0; j < PLAN_MAX_GROUPS; j++) {
    if (!r.group[j]) continue;
    for (int k = j + 1; k < PLAN_MAX_GROUPS; k++)
      if (r.group[k] == r.group[j]) r.group[k] = NULL;
    unet_free(r.group[j]);
  }
  unet_free(r.base);
  be->destroy(be);
}
