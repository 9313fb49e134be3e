// fid.c — feature statistics, the Fréchet distance between them, and their cache file.
#include "fid.h"
#include "linalg.h"
#include "safetensors.h"
#include <math.h>
#include <string.h>

void fid_stats_from_features(const float *feat, long n, int d, FidStats *s) {
  s->d = d;
  s->n = n;
  s->mu = xcalloc(d, sizeof(double));
  s->sigma = xcalloc((size_t)d * d, sizeof(double));
  for (long i = 0; i < n; i++)
    for (int j = 0; j < d; j++) s->mu[j] += feat[i * d + j];
  for (int j = 0; j < d; j++) s->mu[j] /= n > 0 ? n : 1;
  // Centred sums (two passes): no cancellation from subtracting large raw moments.
  double *c = xmalloc(sizeof(double) * d);
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < d; j++) c[j] = feat[i * d + j] - s->mu[j];
    for (int j = 0; j < d; j++)
      for (int k = j; k < d; k++) s->sigma[j * d + k] += c[j] * c[k];
  }
  for (int j = 0; j < d; j++)
    for (int k = j; k < d; k++) s->sigma[k * d + j] = s->sigma[j * d + k] /= n > 1 ? n - 1 : 1;
  free(c);
}

void fid_stats_of_images(Classifier *m, const float *x, long n, FidStats *s) {
  int d = classifier_feature_dim(m);
  float *feat = xmalloc(sizeof(float) * n * d);
  classifier_features(m, x, n, 250, feat, NULL);
  fid_stats_from_features(feat, n, d, s);
  free(feat);
}

void fid_stats_free(FidStats *s) {
  free(s->mu);
  free(s->sigma);
  *s = (FidStats){0};
}

// The trace term needs Tr((S1^{1/2} S2 S1^{1/2})^{1/2}). With R1 = S1^{1/2} and
// R2 = S2^{1/2} (symmetric eigendecompositions) the matrix under the root is A A^T for
// A = R1 R2, so the trace is the sum of A's singular values. Taking them by one-sided
// Jacobi rather than as square roots of the eigenvalues of A A^T keeps the error at
// eps·|S| instead of sqrt(eps)·|S|, which matters for singular covariances (fewer images
// than features): there the FID of a set against itself still comes out as 0.
FidResult fid_distance(const FidStats *a, const FidStats *b) {
  CHECK(a->d == b->d, "FID of statistics with %d and %d features", a->d, b->d);
  int d = a->d, nc;
  FidResult r = {0};
  for (int i = 0; i < d; i++) r.mean_term += (a->mu[i] - b->mu[i]) * (a->mu[i] - b->mu[i]);
  double *r1 = xmalloc(sizeof(double) * d * d), *r2 = xmalloc(sizeof(double) * d * d);
  double *prod = xmalloc(sizeof(double) * d * d), *sv = xmalloc(sizeof(double) * d), neg;
  linalg_sqrtm_psd(d, a->sigma, r1, &r.nclamped, &r.most_negative);
  linalg_sqrtm_psd(d, b->sigma, r2, &nc, &neg);
  r.nclamped += nc;
  if (neg < r.most_negative) r.most_negative = neg;
  linalg_matmul(d, r1, r2, prod);
  linalg_singular_values(d, prod, sv);
  double tr_sqrt = 0, tr = 0;
  for (int i = 0; i < d; i++) {
    tr_sqrt += sv[i];
    tr += a->sigma[i * d + i] + b->sigma[i * d + i];
  }
  r.trace_term = tr - 2 * tr_sqrt;
  r.fid = r.mean_term + r.trace_term;
  free(r1); free(r2); free(prod); free(sv);
  return r;
}

// ---- cache ----

int fid_stats_save(const char *path, const FidStats *s, const char *classifier_hash, const char *const *extra, Err *e) {
  StFile f;
  st_init(&f);
  int d = s->d;
  float *h = xmalloc(sizeof(float) * d * d);
  for (int i = 0; i < d; i++) h[i] = (float)s->mu[i];
  st_add(&f, "mu", 1, (int64_t[]){d}, h);
  for (int i = 0; i < d * d; i++) h[i] = (float)s->sigma[i];
  st_add(&f, "sigma", 2, (int64_t[]){d, d}, h);
  free(h);
  char buf[32];
  st_set_meta(&f, "format", FID_STATS_FORMAT);
  st_set_meta(&f, "measure", "FID-FMNIST (features of stepscope's own classifier, not Inception)");
  snprintf(buf, sizeof buf, "%ld", s->n);
  st_set_meta(&f, "n", buf);
  snprintf(buf, sizeof buf, "%d", d);
  st_set_meta(&f, "d", buf);
  st_set_meta(&f, "classifier_hash", classifier_hash);
  for (int i = 0; extra && extra[i] && extra[i + 1]; i += 2) st_set_meta(&f, extra[i], extra[i + 1]);
  int rc = st_save(path, &f, e);
  st_free(&f);
  return rc;
}

int fid_stats_load(const char *path, const char *expect_hash, FidStats *s, Err *e) {
  StFile f;
  *s = (FidStats){0};
  if (st_load(path, &f, e)) return -1;
  int rc = -1;
  const char *fmt = st_meta(&f, "format"), *hash = st_meta(&f, "classifier_hash"), *n = st_meta(&f, "n");
  const StTensor *mu = st_find(&f, "mu"), *sigma = st_find(&f, "sigma");
  if (!fmt || strcmp(fmt, FID_STATS_FORMAT) || !hash || !n || !mu || !sigma) {
    err_set(e, "%s: not FID statistics (format '%s' with mu, sigma, n and classifier_hash)", path, FID_STATS_FORMAT);
    goto done;
  }
  int d = mu->ndim == 1 ? (int)mu->shape[0] : 0;
  if (d < 1 || sigma->ndim != 2 || sigma->shape[0] != d || sigma->shape[1] != d) {
    err_set(e, "%s: mu and sigma have inconsistent shapes", path);
    goto done;
  }
  if (expect_hash && strcmp(hash, expect_hash)) {
    err_set(e, "%s: stale statistics: they were computed with classifier %s, not with this one (%s); "
            "recompute them with `stepscope train --classifier --init CLASSIFIER --steps 0 --stats %s`",
            path, hash, expect_hash, path);
    goto done;
  }
  s->d = d;
  s->n = atol(n);
  s->mu = xmalloc(sizeof(double) * d);
  s->sigma = xmalloc(sizeof(double) * d * d);
  for (int i = 0; i < d; i++) s->mu[i] = mu->data[i];
  for (int i = 0; i < d * d; i++) s->sigma[i] = sigma->data[i];
  rc = 0;
done:
  st_free(&f);
  return rc;
}
