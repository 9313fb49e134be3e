// budget.h — a fine-tuning step budget that follows need: each group model gets steps in
// proportion to how far its loss lies above the base model's on the group's timesteps.
#pragma once
#include "../data.h"
#include "../schedule.h"
#include "../unet.h"

// Splits total steps over n groups: each gets at least ceil(min_share * total) (all of them
// alike total / n when the floors would not fit), the rest in proportion to gap[i] (values
// <= 0 or NAN count as 0; all 0: equally). Remainders go by largest fraction, ties to the
// lower index, so steps[] sums to exactly total and the split is deterministic.
void budget_by_gap(const double *gap, int n, long total, double min_share, long *steps);

// The mean eps-MSE of model and of base on the timesteps [t0, t1), on the same images,
// timesteps and noise: eval_loss_curve's draws (n images of d, nbins bins over all T, seed),
// of which those with t in the range are evaluated. Returns the gap model - base in
// eps-MSE, clamped at 0 (0 too when no draw fell in the range).
//
// Why the absolute gap and not the relative one: pruning hurts most where the base's loss is
// tiny (t near T, eps-MSE ~2e-4), so relative gaps span orders of magnitude (+33 000 % for the
// shipped plan's g4 against +190 % for g2) and would hand nearly the whole budget to one group,
// whose loss a few dozen steps bring back near the base's anyway. The absolute gap is the
// excess of the very loss fine-tuning descends, so it measures how much there is to recover:
// 0.055 / 0.038 / 0.017 for g4 / g3 / g2 there.
double budget_group_gap(UNet *model, UNet *base, const Schedule *s, const Dataset *d, int t0, int t1, int n,
                        int nbins, uint64_t seed, int batch, double *base_loss, double *model_loss);
