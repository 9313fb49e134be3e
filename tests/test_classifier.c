// The FID-FMNIST feature network: gradients by finite differences, the host cross-entropy,
// a file round trip, and a short real training run whose accuracy rises far above chance.
#include "engine/classifier.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "models.h"
#include "test.h"

static Classifier *tiny(Backend *be, Err *e) {
  ClassifierConfig c = {.in_ch = 1, .img = 8, .width = {4, 6, 8}, .groups = 2, .nclass = 3};
  return classifier_create(&c, be, e);
}

// tiny() with init seed 3, saved as test_tmpdir()/name (into path, 300 chars) with the extra
// metadata (NULL: none). NULL with e set where it fails.
static Classifier *saved_tiny(Backend *be, const char *name, const char **extra, char *path, Err *e) {
  Classifier *m = tiny(be, e);
  if (!m) return NULL;
  classifier_init_params(m, 3);
  snprintf(path, 300, "%s/%s", test_tmpdir(), name);
  if (classifier_save(path, m, extra, e) == 0) return m;
  classifier_free(m);
  return NULL;
}

// Random weights of a chosen scale (the default init is fine too, but this one makes the
// norms' scales and shifts non-trivial).
static void randomize(Classifier *m, uint64_t seed, float scale) { test_fill_normal(m->be, m->w, m->size, seed, scale); }

// The mean cross-entropy of the model on B images x with labels y.
typedef struct {
  Classifier *m;
  const float *x;
  const uint8_t *y;
  int B;
} Xent;

static double loss_at(void *ctx) {
  const Xent *c = ctx;
  float *logits, h[64];
  classifier_forward(c->m, c->x, c->B, &logits);
  c->m->be->download(c->m->be, h, logits, (size_t)c->B * c->m->cfg.nclass);
  return classifier_xent(h, c->y, c->B, c->m->cfg.nclass, NULL, NULL);
}

TEST(classifier_xent_matches_its_definition) {
  // Two rows of 3 logits: loss_b = log(sum exp z) - z_y; gradient softmax - onehot, over B.
  float z[6] = {1, 2, 3, -1, 0, 5}, d[6];
  uint8_t y[2] = {2, 0};
  int correct;
  double l = classifier_xent(z, y, 2, 3, d, &correct);
  double l0 = log(exp(1) + exp(2) + exp(3)) - 3, l1 = log(exp(-1) + exp(0) + exp(5)) + 1;
  ASSERT_NEAR(l, (l0 + l1) / 2, 1e-6, 0);
  ASSERT_EQ_INT(correct, 1);
  ASSERT_NEAR(d[2], (exp(3) / (exp(1) + exp(2) + exp(3)) - 1) / 2, 1e-7, 0);
  ASSERT_NEAR(d[4], exp(0) / (exp(-1) + exp(0) + exp(5)) / 2, 1e-7, 0);
}

// L = mean cross-entropy. Central differences on every parameter tensor (4 entries each)
// in float32 with h = 1e-2; ||fd - analytic|| / ||analytic|| < 1e-2 over the sample.
TEST(classifier_gradient_finite_differences) {
  Backend *be = backend_cpu_ref_create();
  Err e;
  Classifier *m = tiny(be, &e);
  ASSERTF(m, "%s", e.msg);
  randomize(m, 5, 0.4f);
  enum { B = 3 };
  size_t n = (size_t)B * 8 * 8;
  float hx[B * 64], dl[B * 3], hl[B * 3];
  uint8_t y[B] = {0, 2, 1};
  Rng rng;
  rng_seed(&rng, 11);
  rng_normal_fill(&rng, hx, (long)n);
  float *x = be->alloc(be, n), *dlog = be->alloc(be, B * 3), *logits;
  be->upload(be, x, hx, n);
  classifier_forward(m, x, B, &logits);
  be->download(be, hl, logits, B * 3);
  classifier_xent(hl, y, B, 3, dl, NULL);
  be->upload(be, dlog, dl, B * 3);
  be->fill(be, m->g, 0, m->size);
  classifier_backward(m, dlog);
  float *w = xmalloc(sizeof(float) * m->size), *g = xmalloc(sizeof(float) * m->size);
  be->download(be, w, m->w, m->size);
  be->download(be, g, m->g, m->size);
  Xent loss = {m, x, y, B};
  FdError fd = {0, 0};
  for (int p = 0; p < m->nparams; p++)
    for (int k = 0; k < 4; k++) {
      size_t i = m->params[p].off + rng_int(&rng, (int)m->params[p].n);
      test_fd_add(&fd, be, m->w, w, m->size, i, g[i], loss_at, &loss);
    }
  ASSERTF(fd.den > 0, "all sampled gradients are zero");
  ASSERTF(sqrt(fd.num / fd.den) < 1e-2, "relative gradient error %.3g", sqrt(fd.num / fd.den));
  free(w); free(g);
  be->free(be, x); be->free(be, dlog);
  classifier_free(m);
  be->destroy(be);
}

TEST(classifier_save_load_roundtrip) {
  Backend *be = backend_cpu_ref_create();
  char path[300], h1[17], h2[17];
  Err e;
  const char *extra[] = {"test_accuracy", "0.5", NULL};
  Classifier *m = saved_tiny(be, "cls.safetensors", extra, path, &e);
  ASSERTF(m, "%s", e.msg);
  Classifier *r = classifier_load(path, be, &e);
  ASSERTF(r, "%s", e.msg);
  classifier_hash(m, h1);
  classifier_hash(r, h2);
  ASSERT(!strcmp(h1, h2));
  ASSERT_EQ_INT(r->cfg.width[1], 6);
  ASSERT_EQ_INT(r->cfg.nclass, 3);
  // a different weight changes the fingerprint
  classifier_init_params(r, 4);
  classifier_hash(r, h2);
  ASSERT(strcmp(h1, h2));
  classifier_free(m);
  classifier_free(r);
  be->destroy(be);
}

// A corrupt config in a classifier file is refused with a message: numbers far outside int
// (a cast would be undefined behaviour), out of range, or a model larger than the weights the
// file holds (refused before it is allocated). tests/fuzz/corpus/classifier has these as seeds.
TEST(classifier_load_refuses_corrupt_config) {
  Backend *be = backend_cpu_ref_create();
  char path[300], bad[320];
  Err e;
  Classifier *m = saved_tiny(be, "cls-good.safetensors", NULL, path, &e);
  ASSERTF(m, "%s", e.msg);
  snprintf(bad, sizeof bad, "%s/cls-bad.safetensors", test_tmpdir());
  classifier_free(m);
  const char *cases[][2] = {
    {"{\"in_ch\":1e300,\"img\":8,\"width\":[4,6,8],\"groups\":2,\"nclass\":3}", "invalid classifier config"},
    {"{\"in_ch\":1,\"img\":-1e300,\"width\":[4,6,8],\"groups\":2,\"nclass\":3}", "invalid classifier config"},
    {"{\"in_ch\":1,\"img\":8,\"width\":[4,6,1e20],\"groups\":2,\"nclass\":3}", "invalid classifier config"},
    {"{\"in_ch\":1,\"img\":8,\"width\":[4,6,8],\"groups\":2e9,\"nclass\":3}", "invalid classifier config"},
    {"{\"in_ch\":1,\"img\":1048576,\"width\":[4,6,8],\"groups\":2,\"nclass\":3}", "invalid classifier config"},
    {"{\"in_ch\":1,\"img\":8,\"width\":[4096,4096,4096],\"groups\":2,\"nclass\":3}", "the file holds"},
    {"{\"in_ch\":1,\"img\":8,\"width\":[4,6],\"groups\":2,\"nclass\":3}", "3 widths"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    StFile f;
    ASSERTF(!st_load(path, &f, &e), "%s", e.msg);
    st_set_meta(&f, "config", cases[i][0]);
    ASSERTF(!st_save(bad, &f, &e), "%s", e.msg);
    st_free(&f);
    Classifier *r = classifier_load(bad, be, &e);
    ASSERTF(!r, "accepted: %s", cases[i][0]);
    classifier_free(r);
    ASSERTF(strstr(e.msg, cases[i][1]), "%s: '%s'", cases[i][0], e.msg);
  }
  Classifier *r = classifier_load(path, be, &e);  // the file itself still loads
  ASSERTF(r, "%s", e.msg);
  classifier_free(r);
  be->destroy(be);
}

// 150 steps of batch 32 on the first 4800 training images with a narrow net: test accuracy
// on 1000 test images must rise far above chance (10 %). Takes a few seconds on 2 cores.
TEST(classifier_training_on_fashion_mnist_beats_chance) {
  Dataset tr, te;
  Err e;
  if (data_load("fashion-mnist", DATA_TRAIN, &tr, &e)) { test_skip(e.msg); return; }
  if (data_load("fashion-mnist", DATA_TEST, &te, &e)) { data_free(&tr); test_skip(e.msg); return; }
  Backend *be = backend_cpu_create(1);  // one thread: on a shared machine, OpenMP threads can be 7x slower
  ClassifierConfig c = classifier_default_config(1);
  c.width[0] = 8; c.width[1] = 16; c.width[2] = 32;
  Classifier *m = classifier_create(&c, be, &e);
  ASSERT(m);
  classifier_init_params(m, 1);
  OptimCfg oc = optim_defaults();
  oc.warmup = 20;
  Optim o;
  optim_init(&o, be, m->size, &oc, m->w);
  double before = classifier_accuracy(m, &te, 1000, 250);
  enum { B = 32 };
  for (int s = 0; s < 150; s++)
    classifier_train_step(m, &o, tr.x + (size_t)s * B * 1024, tr.labels + s * B, B, NULL);
  double after = classifier_accuracy(m, &te, 1000, 250);
  printf("    test accuracy (1000 images): %.3f before, %.3f after 150 steps\n", before, after);
  ASSERTF(after > 0.6, "accuracy %.3f after training", after);
  optim_free(&o);
  classifier_free(m);
  be->destroy(be);
  data_free(&tr);
  data_free(&te);
}
