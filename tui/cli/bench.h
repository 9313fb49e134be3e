// bench.h — what the parts of `stepscope bench` (cmd_bench.c, bench_plan.c) share.
#pragma once
#include "kernels/backend.h"

// Says, beside CPU figures, that OPENBLAS_CORETYPE picks OpenBLAS's kernels when it is set.
void bench_note_blas_env(const Backend *be);

// bench sample --plan (bench_plan.c): each group model of the plan against its base, per
// model call at batch 1, 16 and 64 (or `batch`), median of `reps`; with profile, op by op; then
// `runs` whole DDIM-50 runs of the plan and of the base at run_batch. Returns the exit status.
int bench_plan(const char *plan_path, int batch, int threads, int reps, const char *device, int run_batch, int runs,
               int profile);
