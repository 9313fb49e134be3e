// eval_report.h — what `stepscope eval --fid` prints: a table of FID-FMNIST and KID-FMNIST
// (mean ± sd over seed sets and subsets) per candidate, the real-data floor beside them, the
// paired difference of the first two with its 95 % interval and a verdict; or all of it as CSV.
#pragma once
#include "engine/sat/plan_models.h"
#include "tui/cli/eval_fid_cfg.h"

// One set of images being scored: a candidate model or plan, its reference, or real images.
typedef struct {
  const char *role;   // "plan", "model", "base", "against", "real"
  const char *path;   // what it is ("" for real images)
  PlanModels *pm;     // NULL for real images
  int base_only;      // run pm's base at every t
  float *feat;        // (sets * n, d) classifier features
  double fid[EVAL_MAX_SETS];
  double *kid;        // nkid subset values
  int nkid, sets;     // sets scored (the floor may have fewer)
  double gmacs, compute, sec;  // per sample, share of the base's MACs, seconds spent sampling here
  int sampled;        // sets sampled in this run (the rest came from the cache)
} EvalSubject;

// Prints subjects [0, n): the candidate, its reference when there is one, the real images
// last. m: images per KID subset; device: the backend that sampled.
void eval_report(const EvalFid *c, const EvalSubject *s, int n, int m, const char *device);

// The verdict sentence on a paired difference (candidate - reference): sign +1 / -1 / 0 as
// interval_sign gives it per measure, have_* whether that measure has an interval at all.
void eval_verdict(char *out, size_t cap, const char *cand, const char *ref, int have_fid, int fid_sign,
                  int have_kid, int kid_sign, int n);
