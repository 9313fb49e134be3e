// importance.h — how much each channel of a UNet matters, per structural dependency group.
//
// A width group (one entry of UNet.widths) is a set of channels that pruning removes from
// every coupled tensor at once (the Param.dim segments that name it). Each of its channels
// is scored by one criterion:
//   magnitude     L1 norm of every conv and linear weight touching the channel: the rows
//                 that produce it and the columns that consume it;
//   taylor        first order: sum over the channel's parameters of |theta * dL/dtheta|,
//                 L the mean eps-MSE on the calibration batch with t in the group's [t0, t1);
//   diff-pruning  Fang et al. 2023: the same with the gradient accumulated over timesteps
//                 from t0 upward until the loss falls below thr * the largest loss seen;
//   random        seeded uniform scores, the baseline every criterion must beat.
// Scores are normalised per group so that its highest channel scores 1 (the raw maximum
// is kept in `scale`).
//
// Structural units. Pruning removes whole units, and a unit's score is the sum of its
// channels' scores:
//   - a ResBlock's inner width (`*.mid`) is GroupNorm'd by norm2: a unit is one norm
//     group (channels per group of the base model), so the surviving groups keep their
//     statistics exactly (unet_build's mk_norm keeps the channels per group);
//   - an attention block's inner width (`*.inner`): single channels (the softmax
//     temperature stays the base model's);
//   - residual-stream widths (`conv_in.out`, `*.out`): single channels. The norms that
//     read a stream adapt: they keep the base channels per group when the new width is a
//     multiple of it, else take the largest group count that divides the width, so their
//     statistics change and fine-tuning absorbs that.
//
// Calibration: a fixed held-out batch (the first n images of a data set's test split) with
// fixed noise and a fixed position u_i in [0, 1) per image; image i is noised at
// t = t0 + floor((i + u_i) / n * (t1 - t0)) (stratified over the range), so every score and
// every proxy loss is a deterministic function of (model, data, seed, range).
#pragma once
#include "../data.h"
#include "../schedule.h"
#include "../unet.h"

typedef enum { CRIT_MAGNITUDE, CRIT_TAYLOR, CRIT_DIFF_PRUNING, CRIT_RANDOM } Criterion;
int criterion_parse(const char *s, Criterion *c);  // 0 ok, -1 unknown
const char *criterion_name(Criterion c);
const char *criterion_names(void);  // "magnitude, taylor, diff-pruning, random"

typedef struct {
  int n, D;       // images, floats per image
  float *x0;      // n*D clean images (host)
  float *eps;     // n*D fixed noise (host)
  float *u;       // n positions in [0, 1)
} Calib;

// The first n images of d (all of them if it has fewer), noise and positions from seed.
void calib_init(Calib *c, const Dataset *d, int n, uint64_t seed);
void calib_free(Calib *c);
int calib_t(const Calib *c, int i, int t0, int t1);  // image i's timestep in [t0, t1)
// The proxy: mean eps-MSE over the calibration images at their timesteps in [t0, t1),
// forward passes of at most `batch` images, no gradients.
double calib_loss(UNet *m, const Schedule *s, const Calib *c, int t0, int t1, int batch);

// How a long computation reports progress and learns that it should stop (a UI's job).
// Either callback may be NULL.
typedef struct {
  int (*cancelled)(void *ctx);             // nonzero: stop as soon as possible
  void (*progress)(void *ctx, double frac);  // 0..1 of this computation
  void *ctx;
} Watch;

typedef struct {
  Criterion crit;
  int t0, t1;          // the timestep group's range
  uint64_t seed;       // random criterion
  float thr;           // diff-pruning's stopping threshold (default 0.1)
  int dp_steps;        // diff-pruning visits at most this many timesteps (default 32)
  int batch;           // images per forward/backward pass (default 32)
  Watch watch;         // progress per calibration batch; cancel between batches
} ImpCfg;
ImpCfg imp_defaults(Criterion c, int t0, int t1);

typedef struct {
  int ngroups;
  Criterion crit;
  int t0, t1;
  int *width;          // channels per group
  int *unit;           // channels per structural unit (width is a multiple of it)
  float **score;       // score[g][c] in [0, 1], the group's best channel at 1
  double *scale;       // the raw score of that best channel
  int dp_last_t;       // diff-pruning: the last timestep accumulated (-1 otherwise)
} Importance;

// Scores every channel of every width group of m. Criteria with gradients overwrite m->g.
// A cancel through cfg->watch returns -1 with "cancelled".
int importance_compute(UNet *m, const Schedule *s, const Calib *c, const ImpCfg *cfg, Importance *imp,
                       Err *e);
void importance_free(Importance *imp);
static inline int importance_units(const Importance *imp, int g) { return imp->width[g] / imp->unit[g]; }
// The channels to keep for `units` units of group g: the highest-scoring units (ties go to
// the lower index), in ascending channel order. keep holds width[g] ints; returns the count.
int importance_keep(const Importance *imp, int g, int units, int *keep);
