// eval_fid.h — `stepscope eval --fid N`: N samples from a model or a plan, with the same
// seeds and sampler for every candidate, scored by FID-FMNIST, with the MACs they cost and
// the time they took.
#pragma once
#include "../engine/sampler.h"

typedef struct {
  const char *model, *plan;  // one of them
  int n, batch, threads;
  SamplerCfg sampler;
  const char *device;
  const char *out_png;       // a grid of the first 64 samples, or NULL
} EvalFid;

int eval_fid_run(const EvalFid *c);  // exit status
