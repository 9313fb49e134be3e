// plan.h — a Step-Adaptive Training plan: the timestep groups, each group's size ratio,
// how they were chosen, the pruning settings, and the paths of the group models.
//
// Groups are stored in t order (g[0] holds the cleanest timesteps, [0, b1)); the paper
// numbers them in *sampling* order, i = 1 the noisiest (run first) ... i = N the cleanest,
// so group g[j] is the paper's i = N - j. The progressive allocation gives group i
// FLOPs(i) = (i/N + (N-i)/N * k) * F: small models where x_t is mostly noise.
#pragma once
#include "../common.h"
#include "../schedule.h"

#define PLAN_MAX_GROUPS 16

typedef enum { SPLIT_T, SPLIT_SNR, SPLIT_MANUAL } SplitKind;
typedef enum { ORDER_PROGRESSIVE, ORDER_REGRESSIVE, ORDER_UNIFORM, ORDER_LOSS, ORDER_MANUAL } OrderKind;

typedef struct {
  int t0, t1;          // timesteps [t0, t1)
  double ratio;        // target MACs as a fraction of the base model's
  char model[512];     // path of the pruned / fine-tuned group model ("" until made)
} PlanGroup;

typedef struct {
  char base[512];      // base model path
  SchedKind schedule;
  int T;
  SplitKind split;
  OrderKind order;
  double k;            // floor of the progressive/regressive formula, in (0, 1]
  int ngroups;
  PlanGroup g[PLAN_MAX_GROUPS];
  // pruning settings
  char criterion[32];  // magnitude | taylor | diff-pruning | random
  int rounds;          // proxy-search rounds
  char proposer[512];  // builtin | cmd:PROGRAM
  int calib_n;         // calibration images (held out)
  uint64_t seed;
  int finetune_steps;
} Plan;

void plan_init(Plan *p, SchedKind s, int T);  // one group, ratio 1, defaults
// Boundaries: uniform in t, uniform in SNR_dB, or explicit (bounds: ngroups-1 ascending
// interior boundaries in (0, T)). Keeps ratios where the group count is unchanged.
int plan_split(Plan *p, const Schedule *s, SplitKind kind, int ngroups, const int *bounds, Err *e);
// Ratios from an order; loss_per_t (T entries, only for ORDER_LOSS) is the base model's
// measured validation loss. manual: ratios[] given in t order.
int plan_set_ratios(Plan *p, OrderKind order, double k, const double *loss_per_t, const double *manual, Err *e);
int plan_group_of(const Plan *p, int t);  // index of the group holding t
// Expected compute of a sampling run relative to the base model: sum over model calls of
// the ratio of the group holding each call's t, over the number of calls. steps_per_t is T
// counts (how many sampler calls fall on each t: all ones for DDPM).
double plan_expected_compute(const Plan *p, const int *steps_per_t);

int plan_save(const char *path, const Plan *p, Err *e);   // atomic, commented text
int plan_load(const char *path, Plan *p, Err *e);          // errors name the line
const char *split_name(SplitKind k);
const char *order_name(OrderKind k);
int split_parse(const char *s, SplitKind *k);
int order_parse(const char *s, OrderKind *k);
