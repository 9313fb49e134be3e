// fid.h — Fréchet distance between two sets of images, in a classifier's feature space.
//
// FID-FMNIST: the features are those of stepscope's own Fashion-MNIST classifier
// (classifier.h), not of Inception, whose weights cannot be fetched here. The formula is
// the usual one,
//   FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2}),
// with mu the feature mean and S the (unbiased) feature covariance of each set. All of it
// is computed in double precision (linalg.h): S1^{1/2} and S2^{1/2} from symmetric
// eigendecompositions, and the trace of the root of the symmetric product S1^{1/2} S2 S1^{1/2}
// as the sum of the singular values of S1^{1/2} S2^{1/2} (see fid.c for why). Rounding can
// make eigenvalues of singular covariances come out slightly negative; they are clamped
// to 0 and counted in FidResult, so that a caller can say so.
//
// Values are only comparable when computed with the same classifier file: the statistics
// cache records the classifier's weight fingerprint and is refused for any other.
#pragma once
#include "classifier.h"
#include "common.h"

#define FID_STATS_FORMAT "stepscope-fid-stats/1"

typedef struct {
  int d;          // feature dimension
  long n;         // images the statistics come from
  double *mu;     // (d)
  double *sigma;  // (d, d), row-major, covariance with the n - 1 normalisation
} FidStats;

// Statistics of n feature vectors (n, d) given as floats.
void fid_stats_from_features(const float *feat, long n, int d, FidStats *s);
// Statistics of n host images (n, in_ch, img, img) in [-1, 1] under classifier m.
void fid_stats_of_images(Classifier *m, const float *x, long n, FidStats *s);
void fid_stats_free(FidStats *s);

typedef struct {
  double fid;            // mean_term + trace_term
  double mean_term;      // |mu1 - mu2|^2
  double trace_term;     // Tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2})
  int nclamped;          // negative eigenvalues set to 0, in both square roots
  double most_negative;  // the most negative of them (0 when none)
} FidResult;

FidResult fid_distance(const FidStats *a, const FidStats *b);

// The statistics cache: a safetensors file with tensors "mu" (d) and "sigma" (d, d), stored
// as float32, and metadata: format "stepscope-fid-stats/1", n, d, classifier_hash (the
// fingerprint of the classifier that made them) and the extra NULL-terminated key/value
// pairs (classifier path, data, split, ...).
int fid_stats_save(const char *path, const FidStats *s, const char *classifier_hash, const char *const *extra, Err *e);
// Loads a cache. With expect_hash (may be NULL) a cache made by another classifier is an
// error that says so (a stale cache).
int fid_stats_load(const char *path, const char *expect_hash, FidStats *s, Err *e);
