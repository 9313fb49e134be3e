// sat_cli.h — what the SAT subcommands (importance, prune, finetune, eval) share: a plan
// opened with its base model, schedule and data, the --group argument, and (with plan) the
// --proposer one.
#pragma once
#include "engine/checkpoint.h"
#include "engine/sat/importance.h"
#include "engine/sat/plan.h"

typedef struct {
  const char *path;     // the plan file
  Plan plan;
  Backend *be;
  UNet *base;           // EMA weights when the file has them
  CkptInfo info;
  Schedule sched;
  char data[256];       // data spec: --data, else what the base model was trained on
  Dataset test;         // the data set's test split (when asked for)
  Calib calib;          // its first plan.calib_n images (when asked for)
} SatCtx;

// Opens the plan, the base model on --device, and with want_calib the test split and the
// calibration batch. Prints the error and returns -1 on failure (then nothing to close).
int sat_open(SatCtx *c, const char *plan_path, const char *device, int threads, const char *data,
             int want_calib);
void sat_close(SatCtx *c);
// "--group G" as "2" or "g2" into [*lo, *hi): one group, or every group when arg is NULL.
// Prints the usage error and returns 2.
int sat_groups(const SatCtx *c, const char *arg, int *lo, int *hi);
// --proposer: builtin or cmd:PROGRAM (NULL: not given). Returns 0, or 2 (bad usage, printed).
int sat_check_proposer(const char *p);
// Loads the test split of spec and checks it fits m; prints the error and returns -1.
int sat_load_test(const char *spec, const UNet *m, Dataset *d);
