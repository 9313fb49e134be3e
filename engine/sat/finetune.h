// finetune.h — what `stepscope finetune` and the explorer's Prune view share about the
// fine-tune of a group model: the metadata its checkpoint records, the pruned model it
// started from, and the total step budget spread over the groups by loss gap (budget.h).
#pragma once
#include "../checkpoint.h"
#include "importance.h"  // Watch
#include "plan.h"

// The metadata pairs of a group fine-tune's checkpoint (ckpt_save's extra): parent, ratio,
// base, distill (the weight W; "0" when not distilled) and, when W > 0, teacher (the base
// model, the teacher's file). The strings stay valid while *m does.
typedef struct {
  char ratio[32], distill[32];
  const char *kv[11];
} FinetuneMeta;
const char *const *finetune_meta(FinetuneMeta *m, const char *parent, double ratio, const char *base, double distill);

// The pruned model a group's fine-tune started from: model itself, or, when model is a
// fine-tune already (it has training state), the parent its checkpoint names. Measuring that
// one makes a resumed run get the same steps. 0, or -1 with e.
int finetune_pruned_path(const char *model, Backend *be, char *out, size_t cap, Err *e);

// The distillation weight a checkpoint recorded (0 when it recorded none).
double finetune_recorded_distill(const char *path);

// How --steps-by loss measures: the last n held-out test images (as `stepscope eval` takes
// them; n = FINETUNE_GAP_N by default), fixed seed, and at least 5 % of the budget per group.
enum { FINETUNE_GAP_N = 256, FINETUNE_GAP_SEED = 0, FINETUNE_GAP_BINS = 20, FINETUNE_GAP_BATCH = 64 };
#define FINETUNE_GAP_MIN_SHARE 0.05

typedef struct {
  double gap;                    // budget_group_gap: pruned loss - base loss, at least 0
  double base_loss, model_loss;  // on the group's timesteps
  long steps;                    // its share of the budget
} FinetuneShare;

// Steps by loss gap for groups [lo, hi) of p: group j's model is models[j - lo] (its pruned
// model is measured, see finetune_pruned_path) against base on [t0, t1) of the group, on the
// last min(n, test->n) images of test; then budget_by_gap(..., FINETUNE_GAP_MIN_SHARE). The
// models load on base's backend. out[j - lo]; *n_used (may be NULL): the images measured.
// watch: progress after each group, cancel between groups (then -1, e says "cancelled").
int finetune_steps_by_loss(UNet *base, const Schedule *s, const Dataset *test, int n, const Plan *p, int lo, int hi,
                           const char *const *models, long budget, Watch watch, FinetuneShare *out, int *n_used,
                           Err *e);
// The budget split equally over n groups (budget_by_gap with no gaps): steps[n].
void finetune_steps_equal(int n, long budget, long *steps);
