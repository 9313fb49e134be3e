#include "kid.h"
#include "common.h"
#include "rng.h"
#include <string.h>

static inline double cubic_kernel(const float *a, const float *b, int d) {
  double s = 0;
  for (int k = 0; k < d; k++) s += (double)a[k] * b[k];
  s = s / d + 1;
  return s * s * s;
}

// Sums are taken row by row into rows[] (one thread per row, in a fixed order) and the rows
// added in order, so the result does not depend on how OpenMP shares the rows out: the same
// features give the same KID bit for bit, which pairing and the cache rely on.
static double ordered_sum(const double *rows, long n) {
  double s = 0;
  for (long i = 0; i < n; i++) s += rows[i];
  return s;
}

// sum over i != j of k(x_i, x_j): each pair once, doubled.
static double within_sum(const float *x, long m, int d, double *rows) {
#pragma omp parallel for schedule(dynamic, 16)
  for (long i = 0; i < m; i++) {
    double s = 0;
    for (long j = i + 1; j < m; j++) s += cubic_kernel(x + i * d, x + j * d, d);
    rows[i] = s;
  }
  return 2 * ordered_sum(rows, m);
}

double kid_unbiased(const float *x, long m, const float *y, long n, int d) {
  CHECK(m >= 2 && n >= 2, "KID needs two sets of at least 2 (got %ld and %ld)", m, n);
  double *rows = xmalloc(sizeof(double) * (m > n ? m : n));
#pragma omp parallel for schedule(static)
  for (long i = 0; i < m; i++) {
    double s = 0;
    for (long j = 0; j < n; j++) s += cubic_kernel(x + i * d, y + j * d, d);
    rows[i] = s;
  }
  double sxy = ordered_sum(rows, m);
  double kid = within_sum(x, m, d, rows) / ((double)m * (m - 1)) + within_sum(y, n, d, rows) / ((double)n * (n - 1)) -
               2 * sxy / ((double)m * n);
  free(rows);
  return kid;
}

int kid_subsets(const float *x, long n, const float *ref, long nref, int d, int m, int first, double *out) {
  if (m < 2 || n < m || nref < m) return 0;
  int count = (int)(n / m);
  long *perm = xmalloc(sizeof(long) * nref);
  float *pick = xmalloc(sizeof(float) * (size_t)m * d);
  for (int k = 0; k < count; k++) {
    // The first m of a Fisher-Yates shuffle seeded with first + k: the same rows for every set.
    Rng r;
    rng_seed(&r, 0x6b1d0000ull + (uint64_t)(first + k));
    for (long i = 0; i < nref; i++) perm[i] = i;
    for (long i = 0; i < m; i++) {
      long j = i + rng_int(&r, (int)(nref - i)), tmp = perm[i];
      perm[i] = perm[j];
      perm[j] = tmp;
      memcpy(pick + i * d, ref + perm[i] * d, sizeof(float) * d);
    }
    out[k] = kid_unbiased(x + (size_t)k * m * d, m, pick, m, d);
  }
  free(perm);
  free(pick);
  return count;
}
