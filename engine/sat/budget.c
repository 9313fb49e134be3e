#include "budget.h"
#include "../train.h"
#include <math.h>

void budget_by_gap(const double *gap, int n, long total, double min_share, long *steps) {
  if (n < 1) return;
  long floor_each = (long)ceil(min_share * (double)total - 1e-9);
  if (floor_each < 0) floor_each = 0;
  if (floor_each * n > total) floor_each = total / n;
  const long rest = total - floor_each * n;
  double sum = 0;
  for (int i = 0; i < n; i++) sum += gap[i] > 0 ? gap[i] : 0;  // NAN > 0 is false
  // ideal share of the rest, its whole part handed out now, the fraction kept for the remainders
  double *frac = xmalloc(sizeof(double) * n);
  long given = 0;
  for (int i = 0; i < n; i++) {
    double p = sum > 0 ? (gap[i] > 0 ? gap[i] : 0) / sum : 1.0 / n;
    double ideal = p * (double)rest;
    long whole = (long)floor(ideal);
    if (whole > rest - given) whole = rest - given;  // rounding can never overshoot the rest
    steps[i] = floor_each + whole;
    frac[i] = ideal - (double)whole;
    given += whole;
  }
  for (long left = rest - given; left > 0; left--) {
    int best = 0;
    for (int i = 1; i < n; i++)
      if (frac[i] > frac[best]) best = i;
    steps[best]++;
    frac[best] = -1;  // each group gets at most one of the remainders
  }
  free(frac);
}

double budget_group_gap(UNet *model, UNet *base, const Schedule *s, const Dataset *d, int t0, int t1, int n,
                        int nbins, uint64_t seed, int batch, double *base_loss, double *model_loss) {
  int *model_of_t = xmalloc(sizeof(int) * s->T);
  for (int t = 0; t < s->T; t++) model_of_t[t] = t >= t0 && t < t1 ? 0 : -1;  // -1: not evaluated
  double *curve = xmalloc(sizeof(double) * nbins), lb, lm;
  eval_loss_curve_models(&base, 1, model_of_t, s, d, n, nbins, seed, batch, curve, &lb);
  eval_loss_curve_models(&model, 1, model_of_t, s, d, n, nbins, seed, batch, curve, &lm);
  free(curve);
  free(model_of_t);
  if (base_loss) *base_loss = lb;
  if (model_loss) *model_loss = lm;
  double gap = lm - lb;
  return gap > 0 ? gap : 0;  // NAN (no draw in the range) > 0 is false
}
