// fid_cli.c — fid_eval_cli: FID-FMNIST of a set of images against the cached test statistics.
#include "tui/cli/fid_cli.h"
#include "engine/fid.h"
#include "tui/assets.h"
#include <stdio.h>

int fid_eval_cli(Backend *be, const float *x, long n, int c, int h, int w, const char *classifier,
                 const char *stats, double *fid) {
  char cpath[4096], spath[4096];
  if (!classifier) asset_path(FID_CLASSIFIER_ASSET, cpath, sizeof cpath), classifier = cpath;
  if (!stats) asset_path(FID_STATS_ASSET, spath, sizeof spath), stats = spath;
  Err e;
  Classifier *m = classifier_load(classifier, be, &e);
  if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); return 1; }
  int rc = 1;
  char hash[17];
  FidStats ref = {0}, gen = {0};
  classifier_hash(m, hash);
  if (fid_stats_load(stats, hash, &ref, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); goto done; }
  if (c != m->cfg.in_ch || h != m->cfg.img || w != m->cfg.img) {
    fprintf(stderr, "stepscope: FID-FMNIST needs %dx%dx%d images, got %dx%dx%d\n", m->cfg.in_ch, m->cfg.img,
            m->cfg.img, c, h, w);
    goto done;
  }
  if (n < 2) { fprintf(stderr, "stepscope: FID-FMNIST needs at least 2 images, got %ld\n", n); goto done; }
  if (n <= ref.d)
    fprintf(stderr, "stepscope: note: %ld images for %d features: the covariance is singular and FID-FMNIST "
            "is strongly biased upwards; use a few thousand images\n", n, ref.d);
  fid_stats_of_images(m, x, n, &gen);
  FidResult r = fid_distance(&gen, &ref);
  if (r.nclamped)
    fprintf(stderr, "stepscope: note: %d slightly negative eigenvalue%s (down to %.3g) clamped to 0 in the "
            "matrix square roots\n", r.nclamped, r.nclamped > 1 ? "s" : "", r.most_negative);
  printf("FID-FMNIST %.4f  (%ld images vs %ld test images; mean term %.4f, covariance term %.4f)\n"
         "  measured in the features of stepscope's own Fashion-MNIST classifier (%s), not Inception:\n"
         "  compare only with FID-FMNIST values from the same classifier and the same number of images\n",
         r.fid, n, ref.n, r.mean_term, r.trace_term, classifier);
  if (fid) *fid = r.fid;
  rc = 0;
done:
  fid_stats_free(&ref);
  fid_stats_free(&gen);
  classifier_free(m);
  return rc;
}
