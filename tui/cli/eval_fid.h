// eval_fid.h — `stepscope eval --fid N`: samples from a model or a plan, drawn from the same
// seeds for every candidate, scored by FID-FMNIST and KID-FMNIST (features of stepscope's own
// classifier, not Inception) over S disjoint seed sets, with the real-data floor beside them
// and, for two candidates, the paired difference with its 95 % interval and a verdict.
#pragma once
#include "engine/sampler.h"

enum { EVAL_MAX_SETS = 64 };

typedef struct {
  const char *model, *plan;  // the candidate: one of them
  const char *against;       // the reference (a plan, or a model .safetensors); NULL: a plan's
                             // own base model, and none for a model
  int n, sets, batch, threads;
  int kid_subset;            // images per KID subset (0: min(1000, n), halved below 2000)
  SamplerCfg sampler;        // seed: of set 0's first image; set j starts at seed + j * n
  const char *device;
  const char *out_png;       // a grid of the candidate's first 64 samples, or NULL
  const char *data;          // the real images: floor and KID's test features (NULL: fashion-mnist)
  const char *cache;         // cache folder (NULL: the default, "": none)
  int csv;
} EvalFid;

int eval_fid_run(const EvalFid *c);  // exit status

// The verdict sentence on a paired difference (candidate - reference): sign +1 / -1 / 0 as
// interval_sign gives it per measure, have_* whether that measure has an interval at all.
void eval_verdict(char *out, size_t cap, const char *cand, const char *ref, int have_fid, int fid_sign,
                  int have_kid, int kid_sign, int n);
