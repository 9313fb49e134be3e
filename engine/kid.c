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

// sum over i != j of k(x_i, x_j): each pair once, doubled.
static double within_sum(const float *x, long m, int d) {
  double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(dynamic, 16)
  for (long i = 0; i < m; i++)
    for (long j = i + 1; j < m; j++) s += cubic_kernel(x + i * d, x + j * d, d);
  return 2 * s;
}

double kid_unbiased(const float *x, long m, const float *y, long n, int d) {
  CHECK(m >= 2 && n >= 2, "KID needs two sets of at least 2 (got %ld and %ld)", m, n);
  double sxy = 0;
#pragma omp parallel for reduction(+ : sxy) schedule(static)
  for (long i = 0; i < m; i++)
    for (long j = 0; j < n; j++) sxy += cubic_kernel(x + i * d, y + j * d, d);
  return within_sum(x, m, d) / ((double)m * (m - 1)) + within_sum(y, n, d) / ((double)n * (n - 1)) -
         2 * sxy / ((double)m * n);
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
