// stats.h — the few statistics a comparison stands on: mean, standard deviation and the 95 %
// interval of a mean (Student's t), used for FID and KID over seed sets and subsets, paired
// differences between two models sampled on the same seeds, and per-bin loss changes.
#pragma once

typedef struct {
  int n;          // values summarised
  double mean;    // their mean
  double sd;      // sample standard deviation (n - 1 normalisation); 0 when n < 2
  double lo, hi;  // 95 % interval of the mean: mean -+ t(0.975, n - 1) sd / sqrt(n); NAN when n < 2
} Summary;

Summary summarize(const double *v, int n);
// Student's t quantile at 0.975 for df degrees of freedom (df >= 1): exact to 3 decimals.
double t_quantile_975(int df);
// Where an interval lies: +1 wholly above 0, -1 wholly below, 0 containing 0 (or undefined).
int interval_sign(const Summary *s);
