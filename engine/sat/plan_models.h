// plan_models.h — a plan's models, loaded: the base and one model per timestep group, and
// the sampler callback that runs, at each t, the model of the group holding t (the
// multi-model sampling of Step-Adaptive Training). It counts the MACs it spends, so a run
// can report its compute against the base model's for the same sampler.
#pragma once
#include "../checkpoint.h"
#include "plan.h"
#include "../sampler.h"

typedef struct {
  Plan plan;
  UNet *base;
  UNet *group[PLAN_MAX_GROUPS];  // the group models (NULL: the base runs for that group)
  int base_only;                 // run the base at every t (the comparison run)
  double macs, base_macs;        // MACs per image spent so far, and what the base would spend
  long calls;
  UNet *running;                 // the model plan_models_begin started
} PlanModels;

// Loads PLAN's base and group models (EMA weights when use_ema). A group without a model
// is an error unless allow_missing, when the base stands in for it.
int plan_models_load(PlanModels *pm, const char *plan_path, Backend *be, int use_ema, int allow_missing, Err *e);
void plan_models_free(PlanModels *pm);
UNet *plan_models_at(PlanModels *pm, int t);  // the model that runs at t
// The sampler's model (an EpsSplit): pass &plan_models_split with the PlanModels as user.
extern const EpsSplit plan_models_split;
