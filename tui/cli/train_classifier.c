// train_classifier.c — `stepscope train --classifier`: trains the FID-FMNIST feature network
// (engine/classifier.h), reports its test accuracy and writes the test-set statistics.
//
// Training: AdamW, batch 64, cosine learning-rate decay after a short warm-up, random
// horizontal flips; the data order and the flips come from one seeded Rng, so a run is
// reproducible on a given backend.
#include "engine/fid.h"
#include "engine/rng.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/fid_cli.h"
#include "tui/cli/progress.h"
#include <errno.h>
#include <math.h>
#include <string.h>

// Copies image src (c, s, s) into dst, mirrored left-right when flip is set.
static void put_image(float *dst, const float *src, int c, int s, int flip) {
  for (int i = 0; i < c * s; i++)  // row i of all channels
    for (int x = 0; x < s; x++) dst[i * s + x] = src[i * s + (flip ? s - 1 - x : x)];
}

static void shuffle(Rng *r, int *perm, int n) {
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = rng_int(r, i + 1), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

static int parse_widths(const char *s, int w[3]) {
  return sscanf(s, "%d,%d,%d", &w[0], &w[1], &w[2]) == 3 && w[0] > 0 && w[1] > 0 && w[2] > 0 ? 0 : -1;
}

// Test-set statistics for the FID cache, and the floor: FID-FMNIST of the first `floor`
// training images against them (what perfect samples would score at that n).
static int write_stats(Classifier *m, const char *cls_path, const Dataset *train, const Dataset *test,
                       const char *data, const char *path, long floor) {
  char hash[17], nbuf[32];
  classifier_hash(m, hash);
  FidStats ts, fs;
  double t0 = now_sec();
  fid_stats_of_images(m, test->x, test->n, &ts);
  const char *extra[] = {"classifier", cls_path ? cls_path : "", "data", data, "split", "test", NULL};
  Err e;
  int rc = fid_stats_save(path, &ts, hash, extra, &e);
  if (rc) fprintf(stderr, "stepscope: %s\n", e.msg);
  else fprintf(stderr, "stepscope: wrote %s (%d test images, %d features, %.1f s)\n", path, test->n, ts.d, now_sec() - t0);
  if (!rc && floor > 0) {
    if (floor > train->n) floor = train->n;
    fid_stats_of_images(m, train->x, floor, &fs);
    FidResult r = fid_distance(&fs, &ts);
    snprintf(nbuf, sizeof nbuf, "%ld", floor);
    printf("FID-FMNIST floor %.4f  (first %s training images vs the %d test images; stepscope's own "
           "classifier features, not Inception)\n", r.fid, nbuf, test->n);
    if (r.nclamped) fprintf(stderr, "stepscope: note: %d negative eigenvalues (down to %.3g) clamped to 0\n", r.nclamped, r.most_negative);
    fid_stats_free(&fs);
  }
  fid_stats_free(&ts);
  return rc;
}

static const char about[] =
    "Trains the small classifier whose features define FID-FMNIST (a Frechet distance in\n"
    "the feature space of stepscope's own Fashion-MNIST classifier, not Inception), prints\n"
    "its test accuracy, and with --stats writes the test-set statistics that `eval --fid`\n"
    "compares samples with.";

int train_classifier_cli(int argc, char **argv) {
  const char *data = "fashion-mnist", *out = NULL, *init = NULL, *stats = NULL, *widths = NULL;
  const char *device = "auto", *log_path = NULL;
  int steps = -1, batch = 64, warmup = 100, threads = 0, quiet = 0, classifier = 0, no_flip = 0;
  int floor = 10000;
  float lr = 2e-3f, wd = 0.01f;
  uint64_t seed = 0;
  const Opt opts[] = {
    ARG_FLAG("--classifier", &classifier, "train the FID-FMNIST classifier (this mode)"),
    ARG_STR("--data", &data, "SPEC", "labelled data set"),
    ARG_STR("--out", &out, "FILE", "classifier to write (safetensors; required unless --init FILE --steps 0)"),
    ARG_INT("--steps", &steps, "N", "optimizer steps", .def = "4 epochs", .min = 0, .max = 100000000),
    ARG_INT("--batch", &batch, "N", "images per step", .min = 1, .max = 4096),
    ARG_FLOAT("--lr", &lr, "X", "peak AdamW learning rate, cosine-decayed to 0"),
    ARG_FLOAT("--wd", &wd, "X", "AdamW weight decay"),
    ARG_INT("--warmup", &warmup, "N", "linear warm-up steps", .min = 0, .max = 100000000),
    ARG_STR("--widths", &widths, "A,B,C", "channels at 32, 16 and 8 px (C features)", .def = "24,48,96"),
    ARG_FLAG("--no-flip", &no_flip, "no random horizontal flips"),
    ARG_U64("--seed", &seed, "N", "seed of init, data order and flips"),
    ARG_STR("--init", &init, "FILE", "start from this classifier (with --steps 0: only evaluate it)"),
    ARG_STR("--stats", &stats, "FILE", "write the test-set FID-FMNIST statistics cache"),
    ARG_INT("--floor", &floor, "N", "with --stats: FID-FMNIST of the first N training images (0: skip)",
     .min = 0, .max = 1000000),
    OPT_THREADS(&threads),
    OPT_DEVICE(&device),
    ARG_STR("--log", &log_path, "FILE", "append one line per step: step,loss,accuracy,lr (CSV)"),
    OPT_QUIET(&quiet),
  };
  const ArgSpec spec = {"train --classifier", "--out FILE [options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  if (!out && !(init && steps == 0)) return usage_error("--out FILE", "required (unless --init FILE --steps 0)");
  ClassifierConfig cfg = classifier_default_config(1);
  if (widths && parse_widths(widths, cfg.width)) return usage_error("--widths", "'%s' is not three channel counts A,B,C", widths);

  Err e;
  Dataset tr = {0}, te = {0};
  if (data_load(data, DATA_TRAIN, &tr, &e) || data_load(data, DATA_TEST, &te, &e)) {
    fprintf(stderr, "stepscope: %s\n", e.msg);
    data_free(&tr);
    return 1;
  }
  if (!tr.labels || !te.labels) { fprintf(stderr, "stepscope: %s: has no labels to train a classifier on\n", data); goto fail_data; }
  Backend *be = cli_backend(device, threads);
  if (!be) goto fail_data;
  cfg.in_ch = tr.c;
  cfg.img = tr.h;
  Classifier *m = init ? classifier_load(init, be, &e) : classifier_create(&cfg, be, &e);
  if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); be->destroy(be); goto fail_data; }
  if (m->cfg.in_ch != tr.c || m->cfg.img != tr.h || tr.h != tr.w) {
    fprintf(stderr, "stepscope: %s has %dx%dx%d images, the classifier takes %dx%dx%d\n", data, tr.c, tr.h, tr.w,
            m->cfg.in_ch, m->cfg.img, m->cfg.img);
    goto fail;
  }
  if (!init) classifier_init_params(m, seed);
  if (steps < 0) steps = (int)((4L * tr.n + batch - 1) / batch);

  FILE *logf = NULL;
  if (log_path && !(logf = fopen(log_path, "a"))) { fprintf(stderr, "stepscope: %s: %s\n", log_path, strerror(errno)); goto fail; }
  if (!quiet && steps > 0)
    fprintf(stderr, "stepscope: training the FID-FMNIST classifier (widths %d,%d,%d, %.1f M MACs/image) on %s "
            "(%d images), %d steps of %d, %s\n", m->cfg.width[0], m->cfg.width[1], m->cfg.width[2],
            classifier_macs(m) / 1e6, data, tr.n, steps, batch, be->name);
  OptimCfg oc = optim_defaults();
  oc.lr = lr;
  oc.wd = wd;
  oc.warmup = warmup;
  Optim o;
  optim_init(&o, be, m->size, &oc, m->w);
  Rng rng;
  rng_seed(&rng, seed ^ 0xc1a55);
  int *perm = xmalloc(sizeof(int) * tr.n);
  size_t d = (size_t)tr.c * tr.h * tr.w;
  float *x = xmalloc(sizeof(float) * batch * d);
  uint8_t *y = xmalloc(batch);
  long pos = tr.n;  // start a new epoch at once
  double ema_loss = -1, ema_acc = 0, t0 = now_sec();
  Progress pg;
  progress_begin(&pg, "train", 0, steps, quiet);
  for (int s = 1; s <= steps; s++) {
    for (int b = 0; b < batch; b++) {
      if (pos >= tr.n) { shuffle(&rng, perm, tr.n); pos = 0; }
      int i = perm[pos++];
      put_image(x + b * d, tr.x + i * d, tr.c, tr.h, !no_flip && rng_uniform(&rng) < 0.5f);
      y[b] = tr.labels[i];
    }
    // cosine decay of the peak rate; optim applies the warm-up on top
    o.cfg.lr = lr * 0.5f * (1.0f + cosf((float)M_PI * (s - 1) / steps));
    int correct;
    double loss = classifier_train_step(m, &o, x, y, batch, &correct);
    ema_loss = ema_loss < 0 ? loss : 0.98 * ema_loss + 0.02 * loss;
    ema_acc = 0.98 * ema_acc + 0.02 * correct / batch;
    if (logf) fprintf(logf, "%d,%.6f,%.4f,%.6g\n", s, loss, (double)correct / batch, optim_lr(&o.cfg, o.step));
    progress_update(&pg, s, "loss %.4f acc %.3f", ema_loss, ema_acc);
  }
  progress_end(&pg);
  double train_s = now_sec() - t0;
  if (logf) fclose(logf);
  free(perm); free(x); free(y);
  optim_free(&o);

  double acc = classifier_accuracy(m, &te, 0, 250);
  printf("test accuracy %.2f %% (%d %s test images)%s\n", 100 * acc, te.n, data, steps ? "" : " of the loaded classifier");
  int status = 0;
  if (out) {
    char sacc[32], ssteps[32], sseed[32], swall[32], sbatch[32], slr[32];
    snprintf(sacc, sizeof sacc, "%.4f", acc);
    snprintf(ssteps, sizeof ssteps, "%d", steps);
    snprintf(sseed, sizeof sseed, "%llu", (unsigned long long)seed);
    snprintf(swall, sizeof swall, "%.0f", train_s);
    snprintf(sbatch, sizeof sbatch, "%d", batch);
    snprintf(slr, sizeof slr, "%g", lr);
    const char *extra[] = {"test_accuracy", sacc, "data", data, "steps", ssteps, "seed", sseed, "batch", sbatch,
                           "lr", slr, "train_seconds", swall, "backend", be->name, "parent", init ? init : "", NULL};
    if (classifier_save(out, m, extra, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); status = 1; }
    else if (!quiet) fprintf(stderr, "stepscope: saved %s (%d steps in %.0f s)\n", out, steps, train_s);
  }
  if (!status && stats && write_stats(m, out ? out : init, &tr, &te, data, stats, floor)) status = 1;
  classifier_free(m);
  be->destroy(be);
  data_free(&tr);
  data_free(&te);
  return status;
fail:
  classifier_free(m);
  be->destroy(be);
fail_data:
  data_free(&tr);
  data_free(&te);
  return 1;
}
