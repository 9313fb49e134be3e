// models.h — the small models, data and comparisons the tests share.
#pragma once
#include "engine/data.h"
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
