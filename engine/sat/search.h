// search.h — pruning to a MACs target, and the paper's proxy search over per-group widths.
//
// A proposal gives every width group a keep ratio in (0, 1]. The Pruner turns it into
// whole structural units per group whose model costs the target fraction r of the base
// model's MACs within a relative tolerance (|macs/base - r| <= tol * r, tol = 0.02):
//   1. the proposal as it is, rounded to units, if it already fits;
//   2. else bisection on a multiplier s applied to every ratio (min(1, s * ratio)), which
//      keeps the proposal's shape;
//   3. then, from the largest s still under the target, single units are added, each time
//      to the group furthest below its (scaled) proposed share whose unit still fits.
// Within each group the kept units are the most important ones (importance_keep).
//
// The search (Li et al., arXiv 2312.13307): R rounds; in each a proposer gives a
// proposal, the candidate is pruned to the target and scored by the proxy — the mean
// eps-MSE on the calibration batch with t in the group's [t0, t1) (calib_loss) — and
// (proposal, widths, score, MACs) joins the memory bank. Round 1 is always the uniform
// proposal, so the winner (lowest proxy) is never worse than uniform pruning. Proposers
// (proposer.h): the built-in one, or an external command speaking JSON.
#pragma once
#include "bank.h"
#include "importance.h"
#include "plan.h"

typedef struct {
  const UNet *base;
  const Importance *imp;
  int ngroups;
  int *units;          // structural units per group in the base model
  double base_macs;
  double *share;       // per group: the fraction of base MACs that scales with its width
  Backend *cost;       // CPU backend for cost-only models
} Pruner;

int pruner_init(Pruner *p, const UNet *base, const Importance *imp, Err *e);
void pruner_free(Pruner *p);
double pruner_macs(const Pruner *p, const int *units);  // MACs per image of a unit count vector
// Unit counts (per group) for `ratio` meeting target within tol; macs_ratio receives the
// result's MACs / base MACs. -1 + e when no unit-granular widths fit.
int pruner_fit(const Pruner *p, const double *ratio, double target, double tol, int *units, double *macs_ratio,
               Err *e);
// The physically smaller model keeping the most important units of each group.
UNet *pruner_apply(const Pruner *p, const int *units, Err *e);

// Saves a search's winner m as the model of group g of plan p: the checkpoint at path, whose
// metadata records where it came from (parent model, the group's [t0, t1), T, schedule, MACs
// ratio, criterion, proposer and the winning proxy loss), and the bank beside it at
// path + ".bank.json". Both writes are atomic. 0, or -1 with e filled.
int search_save(const char *path, UNet *m, const Plan *p, const PlanGroup *g, const char *parent, Criterion crit,
                const char *proposer, const Bank *bank, const char *data_spec, Err *e);

typedef struct {
  double target, tol;  // MACs ratio and relative tolerance
  int t0, t1;
  int rounds;
  const char *proposer;  // "builtin" | "cmd:PROGRAM"
  int timeout_s;         // external proposer's time per round
  uint64_t seed;         // built-in proposer
  int batch;             // calibration images per forward pass
  // Called after every round (skipped ones included), e.g. to print a line.
  void (*report)(void *ctx, const Bank *b, const BankEntry *last);
  // Asked before every round after the first: nonzero stops the search, which returns
  // the best candidate so far (may be NULL).
  int (*cancelled)(void *ctx);
  void *ctx;
} SearchCfg;
SearchCfg search_defaults(double target, int t0, int t1);

// Runs the search on base and returns the winner (caller frees); the bank holds every
// round. NULL + e when no round produced a candidate.
UNet *search_run(UNet *base, const Schedule *s, const Calib *c, const Importance *imp, const SearchCfg *cfg,
                 Bank *bank, Err *e);
