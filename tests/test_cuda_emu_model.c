// test_cuda_emu_model.c — our own CUDA kernels inside the whole model, on the CPU: the UNet on
// the emulated CUDA backend (our kernels under tests/cuda_emu, GEMM and convolutions from the
// reference) against the reference backend. Where test_cuda.c checks each kernel alone, this
// checks that the model calls them as the backend contract says (offsets, strides, broadcast
// and accumulate semantics) over a forward, a backward, training steps and sampling.
#include "../engine/sampler.h"
#include "../engine/train.h"
#include "cuda_emu/backend_cuda_emu.h"
#include "models.h"
#include "test.h"

static float *fetch(Backend *be, const float *p, size_t n) {
  float *h = xmalloc(sizeof(float) * n);
  be->download(be, h, p, n);
  return h;
}

// The forward's output and every gradient within 1e-5 of the reference (fp32 rounding only).
TEST(cuda_emu_model_forward_backward) {
  Backend *be[2] = {backend_cpu_ref_create(), backend_cuda_emu_create()};
  const int B = 2, t[2] = {3, 777};
  const size_t n = (size_t)B * 32 * 32;
  float *hx = xmalloc(sizeof(float) * n), *out[2], *g[2];
  Rng r;
  rng_seed(&r, 4);
  rng_normal_fill(&r, hx, (long)n);
  UNet *m[2];
  for (int k = 0; k < 2; k++) {
    m[k] = test_tiny_random(be[k], 21, 0.1f);
    float *x = be[k]->alloc(be[k], n), *y;
    be[k]->upload(be[k], x, hx, n);
    unet_forward(m[k], x, t, B, &y);
    out[k] = fetch(be[k], y, n);
    be[k]->fill(be[k], m[k]->g, 0, m[k]->size);
    unet_backward(m[k], x);  // any fixed output gradient will do: the input itself
    g[k] = fetch(be[k], m[k]->g, m[k]->size);
    be[k]->free(be[k], x);
  }
  double eo = test_rel_l2(out[1], out[0], n), eg = test_rel_l2(g[1], g[0], m[0]->size);
  printf("    forward output rel L2 %.2e, all gradients %.2e\n", eo, eg);
  ASSERT(eo <= 1e-5);
  ASSERT(eg <= 1e-5);
  for (int k = 0; k < 2; k++) { free(out[k]); free(g[k]); unet_free(m[k]); be[k]->destroy(be[k]); }
  free(hx);
}

// Training steps (loss, AdamW, EMA, clipping's sum of squares) and then DDIM from the trained
// weights: losses within 1e-5 per step, images within 1e-4.
TEST(cuda_emu_model_training_and_sampling) {
  Backend *be[2] = {backend_cpu_ref_create(), backend_cuda_emu_create()};
  Dataset ds = test_random_data(6, 8);
  OptimCfg oc = optim_defaults();
  UNet *m[2];
  Trainer tr[2];
  for (int k = 0; k < 2; k++) {
    m[k] = test_tiny_unet(be[k], NULL);
    unet_init_params(m[k], 1);
    trainer_init(&tr[k], m[k], &ds, &oc, SCHED_LINEAR, 1000, 2, 0, 1000, 1);
  }
  double worst = 0;
  for (int s = 0; s < 4; s++) {
    float a = trainer_step(&tr[0], NULL, NULL), b = trainer_step(&tr[1], NULL, NULL);
    worst = fmax(worst, fabs((double)b - a) / fabs(a));
    ASSERTF(isfinite(b), "step %d: loss %g", s, b);
  }
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 1000);
  SamplerCfg cfg = sampler_cfg_default();
  cfg.steps = 5;
  float img[2][2 * 1024];
  Err e;
  for (int k = 0; k < 2; k++) ASSERT_EQ_INT(sample_run(&s, &cfg, 2, 1, 32, 32, test_unet_eps, m[k], NULL, NULL, img[k], &e), 0);
  double ei = test_rel_l2(img[1], img[0], 2 * 1024);
  printf("    4 training steps: max rel loss difference %.2e; DDIM-5 images rel L2 %.2e\n", worst, ei);
  ASSERT(worst <= 1e-5);
  ASSERT(ei <= 1e-4);
  schedule_free(&s);
  for (int k = 0; k < 2; k++) { trainer_free(&tr[k]); unet_free(m[k]); be[k]->destroy(be[k]); }
  data_free(&ds);
}
