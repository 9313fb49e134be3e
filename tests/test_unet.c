// The whole UNet: gradients by finite differences, checkpoint round trip, bit-exact resume,
// cost accounting, and a short real training run whose loss falls.
#include "engine/checkpoint.h"
#include "models.h"
#include "test.h"
#include <string.h>

// sum(out * r) of the model's output for x at timesteps t: B images, n values.
typedef struct {
  UNet *m;
  const float *x, *r;
  const int *t;
  int B;
  size_t n;
} DotOut;

static double dot_out(void *ctx) {
  const DotOut *d = ctx;
  float *out, *h = xmalloc(sizeof(float) * d->n);
  unet_forward(d->m, d->x, d->t, d->B, &out);
  d->m->be->download(d->m->be, h, out, d->n);
  double s = 0;
  for (size_t i = 0; i < d->n; i++) s += (double)h[i] * d->r[i];
  free(h);
  return s;
}

// L = sum(out * r). Central differences on 60 random parameters in float32 with h = 1e-2;
// we require ||fd - analytic|| / ||analytic|| < 2e-2 over the sample (float32 rounding of L
// limits the agreement; a wrong gradient is off by O(1)).
TEST(unet_gradient_finite_differences) {
  Backend *be = backend_cpu_ref_create();
  UNet *m = test_tiny_unet(be, NULL);
  ASSERT(m);
  test_randomize(m, 3, 0.15f);
  int B = 2, t[2] = {10, 700};
  size_t n = (size_t)B * 32 * 32;
  float *hx = xmalloc(sizeof(float) * n), *r = xmalloc(sizeof(float) * n);
  Rng rng;
  rng_seed(&rng, 9);
  rng_normal_fill(&rng, hx, (long)n);
  rng_normal_fill(&rng, r, (long)n);
  float *x = be->alloc(be, n), *dr = be->alloc(be, n);
  be->upload(be, x, hx, n);
  be->upload(be, dr, r, n);
  float *out;
  unet_forward(m, x, t, B, &out);
  be->fill(be, m->g, 0, m->size);
  unet_backward(m, dr);
  float *w = xmalloc(sizeof(float) * m->size), *g = xmalloc(sizeof(float) * m->size);
  be->download(be, w, m->w, m->size);
  be->download(be, g, m->g, m->size);
  DotOut loss = {m, x, r, t, B, n};
  FdError fd = {0, 0};
  test_fd_sample(&fd, m, w, g, &rng, 60, dot_out, &loss);
  ASSERTF(fd.den > 0, "all sampled gradients are zero");
  ASSERTF(sqrt(fd.num / fd.den) < 2e-2, "relative gradient error %.3g", sqrt(fd.num / fd.den));
  free(w); free(g); free(hx); free(r);
  be->free(be, x); be->free(be, dr);
  unet_free(m);
  be->destroy(be);
}

TEST(unet_default_preset_size) {
  Backend *be = backend_cpu_ref_create();
  UNetConfig cfg;
  ASSERT(unet_preset("default", 1, &cfg) == 0);
  Err e;
  UNet *m = unet_create(&cfg, NULL, be, &e);
  ASSERT(m);
  long p = unet_nparams(m);
  double macs = unet_macs(m);
  ASSERTF(p > 700000 && p < 1500000, "default preset has %ld params", p);
  ASSERTF(macs > 80e6 && macs < 200e6, "default preset costs %.0f MACs", macs);
  // the per-layer costs add up to the total, and params count every tensor exactly once
  LayerCost c[UNET_MAX_NODES + 1];
  int n = unet_costs(m, c, UNET_MAX_NODES + 1);
  long sp = 0;
  for (int i = 0; i < n; i++) sp += c[i].params;
  ASSERT_EQ_INT(sp, p);
  unet_free(m);
  be->destroy(be);
}

TEST(unet_rejects_bad_widths) {
  Backend *be = backend_cpu_ref_create();
  WidthMap w = {0};
  widthmap_set(&w, "down.0.res.0.mid", 0);
  ASSERT(test_tiny_unet(be, &w) == NULL);
  widthmap_free(&w);
  be->destroy(be);
}

// Models that share an arena (a plan's group models while sampling) compute exactly what they
// compute alone, and the shared arena settles once: after the owner's passes at a batch size,
// a narrower model's passes neither grow nor move it, nor allocate one of their own.
TEST(unet_shared_arena_same_outputs_one_warmup) {
  Backend *be = backend_cpu_create(1);
  WidthMap narrow = {0};
  widthmap_set(&narrow, "down.0.res.0.mid", 5);
  widthmap_set(&narrow, "up.0.res.0.mid", 3);
  UNet *owner = test_tiny_random(be, 1, 0.1f), *shared = test_tiny_unet(be, &narrow), *alone = test_tiny_unet(be, &narrow);
  ASSERT(owner && shared && alone);
  test_randomize(shared, 2, 0.1f);
  test_randomize(alone, 2, 0.1f);
  unet_share_arena(shared, owner);
  const int B = 3;
  const size_t n = (size_t)B * 32 * 32;
  float *x = xmalloc(sizeof(float) * n), *a = xmalloc(sizeof(float) * n), *b = xmalloc(sizeof(float) * n);
  for (size_t i = 0; i < n; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
  for (int i = 0; i < 2; i++) unet_eps_host(owner, 700, x, B, a);  // grows, then settles
  const unsigned gen = owner->arena->gen;
  for (int i = 0; i < 3; i++) {
    unet_eps_host(shared, 300 + i, x, B, a);
    unet_eps_host(alone, 300 + i, x, B, b);
    ASSERTF(!memcmp(a, b, sizeof(float) * n), "pass %d: the sharing model computed something else", i);
  }
  ASSERT_EQ_INT(owner->arena->gen, gen);
  ASSERT(shared->arena == owner->arena && shared->own_arena.nchunks == 0);
  ASSERT(alone->own_arena.gen >= 1);  // alone, the same passes allocated an arena of their own
  printf("    3 passes of the narrow model: shared arena generation %u throughout; alone, %u\n", gen,
         alone->own_arena.gen);
  free(x);
  free(a);
  free(b);
  unet_free(shared);
  unet_free(alone);
  unet_free(owner);
  widthmap_free(&narrow);
  be->destroy(be);
}

// A forward no backward follows (unet_forward_no_grad) gives each node's scratch back to the
// arena at the node's end: the same output to the bit from a fraction of the memory, and a
// forward and backward after it on the same model compute what a model that never ran one does.
TEST(unet_no_grad_forward_same_output_less_memory) {
  Backend *be = backend_cpu_create(1);
  UNet *kept = test_tiny_random(be, 4, 0.1f), *lean = test_tiny_random(be, 4, 0.1f);
  ASSERT(kept && lean);
  const int B = 3, t[3] = {5, 400, 990};
  const size_t n = (size_t)B * 32 * 32;
  float *x = xmalloc(sizeof(float) * n), *a = xmalloc(sizeof(float) * n), *b = xmalloc(sizeof(float) * n), *out;
  for (size_t i = 0; i < n; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
  unet_forward(kept, x, t, B, &out);
  memcpy(a, out, sizeof(float) * n);
  unet_forward_no_grad(lean, x, t, B, &out);
  memcpy(b, out, sizeof(float) * n);
  ASSERT(!memcmp(a, b, sizeof(float) * n));
  ASSERT(!lean->acts_kept && kept->acts_kept);
  const size_t pk = kept->arena->peak, pl = lean->arena->peak;
  printf("    arena peak: %zu floats keeping every activation, %zu without (%.0f %%)\n", pk, pl, 100.0 * pl / pk);
  ASSERTF(pl * 2 < pk, "no_grad forward held %zu of %zu floats", pl, pk);

  for (size_t i = 0; i < n; i++) a[i] = (float)((i * 13) % 7) - 3.0f;  // dL/dout
  be->fill(be, kept->g, 0.0f, kept->size);
  be->fill(be, lean->g, 0.0f, lean->size);
  unet_forward(kept, x, t, B, &out);
  unet_backward(kept, a);
  unet_forward(lean, x, t, B, &out);
  unet_backward(lean, a);
  ASSERT(!memcmp(kept->g, lean->g, sizeof(float) * kept->size));
  free(x);
  free(a);
  free(b);
  unet_free(kept);
  unet_free(lean);
  be->destroy(be);
}

TEST(unet_checkpoint_round_trip_with_widths) {
  Backend *be = backend_cpu_create(2);
  WidthMap w = {0};
  widthmap_set(&w, "down.0.res.0.mid", 5);   // not a multiple of the 4 groups: norm adapts
  widthmap_set(&w, "up.1.res.0.out", 12);
  UNet *m = test_tiny_unet(be, &w);
  ASSERT(m);
  test_randomize(m, 5, 0.1f);
  char path[512];
  snprintf(path, sizeof path, "%s/rt.safetensors", test_tmpdir());
  Err e;
  ASSERTF(ckpt_save(path, m, NULL, "synthetic", NULL, &e) == 0, "%s", e.msg);
  CkptInfo info;
  UNet *m2 = ckpt_load_model(path, be, 1, &info, &e);
  ASSERTF(m2, "%s", e.msg);
  ASSERT_EQ_INT(m2->size, m->size);
  ASSERT_EQ_INT(widthmap_get(&m2->widths, "down.0.res.0.mid", -1), 5);
  ASSERT_EQ_INT(widthmap_get(&m2->widths, "up.1.res.0.out", -1), 12);
  ASSERT_EQ_INT(m2->nodes[1].res.n2.groups, 1);
  for (int i = 0; i < m->nparams; i++)
    ASSERT(memcmp(m->w + m->params[i].off, m2->w + m2->params[i].off, sizeof(float) * m->params[i].n) == 0);
  unet_free(m2);
  unet_free(m);
  widthmap_free(&w);
  be->destroy(be);
}

TEST(unet_checkpoint_rejects_foreign_file) {
  char path[512];
  snprintf(path, sizeof path, "%s/foreign.safetensors", test_tmpdir());
  FILE *f = fopen(path, "wb");
  const char hdr[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  uint64_t n = sizeof hdr - 1;
  fwrite(&n, 8, 1, f); fwrite(hdr, 1, n, f); fwrite("\0\0\0\0", 1, 4, f);
  fclose(f);
  Backend *be = backend_cpu_ref_create();
  Err e;
  ASSERT(ckpt_load_model(path, be, 1, NULL, &e) == NULL);
  ASSERTF(strstr(e.msg, "not a stepscope model"), "message: %s", e.msg);
  be->destroy(be);
}

// N steps straight == K steps, save, reload, N-K steps: losses and weights bit for bit.
// The data set is small enough that the run crosses epoch boundaries.
TEST(unet_resume_is_bit_exact) {
  Backend *be = backend_cpu_create(2);
  Dataset d = test_random_data(20, 11);
  OptimCfg oc = optim_defaults();
  oc.warmup = 2;
  const int N = 6, K = 3, B = 8;
  float straight[6], resumed[6];
  UNet *a = test_tiny_unet(be, NULL);
  a->cfg.dropout = 0.1f;  // dropout masks come from the saved RNG too
  unet_init_params(a, 1);
  Trainer ta;
  trainer_init(&ta, a, &d, &oc, SCHED_LINEAR, 1000, B, 0, 1000, 77);
  for (int i = 0; i < N; i++) straight[i] = trainer_step(&ta, NULL, NULL);

  UNet *b = test_tiny_unet(be, NULL);
  b->cfg.dropout = 0.1f;
  unet_init_params(b, 1);
  Trainer tb;
  trainer_init(&tb, b, &d, &oc, SCHED_LINEAR, 1000, B, 0, 1000, 77);
  for (int i = 0; i < K; i++) resumed[i] = trainer_step(&tb, NULL, NULL);
  Err e;
  Trainer tc;
  ASSERTF(test_resume(&tb, "resume.safetensors", &tc, &e) == 0, "%s", e.msg);

  UNet *c = tc.model;
  ASSERT(c->cfg.dropout == 0.1f);
  for (int i = K; i < N; i++) resumed[i] = trainer_step(&tc, NULL, NULL);
  for (int i = 0; i < N; i++) ASSERTF(straight[i] == resumed[i], "step %d: %.9g vs %.9g", i, straight[i], resumed[i]);
  ASSERT(memcmp(a->w, c->w, sizeof(float) * a->size) == 0);
  ASSERT(memcmp(ta.opt.ema, tc.opt.ema, sizeof(float) * a->size) == 0);
  trainer_free(&ta);
  trainer_free(&tc);
  unet_free(a);
  unet_free(c);
  free(d.x);
  be->destroy(be);
}

TEST(unet_training_on_fashion_mnist_lowers_the_loss) {
  Dataset d;
  Err e;
  if (data_load("fashion-mnist", 0, &d, &e)) { test_skip(e.msg); return; }
  Backend *be = backend_cpu_create(2);
  UNet *m = test_tiny_unet(be, NULL);
  unet_init_params(m, 0);
  OptimCfg oc = optim_defaults();
  oc.warmup = 20;
  Trainer tr;
  trainer_init(&tr, m, &d, &oc, SCHED_LINEAR, 1000, 32, 0, 1000, 1);
  double first = 0, last = 0;
  const int steps = 240, win = 40;
  for (int i = 0; i < steps; i++) {
    float l = trainer_step(&tr, NULL, NULL);
    ASSERT(isfinite(l));
    if (i < win) first += l / win;
    if (i >= steps - win) last += l / win;
  }
  printf("    mean loss, first %d steps %.4f -> last %d steps %.4f\n", win, first, win, last);
  ASSERTF(last < 0.6 * first, "loss went from %.4f to %.4f", first, last);
  trainer_free(&tr);
  unet_free(m);
  be->destroy(be);
  data_free(&d);
}
