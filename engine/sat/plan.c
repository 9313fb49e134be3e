// plan.c — the arithmetic of a SAT plan: group boundaries, size ratios, expected compute.
// Reading and writing plan files is in plan_file.c.
#include "plan.h"
#include <math.h>
#include <string.h>

void plan_init(Plan *p, SchedKind s, int T) {
  memset(p, 0, sizeof *p);
  p->schedule = s;
  p->T = T;
  p->split = SPLIT_T;
  p->order = ORDER_PROGRESSIVE;
  p->k = 0.5;
  p->ngroups = 1;
  p->g[0] = (PlanGroup){.t0 = 0, .t1 = T, .ratio = 1.0};
  strcpy(p->criterion, "taylor");
  p->rounds = 8;
  strcpy(p->proposer, "builtin");
  p->calib_n = 256;
  p->seed = 0;
  p->finetune_steps = 2000;
}

// ---------------------------------------------------------------------------------------
// Boundaries. b[0] = 0 < b[1] < ... < b[n] = T; group j is [b[j], b[j+1]).

static void bounds_uniform_t(int T, int n, int *b) {
  for (int j = 0; j <= n; j++) b[j] = (int)((long)j * T / n);
}

// SNR_dB falls monotonically with t. Level j (j = 1..n-1) lies j/n of the way from
// SNR_dB(0) down to SNR_dB(T-1); boundary j is the first t whose SNR_dB is below it, so
// group j holds the timesteps with SNR_dB in (level j+1, level j]. On a coarse schedule two
// levels can fall between the same pair of timesteps; boundaries are then nudged apart so
// that no group is empty.
static void bounds_uniform_snr(const Schedule *s, int n, int *b) {
  const int T = s->T;
  const double hi = s->snr_db[0], lo = s->snr_db[T - 1];
  b[0] = 0;
  int t = 1;
  for (int j = 1; j < n; j++) {
    double level = hi + (lo - hi) * j / n;
    while (t < T - 1 && s->snr_db[t] >= level) t++;
    b[j] = t;
  }
  b[n] = T;
  for (int j = 1; j < n; j++) if (b[j] <= b[j - 1]) b[j] = b[j - 1] + 1;      // no empty group...
  for (int j = n - 1; j > 0; j--) if (b[j] >= b[j + 1]) b[j] = b[j + 1] - 1;  // ...at either end
}

int plan_split(Plan *p, const Schedule *s, SplitKind kind, int ngroups, const int *bounds, Err *e) {
  const int T = p->T;
  if (s->T != T) return err_set(e, "the schedule has T = %d, the plan %d", s->T, T);
  if (ngroups < 1 || ngroups > PLAN_MAX_GROUPS)
    return err_set(e, "the number of groups must be 1..%d, not %d", PLAN_MAX_GROUPS, ngroups);
  if (ngroups > T) return err_set(e, "%d groups do not fit in T = %d timesteps", ngroups, T);
  int b[PLAN_MAX_GROUPS + 1];
  switch (kind) {
    case SPLIT_T: bounds_uniform_t(T, ngroups, b); break;
    case SPLIT_SNR: bounds_uniform_snr(s, ngroups, b); break;
    case SPLIT_MANUAL:
      b[0] = 0;
      b[ngroups] = T;
      for (int j = 1; j < ngroups; j++) {
        if (!bounds) return err_set(e, "a manual split needs %d boundaries", ngroups - 1);
        b[j] = bounds[j - 1];
        if (b[j] <= 0 || b[j] >= T) return err_set(e, "boundary %d is outside (0, %d)", b[j], T);
        if (b[j] <= b[j - 1]) return err_set(e, "boundaries must ascend: %d after %d", b[j], b[j - 1]);
      }
      break;
    default: return err_set(e, "unknown split kind %d", (int)kind);
  }

  // New ratios: with the same count the old ones stay. Otherwise the formula orders are
  // recomputed for the new count, and loss/manual plans give each new group the ratio of
  // the old group holding its middle (so splitting a group keeps both halves at its ratio)
  // and become manual: a loss order needs the loss curve, which only the caller has.
  double ratio[PLAN_MAX_GROUPS];
  int recompute = 0;
  for (int j = 0; j < ngroups; j++) {
    if (ngroups == p->ngroups) ratio[j] = p->g[j].ratio;
    else if (p->order == ORDER_LOSS || p->order == ORDER_MANUAL) ratio[j] = p->g[plan_group_of(p, (b[j] + b[j + 1] - 1) / 2)].ratio;
    else recompute = 1;
  }
  // A group model was made for its old range; it is kept only where the range is unchanged.
  PlanGroup old[PLAN_MAX_GROUPS];
  int nold = p->ngroups;
  memcpy(old, p->g, sizeof old);
  for (int j = 0; j < ngroups; j++) {
    PlanGroup *g = &p->g[j];
    memset(g, 0, sizeof *g);
    g->t0 = b[j];
    g->t1 = b[j + 1];
    g->ratio = recompute ? 1.0 : ratio[j];
    for (int i = 0; i < nold; i++)
      if (old[i].t0 == g->t0 && old[i].t1 == g->t1) memcpy(g->model, old[i].model, sizeof g->model);
  }
  if (ngroups != nold && p->order == ORDER_LOSS) p->order = ORDER_MANUAL;
  p->ngroups = ngroups;
  p->split = kind;
  if (recompute) return plan_set_ratios(p, p->order, p->k, NULL, NULL, e);
  return 0;
}

// ---------------------------------------------------------------------------------------
// Ratios.

// The paper's progressive allocation for group g[j] (paper's i = N - j, sampling order):
// i/N + (N-i)/N k, written with one division so that N = 5, k = 0.5 gives exactly 0.6.
static double progressive(int N, int j, double k) {
  int i = N - j;
  return (i + (N - i) * k) / N;
}

// Scales w (n positive weights) to ratios with the given mean, none above 1: water-filling.
// Groups that would exceed 1 are capped at 1 and their excess is spread over the others in
// proportion to their weights, until nothing exceeds 1. Always feasible since mean <= 1.
static void scale_capped(const double *w, int n, double mean, double *r) {
  int capped[PLAN_MAX_GROUPS] = {0};
  for (;;) {
    double budget = mean * n, wsum = 0;
    for (int j = 0; j < n; j++) {
      if (capped[j]) budget -= 1.0;
      else wsum += w[j];
    }
    int more = 0;
    for (int j = 0; j < n; j++) {
      if (capped[j]) { r[j] = 1.0; continue; }
      r[j] = budget * w[j] / wsum;
      if (r[j] > 1.0) { capped[j] = 1; more = 1; }
    }
    if (!more) return;
  }
}

int plan_set_ratios(Plan *p, OrderKind order, double k, const double *loss_per_t, const double *manual, Err *e) {
  const int N = p->ngroups;
  double r[PLAN_MAX_GROUPS];
  if (order != ORDER_MANUAL && !(k > 0 && k <= 1)) return err_set(e, "k must be in (0, 1], not %g", k);
  switch (order) {
    case ORDER_PROGRESSIVE:
      for (int j = 0; j < N; j++) r[j] = progressive(N, j, k);
      break;
    case ORDER_REGRESSIVE:
      for (int j = 0; j < N; j++) r[j] = progressive(N, N - 1 - j, k);
      break;
    case ORDER_UNIFORM: {
      double mean = 0;
      for (int j = 0; j < N; j++) mean += progressive(N, j, k) / N;
      for (int j = 0; j < N; j++) r[j] = mean;
      break;
    }
    case ORDER_LOSS: {
      if (!loss_per_t) return err_set(e, "order loss needs the base model's loss per timestep");
      double w[PLAN_MAX_GROUPS], mean = 0;
      for (int j = 0; j < N; j++) {
        double sum = 0;
        for (int t = p->g[j].t0; t < p->g[j].t1; t++) {
          if (!(loss_per_t[t] > 0) || !isfinite(loss_per_t[t]))
            return err_set(e, "the loss at t = %d is %g; it must be positive and finite", t, loss_per_t[t]);
          sum += loss_per_t[t];
        }
        w[j] = sum / (p->g[j].t1 - p->g[j].t0);
        mean += progressive(N, j, k) / N;
      }
      scale_capped(w, N, mean, r);
      break;
    }
    case ORDER_MANUAL:
      if (!manual) return err_set(e, "a manual order needs %d ratios", N);
      for (int j = 0; j < N; j++) {
        if (!(manual[j] > 0 && manual[j] <= 1)) return err_set(e, "ratio %g of group %d is not in (0, 1]", manual[j], j);
        r[j] = manual[j];
      }
      break;
    default: return err_set(e, "unknown order kind %d", (int)order);
  }
  for (int j = 0; j < N; j++) p->g[j].ratio = r[j];
  p->order = order;
  if (order != ORDER_MANUAL) p->k = k;
  return 0;
}

// ---------------------------------------------------------------------------------------
// Lookups and accounting.

int plan_group_of(const Plan *p, int t) {
  if (t < 0 || t >= p->T) return -1;
  int lo = 0, hi = p->ngroups - 1;  // the group with t0 <= t < t1, by bisection on t0
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (p->g[mid].t0 <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

double plan_expected_compute(const Plan *p, const int *steps_per_t) {
  double calls = 0, cost = 0;
  for (int j = 0; j < p->ngroups; j++) {
    long n = 0;
    for (int t = p->g[j].t0; t < p->g[j].t1; t++) n += steps_per_t[t];
    calls += n;
    cost += n * p->g[j].ratio;
  }
  return calls > 0 ? cost / calls : 0;  // a run with no model calls costs nothing
}

// ---------------------------------------------------------------------------------------
// Names.

static const char *const split_names[] = {"t", "snr", "manual"};
static const char *const order_names[] = {"progressive", "regressive", "uniform", "loss", "manual"};

const char *split_name(SplitKind k) { return (unsigned)k < 3 ? split_names[k] : "?"; }
const char *order_name(OrderKind k) { return (unsigned)k < 5 ? order_names[k] : "?"; }

int split_parse(const char *s, SplitKind *k) {
  for (int i = 0; i < 3; i++) if (!strcmp(s, split_names[i])) { *k = (SplitKind)i; return 0; }
  return -1;
}

int order_parse(const char *s, OrderKind *k) {
  for (int i = 0; i < 5; i++) if (!strcmp(s, order_names[i])) { *k = (OrderKind)i; return 0; }
  return -1;
}
