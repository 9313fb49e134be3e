#include "models.h"
#include "engine/checkpoint.h"
#include "test.h"
#include <math.h>

UNet *test_tiny_unet(Backend *be, const WidthMap *w) {
  UNetConfig cfg;
  unet_preset("tiny", 1, &cfg);
  Err e;
  return unet_create(&cfg, w, be, &e);
}

void test_fill_normal(Backend *be, float *dst, size_t n, uint64_t seed, float scale) {
  Rng r;
  rng_seed(&r, seed);
  float *h = xmalloc(sizeof(float) * n);
  for (size_t i = 0; i < n; i++) h[i] = scale * rng_normal(&r);
  be->upload(be, dst, h, n);
  free(h);
}

void test_randomize(UNet *m, uint64_t seed, float scale) { test_fill_normal(m->be, m->w, m->size, seed, scale); }

UNet *test_tiny_random(Backend *be, uint64_t seed, float scale) {
  UNet *m = test_tiny_unet(be, NULL);
  test_randomize(m, seed, scale);
  return m;
}

Dataset test_random_data(int n, uint64_t seed) {
  Dataset d = {.n = n, .c = 1, .h = 32, .w = 32};
  d.x = xmalloc(sizeof(float) * n * 1024);
  Rng r;
  rng_seed(&r, seed);
  for (long i = 0; i < (long)n * 1024; i++) d.x[i] = 2 * rng_uniform(&r) - 1;
  return d;
}

int test_unet_eps(void *unet, int t, const float *x, int B, float *eps, Err *e) {
  (void)e;
  unet_eps_host(unet, t, x, B, eps);
  return 0;
}

double test_rel_l2(const float *a, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

void test_fd_add(FdError *fd, Backend *be, float *dev, float *w, size_t n, size_t i, float g,
                 double (*loss)(void *ctx), void *ctx) {
  const float h = 1e-2f, keep = w[i];
  w[i] = keep + h;
  be->upload(be, dev, w, n);
  double lp = loss(ctx);
  w[i] = keep - h;
  be->upload(be, dev, w, n);
  double lm = loss(ctx);
  w[i] = keep;
  be->upload(be, dev, w, n);
  double d = (lp - lm) / (2 * h);
  fd->num += (d - g) * (d - g);
  fd->den += (double)g * g;
}

int test_resume(Trainer *tr, const char *name, Trainer *out, Err *e) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
  if (ckpt_save(path, tr->model, tr, "synthetic", NULL, e)) return -1;
  const Trainer was = *tr;  // its settings, read after it is freed
  Backend *be = tr->model->be;
  trainer_free(tr);
  unet_free(was.model);
  UNet *m = ckpt_load_model(path, be, 0, NULL, e);
  if (!m) return -1;
  trainer_init(out, m, was.data, &was.opt.cfg, was.sched.kind, was.sched.T, was.batch, was.t0, was.t1,
               12345 /* the file's state overwrites it */);
  if (ckpt_load_train_state(path, out, e)) return -1;
  if (was.teacher) trainer_set_teacher(out, was.teacher, was.distill_w);
  return 0;
}

void test_fd_sample(FdError *fd, UNet *m, float *w, const float *g, Rng *rng, int samples,
                    double (*loss)(void *ctx), void *ctx) {
  for (int k = 0; k < samples; k++) {
    const Param *p = &m->params[rng_int(rng, m->nparams)];
    size_t i = p->off + rng_int(rng, (int)p->n);
    test_fd_add(fd, m->be, m->w, w, m->size, i, g[i], loss, ctx);
  }
}
