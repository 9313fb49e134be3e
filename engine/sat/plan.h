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
// Uniform in t: b_j = floor(j T / N). Uniform in SNR_dB: b_j is the first t whose SNR_dB is
// below the level j/N of the way from SNR_dB(0) down to SNR_dB(T-1). With a new group count,
// progressive/regressive/uniform ratios are recomputed with p->k; loss and manual plans give
// each new group the ratio of the old group holding its middle and become manual. A group
// keeps its model path only if its [t0, t1) is unchanged. s->T must equal p->T.
int plan_split(Plan *p, const Schedule *s, SplitKind kind, int ngroups, const int *bounds, Err *e);
// Ratios from an order; loss_per_t (T entries, only for ORDER_LOSS) is the base model's
// measured validation loss. manual: ratios[] given in t order.
// loss: ratios proportional to each group's mean loss, scaled so that their mean (over
// groups, as for progressive) equals the progressive mean with this k, (N+1)/2N + k(N-1)/2N;
// a ratio that would exceed 1 is capped at 1 and the excess spread over the other groups in
// proportion to their losses (water-filling), so the mean still holds (the mean is <= 1).
int plan_set_ratios(Plan *p, OrderKind order, double k, const double *loss_per_t, const double *manual, Err *e);
int plan_group_of(const Plan *p, int t);  // index of the group holding t
// Expected compute of a sampling run relative to the base model: sum over model calls of
// the ratio of the group holding each call's t, over the number of calls. steps_per_t is T
// counts (how many sampler calls fall on each t: all ones for DDPM). 0 when there are none.
double plan_expected_compute(const Plan *p, const int *steps_per_t);

int plan_save(const char *path, const Plan *p, Err *e);   // atomic, commented text
int plan_load(const char *path, Plan *p, Err *e);          // errors name the line
// Whole-plan checks plan_save makes: groups contiguous over [0, T), ratios in (0, 1], k,
// known criterion, proposer builtin | cmd:..., paths a plan file can hold. 0 or -1.
int plan_validate(const Plan *p, Err *e);
int plan_criterion_known(const char *name);  // magnitude | taylor | diff-pruning | random
const char *split_name(SplitKind k);
const char *order_name(OrderKind k);
int split_parse(const char *s, SplitKind *k);
int order_parse(const char *s, OrderKind *k);
