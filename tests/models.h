// models.h — the small models the tests share.
#pragma once
#include "../engine/unet.h"

// The tiny preset (weights zero until set), with optional width overrides; NULL on bad widths.
UNet *test_tiny_unet(Backend *be, const WidthMap *w);
// Every parameter N(0, scale^2) from seed. Unlike the default init, no layer is zero, so
// every gradient is non-zero and no bug hides behind an identity block.
void test_randomize(UNet *m, uint64_t seed, float scale);
// Both: the tiny preset with random weights.
UNet *test_tiny_random(Backend *be, uint64_t seed, float scale);
