// models.h — the small models, data and comparisons the tests share.
#pragma once
#include "engine/data.h"
#include "engine/train.h"
#include "engine/unet.h"

// The tiny preset (weights zero until set), with optional width overrides; NULL on bad widths.
UNet *test_tiny_unet(Backend *be, const WidthMap *w);
// Every parameter N(0, scale^2) from seed. Unlike the default init, no layer is zero, so
// every gradient is non-zero and no bug hides behind an identity block.
void test_randomize(UNet *m, uint64_t seed, float scale);
// Both: the tiny preset with random weights.
UNet *test_tiny_random(Backend *be, uint64_t seed, float scale);

// n random 1x32x32 images (the tiny preset's), values uniform in [-1, 1), from seed.
// data_free() releases it.
Dataset test_random_data(int n, uint64_t seed);
// n values N(0, scale^2) from seed, uploaded to dst (backend memory).
void test_fill_normal(Backend *be, float *dst, size_t n, uint64_t seed, float scale);
// The sampler's EpsFn for one model: user is the UNet.
int test_unet_eps(void *unet, int t, const float *x, int B, float *eps, Err *e);
// ||a - ref|| / ||ref|| in double (||a - ref|| when ref is all zeros).
double test_rel_l2(const float *a, const float *ref, size_t n);

// A gradient check by central differences, summed over sampled weights: test_fd_add(&fd, ...)
// for each, then sqrt(fd.num / fd.den) is ||fd - analytic|| / ||analytic|| over the sample.
typedef struct {
  double num, den;
} FdError;
// The central difference (h = 1e-2, in float32) of loss(ctx) in weight i of the n weights at dev,
// whose host copy is w, against the analytic gradient g. Both copies are restored after.
void test_fd_add(FdError *fd, Backend *be, float *dev, float *w, size_t n, size_t i, float g,
                 double (*loss)(void *ctx), void *ctx);
// test_fd_add at `samples` weights of m drawn from rng, each one entry of a random parameter
// tensor, so every layer kind gets checked; w is the host copy of m's weights, g the gradient.
void test_fd_sample(FdError *fd, UNet *m, float *w, const float *g, Rng *rng, int samples,
                    double (*loss)(void *ctx), void *ctx);

// A run stopped and resumed: saves tr's model with tr (after the steps it took) to
// test_tmpdir()/name, frees both, and initialises *out for the model loaded back, with tr's
// data, optimiser settings, schedule, batch, timestep range and teacher, and the file's train
// state. 0, or -1 with e set.
int test_resume(Trainer *tr, const char *name, Trainer *out, Err *e);
