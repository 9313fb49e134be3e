// bench_plan.c — `stepscope bench sample --plan`: how close each group model of a plan comes
// to the speedup its MACs promise over the base, per model call and over whole sampling runs,
// and with --profile, op by op where it falls short.
#include "engine/sampler.h"
#include "engine/sat/plan_models.h"
#include "kernels/backend_ops.h"
#include "tui/cli/bench.h"
#include "tui/cli/commands.h"
#include <stdlib.h>
#include <string.h>

static int cmp_dbl(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// Whole DDIM-50 run of pm at batch B (base_only or the plan), seconds.
static double plan_run_sec(PlanModels *pm, const Schedule *s, int B, int base_only) {
  const int C = pm->base->cfg.in_ch, S = pm->base->cfg.img;
  float *x = xmalloc(sizeof(float) * B * C * S * S);
  SamplerCfg cfg = sampler_cfg_default();
  cfg.seed = 1;
  Err e;
  pm->base_only = base_only;
  pm->macs = pm->base_macs = 0;
  double t0 = now_sec();
  sample_run_split(s, &cfg, B, C, S, S, &plan_models_split, pm, NULL, NULL, x, &e);
  pm->base->be->sync(pm->base->be);
  double sec = now_sec() - t0;
  free(x);
  return sec;
}

// The plan's models in table order: the base first, then each group that has its own model.
typedef struct {
  UNet *m[1 + PLAN_MAX_GROUPS];
  char label[1 + PLAN_MAX_GROUPS][8];
  double share[1 + PLAN_MAX_GROUPS];  // MACs over the base's
  int n;
} Lineup;

static void lineup_of(const PlanModels *pm, Lineup *l) {
  l->n = 0;
  l->m[l->n] = pm->base;
  snprintf(l->label[l->n++], 8, "base");
  for (int g = 0; g < pm->plan.ngroups; g++)
    if (pm->group[g]) {
      l->m[l->n] = pm->group[g];
      snprintf(l->label[l->n++], 8, "g%d", g);
    }
  for (int k = 0; k < l->n; k++) l->share[k] = unet_macs(l->m[k]) / unet_macs(pm->base);
}

static float *noise(int B, const UNet *m) {
  const size_t len = (size_t)B * m->cfg.in_ch * m->cfg.img * m->cfg.img;
  float *x = xmalloc(sizeof(float) * len);
  Rng r;
  rng_seed(&r, 3);
  rng_normal_fill(&r, x, (long)len);
  return x;
}

static double median(double *v, int n) {
  qsort(v, n, sizeof(double), cmp_dbl);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Each model's median ms per call at batch B, and its speedup over the base: the median over
// rounds of the base's time over the model's within the round. The models take turns call by
// call, two warm-up rounds first, and the base also closes the last round, so that each
// model's call is set against the mean of the two base calls around it. This VM has slow
// spells seconds long: medians per model taken apart let one fall on some models' calls and
// not others' (g0, the base's twin, read 88-115 %); calls a fraction of a second apart share it.
static void call_times(const Lineup *l, int B, int reps, double *ms, double *speedup) {
  float *x = noise(B, l->m[0]), *eps = noise(B, l->m[0]);
  double *all = xmalloc(sizeof(double) * l->n * (reps + 1)), *v = xmalloc(sizeof(double) * (reps + 1));
  for (int i = -2; i < reps; i++)
    for (int k = 0; k < l->n; k++) {
      const double t = cli_call_ms(l->m[k], 500, x, B, eps);
      if (i >= 0) all[k * (reps + 1) + i] = t;
    }
  all[reps] = cli_call_ms(l->m[0], 500, x, B, eps);
  for (int k = 0; k < l->n; k++) {
    const double *base = all, *mine = all + k * (reps + 1);
    for (int i = 0; i < reps; i++) v[i] = 0.5 * (base[i] + base[i + 1]) / mine[i];
    speedup[k] = k ? median(v, reps) : 1.0;
    for (int i = 0; i < reps; i++) v[i] = mine[i];
    ms[k] = median(v, reps);
  }
  free(v);
  free(all);
  free(x);
  free(eps);
}

// --profile: the same calls on models loaded on a profiled backend (prof), the models taking
// turns as above, two warm-up rounds; per op, ms per call of every model and its speedup over
// the base's as a share of the model's ideal. Ops are listed by the base's time.
#define AS_NAME(op, kind) #op,
static const char *const op_names[] = {BACKEND_OPS(AS_NAME)};
enum { NOP = sizeof op_names / sizeof op_names[0] };

static void op_seconds(Backend *prof, double *sec) {
  for (int o = 0; o < NOP; o++) {
    sec[o] = 0;
    backend_profile_get(prof, op_names[o], NULL, &sec[o]);
  }
}

static void profile_ops(Backend *prof, const Lineup *l, int B, int reps) {
  float *x = noise(B, l->m[0]), *eps = noise(B, l->m[0]);
  double op_ms[1 + PLAN_MAX_GROUPS][NOP] = {{0}}, call[1 + PLAN_MAX_GROUPS] = {0}, before[NOP], after[NOP];
  for (int i = -2; i < reps; i++)
    for (int k = 0; k < l->n; k++) {
      op_seconds(prof, before);
      const double ms = cli_call_ms(l->m[k], 500, x, B, eps);
      op_seconds(prof, after);
      if (i < 0) continue;
      call[k] += ms / reps;
      for (int o = 0; o < NOP; o++) op_ms[k][o] += (after[o] - before[o]) * 1e3 / reps;
    }
  int order[NOP], n = 0;
  for (int o = 0; o < NOP; o++)
    if (op_ms[0][o] > 0 && strcmp(op_names[o], "sync")) order[n++] = o;
  for (int i = 1; i < n; i++)  // by the base's time, the costliest first
    for (int j = i; j > 0 && op_ms[0][order[j]] > op_ms[0][order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  printf("\n  batch %d, op by op: ms per call (mean of %d, the models taking turns, every op between two syncs)\n"
         "  and, for each model, the base's time over its own as a share of its ideal speedup\n  %-18s", B, reps, "op");
  for (int k = 0; k < l->n; k++) printf(k ? " %14s" : " %8s", l->label[k]);
  double sum[1 + PLAN_MAX_GROUPS] = {0};
  for (int k = 0; k < l->n; k++)
    for (int r = 0; r < n; r++) sum[k] += op_ms[k][order[r]];
  for (int r = 0; r < n + 2; r++) {
    printf("\n  %-18s", r < n ? op_names[order[r]] : r == n ? "sum of ops" : "whole call");
    for (int k = 0; k < l->n; k++) {
      const double v = r < n ? op_ms[k][order[r]] : r == n ? sum[k] : call[k];
      const double base = r < n ? op_ms[0][order[r]] : r == n ? sum[0] : call[0];
      if (!k) printf(" %8.3f", v);
      else if (v > 0) printf(" %8.3f %4.0f%%", v, 100 * base / v * l->share[k]);
      else printf(" %8s %5s", "-", "");
    }
  }
  printf("\n");
  fflush(stdout);
  free(x);
  free(eps);
}

// `runs` whole DDIM-50 runs of the plan at batch B, and runs + 1 of the base alone, taking
// turns (the base first and last). Each plan run is set against the mean of the two base runs
// around it, and the time share is the median of those ratios, beside the share of the means:
// a run takes seconds, as long as this VM's slow spells, so a spell can fall on a few runs of
// one side and move the means by several points.
static void whole_runs(PlanModels *pm, int B, int runs) {
  Schedule sched;
  schedule_init(&sched, SCHED_LINEAR, 1000);
  plan_run_sec(pm, &sched, B, 0);  // warm-up: the arena settles at this batch size
  double *base = xmalloc(sizeof(double) * (runs + 1)), *plan = xmalloc(sizeof(double) * runs);
  double *ratio = xmalloc(sizeof(double) * runs), tb = 0, tp = 0, macs = 0;
  for (int i = 0; i <= runs; i++) {
    tb += base[i] = plan_run_sec(pm, &sched, B, 1);
    if (i == runs) break;
    tp += plan[i] = plan_run_sec(pm, &sched, B, 0);
    macs = pm->macs / pm->base_macs;  // a plan run's MACs against the base's
  }
  printf("\n  DDIM-50 at batch %d, %d runs of the plan and %d of the base, taking turns, s per run:\n  base", B, runs,
         runs + 1);
  for (int i = 0; i <= runs; i++) printf(" %.2f", base[i]);
  printf("\n  plan");
  for (int i = 0; i < runs; i++) {
    printf(" %.2f", plan[i]);
    ratio[i] = plan[i] / (0.5 * (base[i] + base[i + 1]));
  }
  const double share = median(ratio, runs);
  printf("\n  time share %.1f %% (median of each plan run against the base runs around it; %.1f %% by the means),\n"
         "  MAC share %.1f %% (%+.1f points)\n",
         100 * share, 100 * (tp / runs) / (tb / (runs + 1)), 100 * macs, 100 * (share - macs));
  free(base);
  free(plan);
  free(ratio);
  schedule_free(&sched);
}

// The plan's models on a backend opened for --device (wrapped by the profiler when profiled)
// and their lineup; the backend, or NULL when it or the plan does not open (said on stderr).
static Backend *open_plan(const char *plan_path, const char *device, int threads, int profiled, PlanModels *pm,
                          Lineup *l) {
  Backend *be = cli_backend(device, threads);
  if (!be) return NULL;
  if (profiled) be = backend_profile_wrap(be);
  Err e;
  if (plan_models_load(pm, plan_path, be, 1, 1, &e)) {
    fprintf(stderr, "stepscope: %s\n", e.msg);
    be->destroy(be);
    return NULL;
  }
  lineup_of(pm, l);
  return be;
}

// --profile: the plan loaded again on a profiled backend of the same kind (the timed rows
// ran unprofiled), then profile_ops at each batch size.
static int profile_plan(const char *plan_path, const char *device, int threads, const int *batches, int nb,
                        int reps) {
  PlanModels pm;
  Lineup l;
  Backend *be = open_plan(plan_path, device, threads, 1, &pm, &l);
  if (!be) return 1;
  for (int i = 0; i < nb; i++) profile_ops(be, &l, batches[i], reps);
  plan_models_free(&pm);
  be->destroy(be);
  return 0;
}

int bench_plan(const char *plan_path, int batch, int threads, int reps, const char *device, int run_batch, int runs,
               int profile) {
  PlanModels pm;
  Lineup l;
  Backend *be = open_plan(plan_path, device, threads, 0, &pm, &l);
  if (!be) return 1;
  bench_note_blas_env(be);
  printf("stepscope sample --plan %s  threads %d  device %s\n", plan_path, threads, be->name);
  printf("  ms per model call (the sampler's forward, median of %d, the models taking turns); speedup over\n"
         "  the base (median over rounds of the base's time around the model's call over the model's)\n"
         "  against the ideal 1 / (MAC share). At batch 1: ms per denoising step.\n", reps);
  printf("  %-5s %5s %9s %10s %9s %8s %9s\n", "model", "batch", "MAC share", "ms/call", "speedup", "ideal",
         "of ideal");
  const int batches[3] = {1, 16, 64}, nb = batch > 0 ? 1 : 3;
  for (int bi = 0; bi < nb; bi++) {
    const int B = batch > 0 ? batch : batches[bi];
    double ms[1 + PLAN_MAX_GROUPS], speedup[1 + PLAN_MAX_GROUPS];
    call_times(&l, B, reps, ms, speedup);
    for (int k = 0; k < l.n; k++) {
      const double sp = speedup[k];
      printf("  %-5s %5d %9.3f %10.2f %8.2fx %7.2fx %8.0f%%\n", l.label[k], B, l.share[k], ms[k], sp, 1 / l.share[k],
             100 * sp * l.share[k]);
    }
    fflush(stdout);
  }
  int rc = profile ? profile_plan(plan_path, device, threads, batch > 0 ? &batch : batches, nb, reps) : 0;
  if (!rc && runs > 0) whole_runs(&pm, run_batch, runs);
  plan_models_free(&pm);
  be->destroy(be);
  return rc;
}
