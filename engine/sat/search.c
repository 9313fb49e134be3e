// search.c — pruning to a MACs target, and the proxy search loop.
#include "search.h"
#include "../checkpoint.h"
#include "proposer.h"
#include <limits.h>
#include <math.h>
#include <string.h>

// ---- cost of a width vector ----

// MACs of the model with `units` units per group. A model built on the CPU backend costs
// a few allocations and no arithmetic, and unet_macs stays the one definition of MACs.
double pruner_macs(const Pruner *p, const int *units) {
  const UNet *m = p->base;
  WidthMap w = {0};
  for (int g = 0; g < p->ngroups; g++) widthmap_set(&w, m->widths.name[g], units[g] * p->imp->unit[g]);
  Err e;
  UNet *c = unet_create(&m->cfg, &w, p->cost, &e);
  widthmap_free(&w);
  CHECK(c, "cost model: %s", e.msg);
  double macs = unet_macs(c);
  unet_free(c);
  return macs;
}

int pruner_init(Pruner *p, const UNet *base, const Importance *imp, Err *e) {
  memset(p, 0, sizeof *p);
  if (imp->ngroups != base->widths.n) return err_set(e, "prune: importance scores are for another model");
  for (int g = 0; g < imp->ngroups; g++)
    if (imp->width[g] != base->widths.value[g]) return err_set(e, "prune: importance scores are for another model");
  p->base = base;
  p->imp = imp;
  p->ngroups = imp->ngroups;
  p->cost = backend_cpu_ref_create();
  p->units = xmalloc(sizeof(int) * p->ngroups);
  p->share = xmalloc(sizeof(double) * p->ngroups);
  for (int g = 0; g < p->ngroups; g++) p->units[g] = importance_units(imp, g);
  p->base_macs = unet_macs(base);
  // MACs are linear in any single group's width: a layer's cost is (out channels) x (in
  // channels) x const, and no layer has one group on both sides (checked by a test), so
  // one unit less tells the whole slope.
  int *u = xmalloc(sizeof(int) * p->ngroups);
  memcpy(u, p->units, sizeof(int) * p->ngroups);
  for (int g = 0; g < p->ngroups; g++) {
    if (p->units[g] < 2) { p->share[g] = 0; continue; }
    u[g]--;
    p->share[g] = (p->base_macs - pruner_macs(p, u)) * p->units[g] / p->base_macs;
    u[g]++;
  }
  free(u);
  return 0;
}

void pruner_free(Pruner *p) {
  if (p->cost) p->cost->destroy(p->cost);
  free(p->units);
  free(p->share);
  memset(p, 0, sizeof *p);
}

static void units_at(const Pruner *p, const double *ratio, double s, int *u) {
  for (int g = 0; g < p->ngroups; g++) {
    double r = fmin(1.0, s * ratio[g]);
    int k = (int)lround(r * p->units[g]);
    u[g] = k < 1 ? 1 : k > p->units[g] ? p->units[g] : k;
  }
}

int pruner_fit(const Pruner *p, const double *ratio, double target, double tol, int *units, double *macs_ratio,
               Err *e) {
  int G = p->ngroups;
  double lo = (1 - tol) * target, hi = (1 + tol) * target, B = p->base_macs, rmin = 1;
  for (int g = 0; g < G; g++) {
    if (!(ratio[g] > 0 && ratio[g] <= 1)) return err_set(e, "keep ratio %g of '%s' is outside (0, 1]", ratio[g], p->base->widths.name[g]);
    rmin = fmin(rmin, ratio[g]);
  }
  units_at(p, ratio, 1.0, units);
  double m = pruner_macs(p, units) / B;
  if (m >= lo && m <= hi) { *macs_ratio = m; return 0; }

  // Bisection on s: a(s) = MACs(units_at(s)) is a non-decreasing step function, from the
  // smallest model (s = 0: one unit per group) to the base (s = 1/rmin: every ratio 1).
  int *u_lo = xmalloc(sizeof(int) * G), *u_hi = xmalloc(sizeof(int) * G), rc = -1;
  double s_lo = 0, s_hi = 1.0 / rmin, a_lo, a_hi;
  units_at(p, ratio, s_lo, u_lo);
  units_at(p, ratio, s_hi, u_hi);
  a_lo = pruner_macs(p, u_lo) / B;
  a_hi = pruner_macs(p, u_hi) / B;
  if (a_lo > hi) { err_set(e, "target %.3f is below the smallest model (%.3f of the MACs)", target, a_lo); goto done; }
  if (a_hi < lo) { err_set(e, "target %.3f is above the base model", target); goto done; }
  if (a_lo >= lo) { memcpy(units, u_lo, sizeof(int) * G); *macs_ratio = a_lo; rc = 0; goto done; }
  if (a_hi <= hi) { memcpy(units, u_hi, sizeof(int) * G); *macs_ratio = a_hi; rc = 0; goto done; }
  for (int it = 0; it < 50 && s_hi - s_lo > 1e-9; it++) {  // keep a_lo < lo, a_hi > hi
    double s = 0.5 * (s_lo + s_hi);
    units_at(p, ratio, s, units);
    double a = pruner_macs(p, units) / B;
    if (a >= lo && a <= hi) { *macs_ratio = a; rc = 0; goto done; }
    if (a < lo) { s_lo = s; a_lo = a; memcpy(u_lo, units, sizeof(int) * G); }
    else { s_hi = s; a_hi = a; memcpy(u_hi, units, sizeof(int) * G); }
  }
  // Between two neighbouring steps of a(s) several groups round up at once. Add single
  // units to the lower one: each time to the group furthest below its scaled proposal
  // whose next unit keeps the cost under the window's top, until inside the window.
  memcpy(units, u_lo, sizeof(int) * G);
  double a = a_lo;
  while (a < lo) {
    int best = -1;
    double best_fill = 0, best_a = 0;
    for (int g = 0; g < G; g++) {
      if (units[g] >= p->units[g]) continue;
      double want = fmax(1e-9, fmin(1.0, s_lo * ratio[g]) * p->units[g]);
      double fill = (units[g] + 1) / want;
      if (best >= 0 && fill >= best_fill) continue;
      units[g]++;
      double ag = pruner_macs(p, units) / B;
      units[g]--;
      if (ag <= hi) { best = g; best_fill = fill; best_a = ag; }
    }
    if (best < 0) break;
    units[best]++;
    a = best_a;
  }
  if (a >= lo && a <= hi) { *macs_ratio = a; rc = 0; }
  else err_set(e, "no unit-granular widths within %.0f %% of target %.3f (closest %.3f, %.3f)", 100 * tol, target, a, a_hi);
done:
  free(u_lo);
  free(u_hi);
  return rc;
}

UNet *pruner_apply(const Pruner *p, const int *units, Err *e) {
  int G = p->ngroups, **keep = xmalloc(sizeof(int *) * G), *nkeep = xmalloc(sizeof(int) * G);
  for (int g = 0; g < G; g++) {
    keep[g] = xmalloc(sizeof(int) * p->imp->width[g]);
    nkeep[g] = importance_keep(p->imp, g, units[g], keep[g]);
  }
  UNet *m = unet_prune(p->base, keep, nkeep, e);
  for (int g = 0; g < G; g++) free(keep[g]);
  free(keep);
  free(nkeep);
  return m;
}

// ---- the search ----

SearchCfg search_defaults(double target, int t0, int t1) {
  return (SearchCfg){.target = target, .tol = 0.02, .t0 = t0, .t1 = t1, .rounds = 8, .proposer = "builtin",
                     .timeout_s = 60, .seed = 0, .batch = 32};
}

UNet *search_run(UNet *base, const Schedule *s, const Calib *c, const Importance *imp, const SearchCfg *cfg,
                 Bank *bank, Err *e) {
  memset(bank, 0, sizeof *bank);
  bank->best = -1;
  const char *prop = cfg->proposer ? cfg->proposer : "builtin";
  if (strcmp(prop, "builtin") && (strncmp(prop, "cmd:", 4) || !prop[4]))
    return err_set(e, "unknown proposer '%s' (builtin or cmd:PROGRAM)", prop), NULL;
  if (!(cfg->target > 0 && cfg->target <= 1)) return err_set(e, "MACs target %g is outside (0, 1]", cfg->target), NULL;
  if (cfg->t0 < 0 || cfg->t1 > s->T || cfg->t0 >= cfg->t1 || c->n < 1)
    return err_set(e, "search: bad timestep range [%d, %d) or empty calibration batch", cfg->t0, cfg->t1), NULL;
  Pruner p;
  if (pruner_init(&p, base, imp, e)) return NULL;
  int G = p.ngroups;
  bank->ngroups = G;
  bank->name = xmalloc(sizeof *bank->name * G);
  bank->width = xmalloc(sizeof(int) * G);
  bank->share = xmalloc(sizeof(double) * G);
  for (int g = 0; g < G; g++) {
    snprintf(bank->name[g], sizeof bank->name[g], "%s", base->widths.name[g]);
    bank->width[g] = base->widths.value[g];
    bank->share[g] = p.share[g];
  }
  bank->target = cfg->target;
  bank->t0 = cfg->t0;
  bank->t1 = cfg->t1;

  Rng rng;
  rng_seed(&rng, cfg->seed ^ 0x5ea7c4);
  UNet *best = NULL;
  int *units = xmalloc(sizeof(int) * G);
  double *keep = xmalloc(sizeof(double) * G);
  int cancelled = 0;
  for (int k = 1; k <= (cfg->rounds > 0 ? cfg->rounds : 1); k++) {
    if (k > 1 && cfg->cancelled && cfg->cancelled(cfg->ctx)) { cancelled = 1; break; }
    Err why;
    int ok = 1;
    if (k == 1) propose_uniform(bank, keep);
    else if (!strcmp(prop, "builtin")) propose_builtin(bank, &rng, keep);
    else ok = propose_cmd(prop + 4, bank, k, cfg->timeout_s, keep, &why) == 0;
    BankEntry *x = bank_add(bank, k);
    if (ok) x->keep = memcpy(xmalloc(sizeof(double) * G), keep, sizeof(double) * G);
    double macs;
    if (ok && pruner_fit(&p, keep, cfg->target, cfg->tol, units, &macs, &why)) {
      ok = 0;
      char tmp[sizeof why.msg];
      snprintf(tmp, sizeof tmp, "%s", why.msg);
      err_set(&why, "infeasible proposal: %s", tmp);
    }
    UNet *cand = ok ? pruner_apply(&p, units, &why) : NULL;
    // Candidates run one at a time: on the base's arena (and its twins'), which its importance
    // pass grew (or the first candidate grows), instead of each growing its own.
    if (cand) unet_share_arena(cand, base);
    if (!cand) {
      snprintf(x->skipped, sizeof x->skipped, "%s", why.msg);
    } else {
      x->realized = xmalloc(sizeof(double) * G);
      for (int g = 0; g < G; g++) x->realized[g] = (double)units[g] / p.units[g];
      x->macs_ratio = macs;
      x->score = calib_loss(cand, s, c, cfg->t0, cfg->t1, cfg->batch);
      if (bank->best < 0 || x->score < bank->e[bank->best].score) {
        bank->best = bank->n - 1;
        unet_free(best);
        best = cand;
      } else {
        unet_free(cand);
      }
    }
    if (cfg->report) cfg->report(cfg->ctx, bank, x);
  }
  free(units);
  free(keep);
  pruner_free(&p);
  if (best) unet_own_arena(best);
  if (!best && cancelled) err_set(e, "cancelled");
  else if (!best) err_set(e, "no round of the search produced a candidate (last: %s)", bank->n ? bank->e[bank->n - 1].skipped : "none");
  return best;
}

int search_save(const char *path, UNet *m, const Plan *p, const PlanGroup *g, const char *parent, Criterion crit,
                const char *proposer, const Bank *bank, const char *data_spec, Err *e) {
  char bank_path[PATH_MAX], t0[16], t1[16], T[16], ratio[32], proxy[32];
  if (snprintf(bank_path, sizeof bank_path, "%s.bank.json", path) >= (int)sizeof bank_path)
    return err_set(e, "%s: path too long", path);
  snprintf(t0, sizeof t0, "%d", g->t0);
  snprintf(t1, sizeof t1, "%d", g->t1);
  snprintf(T, sizeof T, "%d", p->T);
  snprintf(ratio, sizeof ratio, "%.6g", g->ratio);
  snprintf(proxy, sizeof proxy, "%.9g", bank->e[bank->best].score);
  const char *extra[] = {"parent", parent, "t0", t0, "t1", t1, "T", T, "schedule", schedule_name(p->schedule),
                         "ratio", ratio, "criterion", criterion_name(crit), "proposer", proposer,
                         "proxy_loss", proxy, NULL};
  return ckpt_save(path, m, NULL, data_spec, extra, e) || bank_save(bank, bank_path, e) ? -1 : 0;
}
