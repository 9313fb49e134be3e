#include "stats.h"
#include <math.h>

// t(0.975, df) for df = 1..30; beyond, the Cornish-Fisher expansion around z = 1.959964,
// whose error at df = 31 is below 1e-4.
double t_quantile_975(int df) {
  static const double table[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                   2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                   2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return NAN;
  if (df <= 30) return table[df - 1];
  const double z = 1.959963985, z3 = z * z * z, z5 = z3 * z * z, v = df;
  return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v);
}

Summary summarize(const double *v, int n) {
  Summary s = {n, 0, 0, NAN, NAN};
  if (n < 1) { s.mean = NAN; return s; }
  for (int i = 0; i < n; i++) s.mean += v[i];
  s.mean /= n;
  if (n < 2) return s;
  double ss = 0;
  for (int i = 0; i < n; i++) ss += (v[i] - s.mean) * (v[i] - s.mean);
  s.sd = sqrt(ss / (n - 1));
  double half = t_quantile_975(n - 1) * s.sd / sqrt(n);
  s.lo = s.mean - half;
  s.hi = s.mean + half;
  return s;
}

int interval_sign(const Summary *s) {
  if (!(s->n >= 2) || isnan(s->lo)) return 0;
  return s->lo > 0 ? 1 : s->hi < 0 ? -1 : 0;
}
