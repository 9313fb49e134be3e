// eval_fid.h — `stepscope eval --fid N`: samples from a model or a plan, drawn from the same
// seeds for every candidate, scored by FID-FMNIST and KID-FMNIST (features of stepscope's own
// classifier, not Inception) over S disjoint seed sets, with the real-data floor beside them
// and, for two candidates, the paired difference with its 95 % interval and a verdict.
#pragma once
#include "tui/cli/eval_fid_cfg.h"

int eval_fid_run(const EvalFid *c);  // exit status
