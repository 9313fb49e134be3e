// explorer.c — plan edits and the numbers derived from them (see explorer.h).
#include "explorer.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_GROUPS = 5, DEFAULT_DDIM_STEPS = 50 };
static const double RATIO_MIN = 0.05, RATIO_MAX = 1.0;

static int refuse(Explorer *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(Explorer *ex, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ex->msg, sizeof ex->msg, fmt, ap);
  va_end(ap);
  return -1;
}

static double clamp_ratio(double r) { return r < RATIO_MIN ? RATIO_MIN : r > RATIO_MAX ? RATIO_MAX : r; }

// ---- undo: snapshots of the plan. undo[undo_pos] is always the current plan ----

static void undo_reset(Explorer *ex) {
  ex->undo[0] = ex->plan;
  ex->undo_len = 1, ex->undo_pos = 0;
}

// Records the current plan as a new step; drops redo steps and, when full, the oldest.
static void undo_push(Explorer *ex) {
  if (ex->undo_pos + 1 == EXPLORER_UNDO) {
    memmove(ex->undo, ex->undo + 1, sizeof(Plan) * (EXPLORER_UNDO - 1));
    ex->undo_pos--;
  }
  ex->undo[++ex->undo_pos] = ex->plan;
  ex->undo_len = ex->undo_pos + 1;
}

// Every successful edit ends here.
static int commit(Explorer *ex) {
  ex->msg[0] = 0;
  ex->modified = 1;
  undo_push(ex);
  explorer_update(ex);
  return 0;
}

// ---- setup ----

void explorer_init(Explorer *ex, const Plan *p) {
  memset(ex, 0, sizeof *ex);
  ex->ddim_steps = DEFAULT_DDIM_STEPS;
  ex->undo = xmalloc(sizeof(Plan) * EXPLORER_UNDO);
  Plan def;
  if (!p) {
    Err e;
    plan_init(&def, SCHED_LINEAR, 1000);
    schedule_init(&ex->sched, def.schedule, def.T);
    CHECK(plan_split(&def, &ex->sched, SPLIT_SNR, DEFAULT_GROUPS, NULL, &e) == 0, "%s", e.msg);
    CHECK(plan_set_ratios(&def, ORDER_PROGRESSIVE, 0.5, NULL, NULL, &e) == 0, "%s", e.msg);
    schedule_free(&ex->sched);
    p = &def;
  }
  explorer_set_plan(ex, p);
}

void explorer_free(Explorer *ex) {
  schedule_free(&ex->sched);
  free(ex->undo);
  ex->undo = NULL;
}

void explorer_set_plan(Explorer *ex, const Plan *p) {
  if (ex->sched.T) schedule_free(&ex->sched);
  ex->plan = *p;
  schedule_init(&ex->sched, p->schedule, p->T);
  for (int j = 0; j < PLAN_MAX_GROUPS; j++) ex->model_macs[j] = 0, ex->model_params[j] = 0;
  ex->modified = 0;
  ex->msg[0] = 0;
  undo_reset(ex);
  explorer_select_group(ex, ex->sel_group);
  explorer_select_bound(ex, ex->sel_bound);
  explorer_update(ex);
}

void explorer_set_base_cost(Explorer *ex, double macs, long params) {
  ex->base_macs = macs > 0 ? macs : 0;
  ex->base_params = macs > 0 ? params : 0;
  explorer_update(ex);
}

void explorer_set_model_cost(Explorer *ex, int g, double macs, long params) {
  if (g < 0 || g >= PLAN_MAX_GROUPS) return;
  ex->model_macs[g] = macs > 0 ? macs : 0;
  ex->model_params[g] = macs > 0 ? params : 0;
  explorer_update(ex);
}

// ---- derived numbers ----

void explorer_update(Explorer *ex) {
  const Plan *p = &ex->plan;
  const int T = p->T, N = p->ngroups;
  int *ddpm = xcalloc((size_t)T, sizeof(int)), *ddim = xcalloc((size_t)T, sizeof(int));
  Err e;
  SamplerCfg cfg = sampler_cfg_default();
  cfg.kind = SAMPLER_DDPM;
  ex->calls_ddpm = sample_count_steps_per_t(&ex->sched, &cfg, ddpm, &e);
  cfg.kind = SAMPLER_DDIM;
  cfg.steps = ex->ddim_steps < 1 ? 1 : ex->ddim_steps > T ? T : ex->ddim_steps;
  ex->calls_ddim = sample_count_steps_per_t(&ex->sched, &cfg, ddim, &e);
  CHECK(ex->calls_ddpm > 0 && ex->calls_ddim > 0, "explorer: step counts: %s", e.msg);

  for (int j = 0; j < N; j++) {
    const PlanGroup *g = &p->g[j];
    GroupRow *r = &ex->row[j];
    long cp = 0, ci = 0;
    for (int t = g->t0; t < g->t1; t++) cp += ddpm[t], ci += ddim[t];
    *r = (GroupRow){
      .t0 = g->t0, .t1 = g->t1, .index = N - j,
      .snr_hi = ex->sched.snr_db[g->t0], .snr_lo = ex->sched.snr_db[g->t1 - 1],
      .ratio = g->ratio,
      .macs = g->ratio * ex->base_macs,
      .params = g->ratio * (double)ex->base_params,
      .share_ddpm = (double)cp / ex->calls_ddpm,
      .share_ddim = (double)ci / ex->calls_ddim,
      .has_model = ex->model_macs[j] > 0,
      .model_macs = ex->model_macs[j],
      .model_params = ex->model_params[j],
    };
  }
  ex->compute_ddpm = plan_expected_compute(p, ddpm);
  ex->compute_ddim = plan_expected_compute(p, ddim);
  ex->base_run_ddpm = ex->base_macs * ex->calls_ddpm;
  ex->base_run_ddim = ex->base_macs * ex->calls_ddim;
  ex->macs_ddpm = ex->compute_ddpm * ex->base_run_ddpm;
  ex->macs_ddim = ex->compute_ddim * ex->base_run_ddim;
  free(ddpm);
  free(ddim);
}

// ---- selection ----

void explorer_select_group(Explorer *ex, int g) {
  int n = ex->plan.ngroups;
  ex->sel_group = g < 0 ? 0 : g >= n ? n - 1 : g;
}

void explorer_select_bound(Explorer *ex, int b) {
  int n = ex->plan.ngroups - 1;
  ex->sel_bound = n == 0 ? -1 : b < 0 ? 0 : b >= n ? n - 1 : b;
}

int explorer_nearest_bound(const Explorer *ex, int t) {
  int best = -1, bd = 0;
  for (int b = 0; b + 1 < ex->plan.ngroups; b++) {
    int d = abs(ex->plan.g[b].t1 - t);
    if (best < 0 || d < bd) best = b, bd = d;
  }
  return best;
}

// ---- edits ----

int explorer_set_boundary(Explorer *ex, int b, int t) {
  Plan *p = &ex->plan;
  if (b < 0 || b >= p->ngroups - 1) return refuse(ex, "no boundary to move: the plan has one group");
  const int lo = p->g[b].t0 + 1, hi = p->g[b + 1].t1 - 1;  // both sides keep >= 1 timestep
  if (t < lo) t = lo;
  if (t > hi) t = hi;
  if (t == p->g[b].t1)
    return refuse(ex, "boundary %d is at its limit (t = %d): a group needs at least one timestep", b + 1, t);
  p->g[b].t1 = p->g[b + 1].t0 = t;
  p->split = SPLIT_MANUAL;
  ex->sel_bound = b;
  return commit(ex);
}

int explorer_move_boundary(Explorer *ex, int b, int dt) {
  if (b < 0 || b >= ex->plan.ngroups - 1) return refuse(ex, "no boundary to move: the plan has one group");
  return explorer_set_boundary(ex, b, ex->plan.g[b].t1 + dt);
}

// Reapplies the plan's formula after the group count changed (manual orders keep theirs).
static int reapply_order(Explorer *ex) {
  Plan *p = &ex->plan;
  if (p->order == ORDER_MANUAL) return 0;
  if (p->order == ORDER_LOSS && !ex->loss_per_t) {
    p->order = ORDER_MANUAL;  // no measured loss to recompute from: keep the ratios
    return 0;
  }
  Err e;
  if (plan_set_ratios(p, p->order, p->k, ex->loss_per_t, NULL, &e)) return refuse(ex, "%s", e.msg);
  return 0;
}

int explorer_add_group(Explorer *ex, int g) {
  Plan *p = &ex->plan;
  if (p->ngroups >= PLAN_MAX_GROUPS) return refuse(ex, "a plan has at most %d groups", PLAN_MAX_GROUPS);
  if (g < 0 || g >= p->ngroups) return refuse(ex, "no group %d", g + 1);
  PlanGroup *src = &p->g[g];
  if (src->t1 - src->t0 < 2) return refuse(ex, "group %d has one timestep: nothing to split", p->ngroups - g);
  int mid = (src->t0 + src->t1) / 2;
  if (p->split == SPLIT_SNR) {  // the timestep nearest the middle SNR_dB of the group
    const double *db = ex->sched.snr_db, want = (db[src->t0] + db[src->t1 - 1]) / 2;
    mid = src->t0 + 1;
    while (mid < src->t1 - 1 && db[mid] > want) mid++;
  }
  const Plan before = *p;
  memmove(&p->g[g + 1], &p->g[g], sizeof(PlanGroup) * (size_t)(p->ngroups - g));
  p->ngroups++;
  p->g[g].t1 = p->g[g + 1].t0 = mid;
  p->g[g].model[0] = p->g[g + 1].model[0] = 0;  // trained on the old range: no longer theirs
  p->split = SPLIT_MANUAL;  // no longer uniform in t or SNR
  if (reapply_order(ex)) { *p = before; return -1; }
  ex->sel_group = g;
  explorer_select_bound(ex, g);
  return commit(ex);
}

int explorer_remove_group(Explorer *ex, int g) {
  Plan *p = &ex->plan;
  if (p->ngroups <= 1) return refuse(ex, "the last group cannot be removed");
  if (g < 0 || g >= p->ngroups) return refuse(ex, "no group %d", g + 1);
  const Plan before = *p;
  // Merge with the noisier neighbour g+1, or with g-1 when g is the noisiest group.
  int a = g + 1 < p->ngroups ? g : g - 1;  // merged pair (a, a+1)
  double r = p->g[a].ratio > p->g[a + 1].ratio ? p->g[a].ratio : p->g[a + 1].ratio;
  p->g[a].t1 = p->g[a + 1].t1;
  p->g[a].ratio = r;
  p->g[a].model[0] = 0;
  memmove(&p->g[a + 1], &p->g[a + 2], sizeof(PlanGroup) * (size_t)(p->ngroups - a - 2));
  p->ngroups--;
  memset(&p->g[p->ngroups], 0, sizeof(PlanGroup));
  p->split = SPLIT_MANUAL;
  if (reapply_order(ex)) { *p = before; return -1; }
  explorer_select_group(ex, a);
  explorer_select_bound(ex, ex->sel_bound);
  return commit(ex);
}

int explorer_set_split(Explorer *ex, SplitKind kind) {
  if (kind == SPLIT_MANUAL) return refuse(ex, "a manual split is made by moving boundaries");
  Plan *p = &ex->plan;
  const Plan before = *p;
  Err e;
  if (plan_split(p, &ex->sched, kind, p->ngroups, NULL, &e)) {
    *p = before;
    return refuse(ex, "%s", e.msg);
  }
  if (!memcmp(&before, p, sizeof *p)) return refuse(ex, "already split uniformly in %s", kind == SPLIT_T ? "t" : "SNR");
  return commit(ex);
}

int explorer_set_schedule(Explorer *ex, SchedKind kind) {
  Plan *p = &ex->plan;
  if (p->schedule == kind) return refuse(ex, "the schedule is already %s", schedule_name(kind));
  const Plan before = *p;
  Schedule s;
  schedule_init(&s, kind, p->T);
  p->schedule = kind;
  if (p->split == SPLIT_SNR) {
    Err e;
    if (plan_split(p, &s, SPLIT_SNR, p->ngroups, NULL, &e)) {
      *p = before;
      schedule_free(&s);
      return refuse(ex, "%s", e.msg);
    }
  }
  schedule_free(&ex->sched);
  ex->sched = s;
  return commit(ex);
}

int explorer_set_ratio(Explorer *ex, int g, double ratio) {
  Plan *p = &ex->plan;
  if (g < 0 || g >= p->ngroups) return refuse(ex, "no group %d", g + 1);
  if (!(ratio > 0 && ratio <= RATIO_MAX))
    return refuse(ex, "a ratio is a fraction of the base model's MACs, in (0, 1]");
  ratio = clamp_ratio(ratio);
  if (fabs(ratio - p->g[g].ratio) < 1e-12) return refuse(ex, "the ratio is already %.2f", ratio);
  p->g[g].ratio = ratio;
  p->order = ORDER_MANUAL;
  return commit(ex);
}

int explorer_add_ratio(Explorer *ex, int g, double delta) {
  if (g < 0 || g >= ex->plan.ngroups) return refuse(ex, "no group %d", g + 1);
  double r = clamp_ratio(round((ex->plan.g[g].ratio + delta) * 1000) / 1000);
  if (fabs(r - ex->plan.g[g].ratio) < 1e-12)
    return refuse(ex, "the ratio is at its %s (%.2f)", delta > 0 ? "maximum" : "minimum", r);
  return explorer_set_ratio(ex, g, r);
}

int explorer_apply_order(Explorer *ex, OrderKind order, double k) {
  Plan *p = &ex->plan;
  if (order == ORDER_MANUAL) return refuse(ex, "manual ratios are set group by group");
  if (!(k > 0 && k <= 1)) return refuse(ex, "k must be in (0, 1], got %g", k);
  if (order == ORDER_LOSS && !ex->loss_per_t)
    return refuse(ex, "the loss order needs the base model's loss curve (measure it in the Loss view)");
  const Plan before = *p;
  Err e;
  if (plan_set_ratios(p, order, k, ex->loss_per_t, NULL, &e)) {
    *p = before;
    return refuse(ex, "%s", e.msg);
  }
  if (!memcmp(&before, p, sizeof *p)) return refuse(ex, "the ratios already follow %s, k = %.2f", order_name(order), k);
  return commit(ex);
}

int explorer_set_criterion(Explorer *ex, const char *name) {
  if (!plan_criterion_known(name)) return refuse(ex, "unknown criterion '%s'", name);
  if (!strcmp(ex->plan.criterion, name)) return refuse(ex, "the criterion is already %s", name);
  snprintf(ex->plan.criterion, sizeof ex->plan.criterion, "%s", name);
  return commit(ex);
}

int explorer_set_search(Explorer *ex, int rounds, int finetune_steps, int calib_n) {
  Plan *p = &ex->plan;
  if (rounds == 0 || calib_n == 0 || rounds > 1000 || calib_n > 100000 || finetune_steps > 10000000)
    return refuse(ex, "rounds 1..1000, calibration images 1..100000, fine-tune steps 0..10000000");
  const Plan before = *p;
  if (rounds > 0) p->rounds = rounds;
  if (finetune_steps >= 0) p->finetune_steps = finetune_steps;
  if (calib_n > 0) p->calib_n = calib_n;
  if (!memcmp(&before, p, sizeof *p)) return refuse(ex, "no change");
  return commit(ex);
}

int explorer_set_finetune(Explorer *ex, double distill, int by_loss, long budget) {
  if (distill > 1 || distill != distill) return refuse(ex, "the distillation weight W is 0..1");
  if (by_loss > 1) return refuse(ex, "steps by: 0 equal, 1 loss");
  if (budget > 100000000) return refuse(ex, "fine-tune budget 1..100000000 steps (0: steps per group × groups)");
  if (distill >= 0) ex->ft_distill = distill;
  if (by_loss >= 0) ex->ft_by_loss = by_loss;
  if (budget >= 0) ex->ft_budget = budget;
  ex->msg[0] = 0;
  return 0;
}

long explorer_finetune_budget(const Explorer *ex) {
  return ex->ft_budget > 0 ? ex->ft_budget : (long)ex->plan.finetune_steps * ex->plan.ngroups;
}

int explorer_set_model(Explorer *ex, int g, const char *path) {
  Plan *p = &ex->plan;
  if (g < 0 || g >= p->ngroups) return refuse(ex, "no group %d", g + 1);
  if (strlen(path) >= sizeof p->g[g].model) return refuse(ex, "the path is too long for a plan");
  if (!strcmp(p->g[g].model, path)) return refuse(ex, "group i=%d already uses %s", p->ngroups - g, path);
  snprintf(p->g[g].model, sizeof p->g[g].model, "%s", path);
  return commit(ex);
}

// Steps through the undo ring; the schedule follows the plan.
static int undo_go(Explorer *ex, int pos) {
  Plan *p = &ex->plan;
  SchedKind was = p->schedule;
  *p = ex->undo[pos];
  ex->undo_pos = pos;
  if (p->schedule != was) {
    schedule_free(&ex->sched);
    schedule_init(&ex->sched, p->schedule, p->T);
  }
  ex->modified = 1;
  ex->msg[0] = 0;
  explorer_select_group(ex, ex->sel_group);
  explorer_select_bound(ex, ex->sel_bound);
  explorer_update(ex);
  return 0;
}

int explorer_undo(Explorer *ex) {
  if (ex->undo_pos == 0) return refuse(ex, "nothing to undo");
  return undo_go(ex, ex->undo_pos - 1);
}

int explorer_redo(Explorer *ex) {
  if (ex->undo_pos + 1 >= ex->undo_len) return refuse(ex, "nothing to redo");
  return undo_go(ex, ex->undo_pos + 1);
}
