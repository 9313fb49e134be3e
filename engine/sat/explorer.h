// explorer.h — the view-model of the explorer (stepscope tui): a plan being edited, and
// every number the Schedule view shows, derived from it. No curses here: what the views
// draw is computed by these functions, which are unit-tested without a terminal.
//
// Indices are plan indices: group j holds [g[j].t0, g[j].t1), j = 0 the cleanest
// timesteps; boundary b (0 <= b < ngroups-1) is the t where group b ends and b+1 starts.
// The paper's sampling-order number of group j is i = ngroups - j.
//
// Every edit goes through an explorer_* function, which keeps the plan valid (groups
// contiguous, non-empty, covering [0, T)), records an undo step, marks the plan modified
// and recomputes the derived numbers before it returns: the views only ever read.
#pragma once
#include "../data.h"
#include "../sampler.h"
#include "../unet.h"
#include "plan.h"

#define EXPLORER_UNDO 64

// A group as the groups table shows it.
typedef struct {
  int t0, t1;               // [t0, t1)
  int index;                // sampling order i (1 = noisiest, runs first)
  double snr_hi, snr_lo;    // SNR_dB at t0 and at t1 - 1
  double ratio;             // target MACs over the base model's
  double macs;              // ratio * base MACs per image (0 when the base is unknown)
  double params;            // estimate: ratio * base params (channel pruning scales both alike)
  double share_ddpm;        // fraction of a DDPM run's model calls that fall in the group
  double share_ddim;        // ... of a DDIM-S run's
  // the group's model file, when the plan names one and it was measured
  int has_model;
  double model_macs;
  long model_params;
} GroupRow;

typedef struct {
  Plan plan;
  Schedule sched;           // plan.schedule over plan.T
  double base_macs;         // per image; 0 when no base model is known
  long base_params;
  // measured costs of the group models (explorer_set_model_cost), by plan index
  double model_macs[PLAN_MAX_GROUPS];
  long model_params[PLAN_MAX_GROUPS];
  int ddim_steps;           // S of the "DDIM-S" compute column (default 50, trailing)
  const double *loss_per_t; // base model's measured loss (T values) for ORDER_LOSS, or NULL

  // derived by explorer_update()
  GroupRow row[PLAN_MAX_GROUPS];
  double compute_ddpm, compute_ddim;   // expected compute relative to the base model
  double macs_ddpm, macs_ddim;         // MACs per image of a whole run with the plan
  double base_run_ddpm, base_run_ddim; // ... and with the base model alone
  int calls_ddpm, calls_ddim;          // model calls per run (T and S)

  // The Prune view's fine-tune settings, as `stepscope finetune --distill W --steps-by HOW
  // --budget N` takes them. The explorer's own (not in the plan file; no undo).
  double ft_distill;         // W in [0, 1]: the base model as teacher with weight W (0: none)
  int ft_by_loss;            // 1: the budget spread by each pruned model's loss gap; 0: equally
  long ft_budget;            // total steps over all groups; 0: plan.finetune_steps × ngroups

  int sel_group, sel_bound;  // selection: a group and a boundary (-1: none, one group)
  int modified;              // edited since the last load or save
  char msg[160];             // why the last edit was refused, or "" (explorer_* returned -1)

  // undo ring: snapshots of the plan before each edit
  Plan *undo;
  int undo_len, undo_pos;    // valid snapshots [0, undo_len), the current one at undo_pos
} Explorer;

// Starts on a copy of *p, or, when p is NULL, on the default plan: linear schedule,
// T = 1000, 5 groups uniform in SNR_dB, progressive ratios with k = 0.5.
void explorer_init(Explorer *ex, const Plan *p);
void explorer_free(Explorer *ex);
// Replaces the plan (after a load); clears undo and the modified flag.
void explorer_set_plan(Explorer *ex, const Plan *p);
// Base model cost per image (0, 0: unknown).
void explorer_set_base_cost(Explorer *ex, double macs, long params);
// A group model's measured cost (macs <= 0 clears it).
void explorer_set_model_cost(Explorer *ex, int g, double macs, long params);
// Recomputes every derived number; the edit functions call it themselves.
void explorer_update(Explorer *ex);

// ---- edits: 0 done, -1 refused with ex->msg saying why (the plan is unchanged) ----

// Moves boundary b by dt timesteps, clamped so that both neighbours keep >= 1 timestep.
// The split becomes manual. Moving a boundary that is already at its limit is refused.
int explorer_move_boundary(Explorer *ex, int b, int dt);
// Sets boundary b to timestep t (clamped as above).
int explorer_set_boundary(Explorer *ex, int b, int t);
// Splits group g in two at its middle (in t, or in SNR_dB for an SNR split). Both halves
// keep g's ratio under a manual order, else the order's formula is applied to the new count.
int explorer_add_group(Explorer *ex, int g);
// Removes group g by merging it into a neighbour (the noisier one, or the cleaner one for
// the last group). The merged group keeps the larger ratio under a manual order.
int explorer_remove_group(Explorer *ex, int g);
// Re-splits the current number of groups uniformly in t or in SNR_dB (ratios kept).
int explorer_set_split(Explorer *ex, SplitKind kind);
// Changes the noise schedule; an SNR split is redone on the new curve, t boundaries stay.
int explorer_set_schedule(Explorer *ex, SchedKind kind);
// Ratio edits make the order manual. Ratios are kept in [0.05, 1].
int explorer_add_ratio(Explorer *ex, int g, double delta);
int explorer_set_ratio(Explorer *ex, int g, double ratio);
// Applies an order's formula with floor k (ORDER_LOSS needs loss_per_t).
int explorer_apply_order(Explorer *ex, OrderKind order, double k);

// The pruning criterion of the plan (magnitude | taylor | diff-pruning | random).
int explorer_set_criterion(Explorer *ex, const char *name);
// Proxy-search rounds, fine-tune steps per group, calibration images (each >= 1 but
// finetune_steps >= 0); a negative value keeps the current one.
int explorer_set_search(Explorer *ex, int rounds, int finetune_steps, int calib_n);
// The fine-tune settings: distill W in [0, 1], by_loss 0 | 1, budget >= 0 (0: follow the
// plan, finetune_steps × groups); a negative value keeps the current one. Not a plan edit.
int explorer_set_finetune(Explorer *ex, double distill, int by_loss, long budget);
// The fine-tune budget in effect: ft_budget, or the plan's finetune_steps × ngroups.
long explorer_finetune_budget(const Explorer *ex);
// Group g's model file (a finished prune or fine-tune); "" clears it.
int explorer_set_model(Explorer *ex, int g, const char *path);

int explorer_undo(Explorer *ex);
int explorer_redo(Explorer *ex);

// Selection helpers (clamped to the plan).
void explorer_select_group(Explorer *ex, int g);
void explorer_select_bound(Explorer *ex, int b);
// The boundary nearest to timestep t, or -1 with one group.
int explorer_nearest_bound(const Explorer *ex, int t);

// ---- measurements for the Loss view ----

// Picks the model that predicts eps at timestep t (base model, or a group's model).
typedef UNet *(*ModelForT)(void *user, int t);

// Mean eps-MSE over timestep bin `bin` of `nbins` (t in [bin*T/nbins, (bin+1)*T/nbins)):
// n held-out images of d, each at one t drawn uniformly in the bin, with fixed noise.
// The images, t and noise depend only on (seed, bin), so curves of different models —
// and a SAT run that switches models inside a bin — see the very same inputs, and one bin
// at a time leaves room for progress and cancel between bins. Models must share a backend.
double explorer_loss_bin(ModelForT model_for_t, void *user, const Schedule *s, const Dataset *d,
                         int n, int bin, int nbins, uint64_t seed, int batch);
