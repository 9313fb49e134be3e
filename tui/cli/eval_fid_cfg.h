// eval_fid_cfg.h — what `stepscope eval --fid N` is asked to do: the candidate, its reference,
// sizes, sampler and output. Its own header so that the run (eval_fid.c) and its report
// (eval_report.c) both read it without including each other.
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
