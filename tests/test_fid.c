// FID-FMNIST: the eigensolver and matrix square root, the Fréchet distance against closed
// forms, feature statistics, the statistics cache (and its staleness check), fid_eval_cli.
#include "engine/fid.h"
#include "engine/linalg.h"
#include "engine/rng.h"
#include "tui/cli/fid_cli.h"
#include "test.h"

// A random symmetric positive definite matrix X X^T / m + eps I, X (n, m) Gaussian.
static void random_spd(Rng *r, int n, int m, double eps, double *a) {
  double *x = xmalloc(sizeof(double) * n * m);
  for (int i = 0; i < n * m; i++) x[i] = rng_normal(r);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int k = 0; k < m; k++) s += x[i * m + k] * x[j * m + k];
      a[i * n + j] = s / m + (i == j ? eps : 0);
    }
  free(x);
}

// A random orthogonal matrix: the eigenvectors of a random symmetric one.
static void random_orthogonal(Rng *r, int n, double *q) {
  double *a = xmalloc(sizeof(double) * n * n), *w = xmalloc(sizeof(double) * n);
  for (int i = 0; i < n; i++)
    for (int j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng_normal(r);
  linalg_eigh(n, a, w, q);
  free(a);
  free(w);
}

static double max_abs_diff(int n, const double *a, const double *b) {
  double m = 0;
  for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

TEST(fid_eigh_reconstructs_the_matrix) {
  Rng r;
  rng_seed(&r, 1);
  enum { N = 40 };
  static double a[N * N], v[N * N], w[N], t[N * N], back[N * N];
  for (int i = 0; i < N; i++)
    for (int j = i; j < N; j++) a[i * N + j] = a[j * N + i] = rng_normal(&r);
  linalg_eigh(N, a, w, v);
  for (int i = 1; i < N; i++) ASSERT(w[i - 1] <= w[i]);
  for (int i = 0; i < N; i++)  // back = V diag(w) V^T
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < N; k++) s += v[i * N + k] * w[k] * v[j * N + k];
      back[i * N + j] = s;
    }
  ASSERTF(max_abs_diff(N * N, a, back) < 1e-12, "reconstruction error %.3g", max_abs_diff(N * N, a, back));
  for (int i = 0; i < N; i++)  // V^T V = I
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < N; k++) s += v[k * N + i] * v[k * N + j];
      t[i * N + j] = s - (i == j);
    }
  double zero[N * N] = {0};
  ASSERT(max_abs_diff(N * N, t, zero) < 1e-12);
}

TEST(fid_sqrtm_squares_back_to_the_input) {
  Rng r;
  rng_seed(&r, 2);
  enum { N = 64 };
  static double a[N * N], root[N * N], sq[N * N];
  int clamped;
  double neg;
  random_spd(&r, N, 2 * N, 1e-3, a);
  linalg_sqrtm_psd(N, a, root, &clamped, &neg);
  linalg_matmul(N, root, root, sq);
  ASSERT_EQ_INT(clamped, 0);
  ASSERTF(max_abs_diff(N * N, a, sq) < 1e-12, "|R R - A| = %.3g", max_abs_diff(N * N, a, sq));
  // A singular PSD matrix (rank 10 of 64): rounding makes some of its zero eigenvalues
  // negative; they are clamped, and the root still squares back.
  random_spd(&r, N, 10, 0, a);
  linalg_sqrtm_psd(N, a, root, &clamped, &neg);
  linalg_matmul(N, root, root, sq);
  ASSERTF(max_abs_diff(N * N, a, sq) < 1e-10, "singular: |R R - A| = %.3g", max_abs_diff(N * N, a, sq));
  ASSERT(neg <= 0 && neg > -1e-12);
}

// n samples of dimension d with correlated features
static float *random_features(Rng *r, long n, int d) {
  float *f = xmalloc(sizeof(float) * n * d);
  for (long i = 0; i < n; i++) {
    float z = rng_normal(r);
    for (int j = 0; j < d; j++) f[i * d + j] = 0.5f * z + rng_normal(r) * (1 + 0.1f * j) + j;
  }
  return f;
}

TEST(fid_stats_from_features_small_example) {
  // Three 2-D points: mean (3, 2); deviations (-2,0), (0,2), (2,-2); covariance with
  // n - 1 = 2: [[4, -2], [-2, 4]].
  float f[6] = {1, 2, 3, 4, 5, 0};
  FidStats s;
  fid_stats_from_features(f, 3, 2, &s);
  ASSERT_NEAR(s.mu[0], 3, 1e-12, 0);
  ASSERT_NEAR(s.mu[1], 2, 1e-12, 0);
  ASSERT_NEAR(s.sigma[0], 4, 1e-12, 0);
  ASSERT_NEAR(s.sigma[1], -2, 1e-12, 0);
  ASSERT_NEAR(s.sigma[2], -2, 1e-12, 0);
  ASSERT_NEAR(s.sigma[3], 4, 1e-12, 0);
  fid_stats_free(&s);
}

TEST(fid_of_a_set_against_itself_is_zero) {
  Rng r;
  rng_seed(&r, 3);
  float *f = random_features(&r, 2000, 96);
  FidStats s;
  fid_stats_from_features(f, 2000, 96, &s);
  FidResult res = fid_distance(&s, &s);
  ASSERTF(fabs(res.fid) < 1e-6, "FID(a, a) = %.3g", res.fid);
  // fewer samples than features: a singular covariance, still 0
  FidStats t;
  fid_stats_from_features(f, 40, 96, &t);
  res = fid_distance(&t, &t);
  ASSERTF(fabs(res.fid) < 1e-6, "FID(a, a) with a singular covariance = %.3g", res.fid);
  fid_stats_free(&s);
  fid_stats_free(&t);
  free(f);
}

// Two Gaussians with diagonal covariances diag(a), diag(b):
//   FID = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
// Rotating both by the same orthogonal Q (mu -> Q mu, S -> Q S Q^T) changes nothing.
TEST(fid_gaussians_closed_form_diagonal_and_rotated) {
  Rng r;
  rng_seed(&r, 4);
  enum { D = 48 };
  FidStats s1 = {D, 1000, xcalloc(D, sizeof(double)), xcalloc(D * D, sizeof(double))};
  FidStats s2 = {D, 1000, xcalloc(D, sizeof(double)), xcalloc(D * D, sizeof(double))};
  double expect = 0;
  for (int i = 0; i < D; i++) {
    s1.mu[i] = rng_normal(&r);
    s2.mu[i] = rng_normal(&r);
    double a = 0.1 + rng_uniform(&r) * 3, b = i % 7 == 0 ? 0 : 0.1 + rng_uniform(&r);  // some b_i = 0
    s1.sigma[i * D + i] = a;
    s2.sigma[i * D + i] = b;
    expect += (s1.mu[i] - s2.mu[i]) * (s1.mu[i] - s2.mu[i]) + (sqrt(a) - sqrt(b)) * (sqrt(a) - sqrt(b));
  }
  FidResult res = fid_distance(&s1, &s2);
  ASSERT_NEAR(res.fid, expect, 1e-9, 1e-12);

  static double q[D * D], t[D * D], qt[D * D];
  double mu[D];
  random_orthogonal(&r, D, q);
  for (int i = 0; i < D; i++)
    for (int j = 0; j < D; j++) qt[i * D + j] = q[j * D + i];
  FidStats *s[2] = {&s1, &s2};
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < D; i++) {
      mu[i] = 0;
      for (int j = 0; j < D; j++) mu[i] += q[i * D + j] * s[k]->mu[j];
    }
    memcpy(s[k]->mu, mu, sizeof mu);
    linalg_matmul(D, q, s[k]->sigma, t);
    linalg_matmul(D, t, qt, s[k]->sigma);
  }
  ASSERT(fabs(s1.sigma[1]) > 1e-3);  // really not diagonal any more
  // S2 is singular (its b_i = 0): rounding the rotation leaves its null space with
  // eigenvalues of order eps·|S2|, whose square roots (~1e-8) no method can undo; 1e-6
  // allows for them. Tight agreement elsewhere is checked by the diagonal case above.
  res = fid_distance(&s1, &s2);
  ASSERT_NEAR(res.fid, expect, 1e-6, 0);
  ASSERT_NEAR(fid_distance(&s2, &s1).fid, expect, 1e-6, 0);  // the distance is symmetric
  printf("    rotated: |FID - closed form| = %.2g\n", fabs(res.fid - expect));
  fid_stats_free(&s1);
  fid_stats_free(&s2);
}

// FID from samples: two sample sets of the same Gaussian are close; shifting one set by
// a vector v adds exactly |v|^2.
TEST(fid_sample_shift_adds_squared_norm) {
  Rng r;
  rng_seed(&r, 5);
  enum { N = 3000, D = 16 };
  float *f = random_features(&r, N, D);
  FidStats a, b;
  fid_stats_from_features(f, N, D, &a);
  double v2 = 0;
  for (long i = 0; i < N; i++)
    for (int j = 0; j < D; j++) f[i * D + j] += 0.25f * (j % 3);
  for (int j = 0; j < D; j++) v2 += 0.0625 * (j % 3) * (j % 3);
  fid_stats_from_features(f, N, D, &b);
  ASSERT_NEAR(fid_distance(&a, &b).fid, v2, 1e-4, 1e-4);
  fid_stats_free(&a);
  fid_stats_free(&b);
  free(f);
}

TEST(fid_stats_cache_roundtrip_and_stale_detection) {
  Rng r;
  rng_seed(&r, 6);
  float *f = random_features(&r, 500, 12);
  FidStats s, t;
  fid_stats_from_features(f, 500, 12, &s);
  char path[300];
  snprintf(path, sizeof path, "%s/stats.safetensors", test_tmpdir());
  Err e;
  const char *extra[] = {"data", "fashion-mnist", NULL};
  ASSERTF(fid_stats_save(path, &s, "0123456789abcdef", extra, &e) == 0, "%s", e.msg);
  ASSERTF(fid_stats_load(path, "0123456789abcdef", &t, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(t.d, 12);
  ASSERT_EQ_INT(t.n, 500);
  for (int i = 0; i < 144; i++) ASSERT_NEAR(t.sigma[i], s.sigma[i], 0, 1e-6);  // stored as float32
  ASSERTF(fabs(fid_distance(&s, &t).fid) < 1e-4, "FID(stats, cached stats) = %.3g", fid_distance(&s, &t).fid);
  fid_stats_free(&t);
  ASSERT(fid_stats_load(path, NULL, &t, &e) == 0);  // no expectation: any classifier
  fid_stats_free(&t);
  ASSERT(fid_stats_load(path, "fedcba9876543210", &t, &e) == -1);
  ASSERTF(strstr(e.msg, "stale"), "message: %s", e.msg);
  ASSERT(t.mu == NULL);
  fid_stats_free(&s);
  free(f);
}

// End to end on a tiny random classifier: statistics of a set of images written as the
// cache, then fid_eval_cli on the same images gives ~0 and on shifted images more; the
// cache of another classifier is refused.
TEST(fid_eval_cli_against_a_cache) {
  Backend *be = backend_cpu_ref_create();
  ClassifierConfig c = {.in_ch = 1, .img = 8, .width = {4, 6, 8}, .groups = 2, .nclass = 3};
  Err e;
  Classifier *m = classifier_create(&c, be, &e);
  ASSERT(m);
  classifier_init_params(m, 7);
  enum { N = 300 };
  float *x = xmalloc(sizeof(float) * N * 64);
  Rng r;
  rng_seed(&r, 8);
  rng_normal_fill(&r, x, N * 64);
  char cls[300], stats[300], hash[17];
  snprintf(cls, sizeof cls, "%s/tiny-cls.safetensors", test_tmpdir());
  snprintf(stats, sizeof stats, "%s/tiny-stats.safetensors", test_tmpdir());
  ASSERTF(classifier_save(cls, m, NULL, &e) == 0, "%s", e.msg);
  FidStats s;
  fid_stats_of_images(m, x, N, &s);
  classifier_hash(m, hash);
  ASSERTF(fid_stats_save(stats, &s, hash, NULL, &e) == 0, "%s", e.msg);
  fid_stats_free(&s);
  double fid = -1, fid2 = -1;
  ASSERT_EQ_INT(fid_eval_cli(be, x, N, 1, 8, 8, cls, stats, &fid), 0);
  ASSERTF(fabs(fid) < 1e-4, "FID-FMNIST of the cached set itself = %.3g", fid);
  for (int i = 0; i < N * 64; i++) x[i] = 0.5f * x[i] + 0.5f;
  ASSERT_EQ_INT(fid_eval_cli(be, x, N, 1, 8, 8, cls, stats, &fid2), 0);
  ASSERTF(fid2 > 100 * fabs(fid) && fid2 > 1e-3, "FID-FMNIST of other images %.3g (self %.3g)", fid2, fid);
  ASSERT_EQ_INT(fid_eval_cli(be, x, N, 1, 32, 32, cls, stats, NULL), 1);  // wrong image size
  classifier_init_params(m, 9);  // another classifier: the cache is stale
  ASSERTF(classifier_save(cls, m, NULL, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(fid_eval_cli(be, x, N, 1, 8, 8, cls, stats, NULL), 1);
  free(x);
  classifier_free(m);
  be->destroy(be);
}

// The shipped assets belong together: the statistics were made by the shipped classifier.
TEST(fid_shipped_assets_agree) {
  Backend *be = backend_cpu_ref_create();
  Err e;
  Classifier *m = classifier_load(FID_DEFAULT_CLASSIFIER, be, &e);
  if (!m) { be->destroy(be); test_skip("no " FID_DEFAULT_CLASSIFIER " (run from the repository root)"); return; }
  char hash[17];
  classifier_hash(m, hash);
  FidStats s;
  ASSERTF(fid_stats_load(FID_DEFAULT_STATS, hash, &s, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(s.d, classifier_feature_dim(m));
  fid_stats_free(&s);
  classifier_free(m);
  be->destroy(be);
}
