// The statistics behind every comparison: summaries and t intervals against hand computations,
// KID against its definition and its expected behaviour, the paired difference of a set with
// itself, and an interval that shrinks as the number of samples grows.
#include "engine/fid.h"
#include "engine/kid.h"
#include "engine/rng.h"
#include "engine/stats.h"
#include "tui/cli/eval_report.h"
#include "test.h"

TEST(stats_summary_matches_a_hand_computation) {
  const double v[4] = {1, 2, 3, 4};
  Summary s = summarize(v, 4);
  ASSERT_EQ_INT(s.n, 4);
  ASSERT_NEAR(s.mean, 2.5, 1e-15, 0);
  ASSERT_NEAR(s.sd, sqrt(5.0 / 3.0), 1e-15, 0);  // squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over n - 1
  double half = 3.182 * sqrt(5.0 / 3.0) / 2;      // t(0.975, 3) sd / sqrt(4)
  ASSERT_NEAR(s.lo, 2.5 - half, 1e-12, 0);
  ASSERT_NEAR(s.hi, 2.5 + half, 1e-12, 0);
  ASSERT_EQ_INT(interval_sign(&s), 1);
  Summary one = summarize(v, 1);
  ASSERT(one.mean == 1 && one.sd == 0 && isnan(one.lo) && interval_sign(&one) == 0);
  const double same[3] = {0.25, 0.25, 0.25};
  Summary z = summarize(same, 3);
  ASSERT(z.sd == 0 && z.lo == 0.25 && z.hi == 0.25);
}

TEST(stats_t_quantiles) {
  ASSERT_NEAR(t_quantile_975(1), 12.706, 1e-9, 0);
  ASSERT_NEAR(t_quantile_975(30), 2.042, 1e-9, 0);
  ASSERT_NEAR(t_quantile_975(31), 2.0395, 2e-4, 0);  // beyond the table: the expansion
  ASSERT_NEAR(t_quantile_975(120), 1.9799, 2e-4, 0);
  ASSERT_NEAR(t_quantile_975(100000), 1.96, 1e-3, 0);
  for (int df = 2; df < 200; df++) ASSERTF(t_quantile_975(df) < t_quantile_975(df - 1), "df %d", df);
}

static void gaussian_features(Rng *r, float *x, long n, int d, float shift) {
  for (long i = 0; i < n * d; i++) x[i] = rng_normal(r) + (i % d == 0 ? shift : 0);
}

// The sum of the cubic kernel k(u, v) = (u.v / d + 1)^3 over the pairs of a row of x (m rows)
// and a row of y (n rows); `within` (y is x) leaves out the pairs of a row with itself.
static double kernel_sum(const float *x, int m, const float *y, int n, int d, int within) {
  double sum = 0;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      if (!within || i != j) {
        double dot = 0;
        for (int k = 0; k < d; k++) dot += (double)x[i * d + k] * y[j * d + k];
        sum += pow(dot / d + 1, 3);
      }
  return sum;
}

// The definition written out, with each pair in both orders.
static double kid_by_definition(const float *x, int m, const float *y, int n, int d) {
  double sxx = kernel_sum(x, m, x, m, d, 1), syy = kernel_sum(y, n, y, n, d, 1), sxy = kernel_sum(x, m, y, n, d, 0);
  return sxx / ((double)m * (m - 1)) + syy / ((double)n * (n - 1)) - 2 * sxy / ((double)m * n);
}

TEST(kid_matches_its_definition_zero_for_alike_sets_positive_for_a_shift) {
  enum { D = 8, M = 300 };
  static float a[M * D], b[M * D], c[M * D];
  Rng r;
  rng_seed(&r, 3);
  gaussian_features(&r, a, M, D, 0);
  gaussian_features(&r, b, M, D, 0);
  gaussian_features(&r, c, M, D, 1.5f);
  ASSERT_NEAR(kid_unbiased(a, 40, c, 50, D), kid_by_definition(a, 40, c, 50, D), 1e-12, 1e-9);
  double self = kid_unbiased(a, M, a, M, D), alike = kid_unbiased(a, M, b, M, D), shifted = kid_unbiased(a, M, c, M, D);
  printf("    KID: a set against itself %.2e, two draws of one Gaussian %.2e, a shifted Gaussian %.2e\n", self, alike,
         shifted);
  // Against itself the within-set sums cancel the cross term but for its diagonal: what is
  // left is 2 (mean off-diagonal k - mean k(x_i, x_i)) / m, so |KID| <= 2 max k(x_i, x_i) / m.
  double diag_max = 0;
  for (int i = 0; i < M; i++) {
    double dot = 0;
    for (int k = 0; k < D; k++) dot += (double)a[i * D + k] * a[i * D + k];
    diag_max = fmax(diag_max, pow(dot / D + 1, 3));
  }
  ASSERTF(fabs(self) <= 2 * diag_max / M, "KID(a, a) = %g, bound %g", self, 2 * diag_max / M);
  ASSERT(fabs(alike) < 0.05 * shifted);
  ASSERT(shifted > 0);
}

TEST(kid_subsets_pair_up_and_cover_the_set) {
  enum { D = 6, N = 250, REF = 400 };
  static float x[N * D], ref[REF * D];
  Rng r;
  rng_seed(&r, 4);
  gaussian_features(&r, x, N, D, 0.5f);
  gaussian_features(&r, ref, REF, D, 0);
  double v[8], w[8];
  ASSERT_EQ_INT(kid_subsets(x, N, ref, REF, D, 100, 7, v), 2);  // 250 / 100: two subsets, 50 left out
  ASSERT_EQ_INT(kid_subsets(x, N, ref, REF, D, 100, 7, w), 2);
  ASSERT(v[0] == w[0] && v[1] == w[1]);  // the same reference rows for the same first index, the same bits
  for (int rep = 0; rep < 20; rep++)     // however OpenMP shares the rows out
    ASSERT(kid_unbiased(x, N, ref, REF, D) == kid_unbiased(x, N, ref, REF, D));
  ASSERT_EQ_INT(kid_subsets(x, N, ref, REF, D, 100, 9, w), 2);
  ASSERT(v[1] != w[1]);                  // another index, other reference rows
  ASSERT_EQ_INT(kid_subsets(x, 50, ref, REF, D, 100, 0, w), 0);
}

// Paired FID differences of two slightly different generators over 6 seed sets: the 95 %
// interval narrows as each set grows, and a generator against itself differs by exactly 0.
TEST(stats_paired_interval_shrinks_as_n_grows) {
  enum { D = 4, SETS = 6 };
  FidStats ref;
  static float big[20000 * D];
  Rng r;
  rng_seed(&r, 5);
  gaussian_features(&r, big, 20000, D, 0);
  fid_stats_from_features(big, 20000, D, &ref);
  double width[2];
  const int sizes[2] = {100, 1600};
  for (int k = 0; k < 2; k++) {
    int n = sizes[k];
    double diff[SETS], self[SETS];
    float *a = xmalloc(sizeof(float) * n * D), *b = xmalloc(sizeof(float) * n * D);
    for (int j = 0; j < SETS; j++) {
      gaussian_features(&r, a, n, D, 0.3f);
      gaussian_features(&r, b, n, D, 0);
      FidStats sa, sb;
      fid_stats_from_features(a, n, D, &sa);
      fid_stats_from_features(b, n, D, &sb);
      diff[j] = fid_distance(&sa, &ref).fid - fid_distance(&sb, &ref).fid;
      self[j] = fid_distance(&sa, &ref).fid - fid_distance(&sa, &ref).fid;
      fid_stats_free(&sa);
      fid_stats_free(&sb);
    }
    Summary s = summarize(diff, SETS), z = summarize(self, SETS);
    ASSERT(z.mean == 0 && z.lo == 0 && z.hi == 0);
    width[k] = s.hi - s.lo;
    printf("    n = %4d: FID difference %+.4f, 95 %% interval [%+.4f, %+.4f]\n", n, s.mean, s.lo, s.hi);
    if (k == 1) ASSERT_EQ_INT(interval_sign(&s), 1);  // a shift of 0.3 shows at n = 1600
    free(a);
    free(b);
  }
  fid_stats_free(&ref);
  ASSERTF(width[1] < 0.5 * width[0], "interval width %.4f at n = 100, %.4f at n = 1600", width[0], width[1]);
}

TEST(stats_verdict_sentences) {
  char s[512];
  eval_verdict(s, sizeof s, "plan", "the base", 1, 1, 1, 1, 2000);
  ASSERTF(strstr(s, "plan is worse than the base at N = 2000") && strstr(s, "agree"), "%s", s);
  eval_verdict(s, sizeof s, "plan", "the base", 1, -1, 1, 0, 500);
  ASSERTF(strstr(s, "better than the base by FID-FMNIST and not distinguishable from it by KID-FMNIST"), "%s", s);
  eval_verdict(s, sizeof s, "plan", "the base", 0, 0, 0, 0, 64);
  ASSERTF(strstr(s, "not distinguishable") && strstr(s, "--seed-sets"), "%s", s);
}

// Image i of a seed set draws its noise from a stream seeded with seed + i: streams of
// neighbouring seeds must be independent, or the images of a set (and the sets themselves)
// would be correlated and FID's spread over sets misread. The first, tenth and thousandth
// normal of 20000 neighbouring streams: correlations within 4 standard errors (1/sqrt(n)) of 0.
TEST(stats_noise_streams_of_neighbouring_seeds_are_uncorrelated) {
  enum { N = 20000 };
  static double a[N + 1][3];
  const int at[3] = {0, 9, 999};
  for (int s = 0; s <= N; s++) {
    Rng r;
    rng_seed(&r, (uint64_t)s);
    for (int k = 0, i = 0; k < 3; k++)
      for (; i <= at[k]; i++) a[s][k] = rng_normal(&r);
  }
  for (int k = 0; k < 3; k++) {
    double sxy = 0, sxx = 0, syy = 0, mx = 0, my = 0;
    for (int s = 0; s < N; s++) { mx += a[s][k]; my += a[s + 1][k]; }
    mx /= N, my /= N;
    for (int s = 0; s < N; s++) {
      double x = a[s][k] - mx, y = a[s + 1][k] - my;
      sxy += x * y, sxx += x * x, syy += y * y;
    }
    double r = sxy / sqrt(sxx * syy);
    ASSERTF(fabs(r) < 4 / sqrt(N), "normal #%d of streams s and s+1: correlation %.4f", at[k] + 1, r);
  }
}
