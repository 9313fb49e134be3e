// classifier.h — the small image classifier whose features define FID-FMNIST.
//
// Inception weights cannot be fetched here, so stepscope measures sample quality in the
// feature space of a classifier it trains itself on the same data (Fashion-MNIST). The
// number it gives is called FID-FMNIST everywhere: it is NOT comparable with published
// (Inception) FIDs, only with other FID-FMNIST numbers from the same classifier file.
//
// Data flow, x is (B, in_ch, 32, 32):
//   layer 0: conv3x3 (in_ch -> w0)            GN SiLU   32x32
//   layer 1: conv3x3 stride 2 (w0 -> w1)      GN SiLU   16x16
//   layer 2: conv3x3 (w1 -> w1)               GN SiLU   16x16
//   layer 3: conv3x3 stride 2 (w1 -> w2)      GN SiLU    8x8
//   layer 4: conv3x3 (w2 -> w2)               GN SiLU    8x8
//   global average pool -> features (B, w2)   <- what FID measures
//   linear (w2 -> nclass) -> logits (B, nclass); softmax cross-entropy on the host.
// Parameters live in one backend buffer (like the UNet), so AdamW treats the model as one
// vector; activations come from an arena and stay valid from a forward to its backward.
#pragma once
#include "../kernels/backend.h"
#include "arena.h"
#include "common.h"
#include "data.h"
#include "optim.h"
#include <stdint.h>

#define CLS_NLAYERS 5
#define CLS_FORMAT "stepscope-classifier/1"

typedef struct {
  int in_ch, img;   // image channels and side (img must be a multiple of 4)
  int width[3];     // channels at full, 1/2 and 1/4 resolution; width[2] is the feature dim
  int groups;       // GroupNorm groups (reduced to a divisor of each width)
  int nclass;
} ClassifierConfig;

ClassifierConfig classifier_default_config(int in_ch);  // widths 24, 48, 96; 10 classes

typedef struct { char name[32]; int ndim, shape[4]; size_t off, n; } ClsParam;  // a slice of w

typedef struct {
  int cin, cout, stride, side, groups;  // side: of the input
  int w, b, gn_g, gn_b;                 // parameter indices
  const float *x;                       // input, kept for the backward
  float *h, *a, *s, *mean, *rstd;       // conv output, norm output, silu output, GN stats
} ClsLayer;

typedef struct {
  ClassifierConfig cfg;
  Backend *be;
  int nparams;
  ClsParam params[4 * CLS_NLAYERS + 2];
  size_t size;          // floats in the parameter vector
  float *w, *g;         // parameters and gradients (backend memory)
  ClsLayer layer[CLS_NLAYERS];
  int fc_w, fc_b;
  Arena arena;
  int B;                // batch of the last forward
  float *feat, *logits; // (B, width[2]) and (B, nclass), arena memory
  float *xin, *dlogits; // host-convenience buffers (batch capacity cap)
  int cap;
} Classifier;

Classifier *classifier_create(const ClassifierConfig *cfg, Backend *be, Err *err);
void classifier_free(Classifier *m);
void classifier_init_params(Classifier *m, uint64_t seed);  // PyTorch-like default init
int classifier_feature_dim(const Classifier *m);
double classifier_macs(const Classifier *m);  // multiply-accumulates per image (forward)

// x is (B, in_ch, img, img) in backend memory. Resets the arena; *logits (B, nclass) and
// m->feat (B, feature dim) live until the next forward.
void classifier_forward(Classifier *m, const float *x, int B, float **logits);
// dlogits: gradient w.r.t. the last forward's logits (backend memory). Accumulates into m->g.
void classifier_backward(Classifier *m, const float *dlogits);

// Mean softmax cross-entropy of host logits (B, n) against labels; when dlogits is not
// NULL it receives the gradient of that mean, (softmax - onehot) / B. *correct (may be
// NULL) gets the number of rows whose arg-max is the label.
double classifier_xent(const float *logits, const uint8_t *labels, int B, int n, float *dlogits, int *correct);

// One AdamW step on a host batch x (B, in_ch, img, img) with labels; zeroes the gradient
// first. Returns the batch's mean cross-entropy; *correct (may be NULL) as above.
double classifier_train_step(Classifier *m, Optim *o, const float *x, const uint8_t *labels, int B, int *correct);

// Host convenience, in batches of up to `batch`: features (n, feature dim) and the
// arg-max class (n, may be NULL) of n host images.
void classifier_features(Classifier *m, const float *x, long n, int batch, float *feat, int *pred);
// Fraction of the first n images of d (all when n <= 0) classified correctly.
double classifier_accuracy(Classifier *m, const Dataset *d, long n, int batch);

// A fingerprint of the weights (FNV-1a over their bytes, 16 hex digits): FID statistics
// record it, so that statistics computed with another classifier are detected.
void classifier_hash(Classifier *m, char out[17]);

// Saves the weights under PyTorch-style names (layer.0.conv.weight, ..., fc.bias) with
// metadata format "stepscope-classifier/1", config (JSON) and the extra NULL-terminated
// key/value pairs (test_accuracy, data, steps, seed, ...).
int classifier_save(const char *path, Classifier *m, const char *const *extra, Err *e);
Classifier *classifier_load(const char *path, Backend *be, Err *e);
