// sampler.h — DDPM ancestral and DDIM sampling, independent of any model.
//
// The model is a callback on host arrays, eps = model(x_t, t), so the caller decides which
// network runs at each t (SAT: the model of the group holding t) and on which backend.
// All randomness (the initial x_T and every per-step noise) comes from our own Rng, drawn
// in a fixed order, so the same seed gives the same pixels on every backend.
//
// Noise streams: image b of a batch uses its own Rng seeded with (cfg->seed + b). Image b of
// a batch with seed s is therefore exactly the image a batch of one with seed s + b gives,
// whatever B is — a picked grid cell can be reproduced alone. Each stream draws C*H*W
// normals for x_T, then C*H*W normals at every step whose noise scale sigma is > 0
// (DDPM: every t > 0; DDIM: every step when eta > 0 except the last; none when eta = 0).
//
// Both samplers predict x0-hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) and, when
// clip_x0 is set (the default), clamp it to [-1, 1] and recompute eps from the clamped
// x0-hat (diffusers' use_clipped_model_output), so that each update stays consistent.
#pragma once
#include "engine/common.h"
#include "engine/schedule.h"
#include <stdint.h>

// eps = model(x_t, t) for B images; x and eps are (B,C,H,W) host arrays. Return 0, or -1
// after filling e to abort sampling with that error.
typedef int (*EpsFn)(void *user, int t, const float *x, int B, float *eps, Err *e);

// The same model in two halves, for models that compute on a device: begin starts
// eps = model(x_t, t) (x may change once it returns), finish waits for it and writes eps.
// The sampler draws the step's noise on the host in between, while the device computes.
typedef struct {
  int (*begin)(void *user, int t, const float *x, int B, Err *e);
  int (*finish)(void *user, float *eps, Err *e);
} EpsSplit;

// Called after each step: x is the new sample (at the next timestep, or x0 after the last
// step), x0_pred the x0-hat predicted at t; both (B,C,H,W). step counts 0..nsteps-1.
// Return nonzero to cancel sampling.
typedef int (*StepFn)(void *user, int step, int nsteps, int t, const float *x, const float *x0_pred, int B);

typedef enum { SAMPLER_DDPM, SAMPLER_DDIM } SamplerKind;

// How DDIM picks S of the T training timesteps (T = 1000, S = 50 shown):
//   leading   arange(0, S) * (T / S), reversed        980, 960, ..., 20, 0
//             (no +1 offset, as in Song et al.'s code and diffusers' default steps_offset = 0:
//              an offset of 1 would ask for t = T when S = T)
//   linspace  rint(linspace(0, T - 1, S)), reversed  999, 979, ..., 20, 0
//   trailing  rint(arange(T, 0, -T / S)) - 1         999, 979, ..., 39, 19
// Rounding is numpy's (half to even), so the arrays match diffusers' DDIMScheduler exactly.
// Every spacing gives T-1, T-2, ..., 0 when S = T. Only trailing starts at t = T - 1 for
// every S, where x_T ~ N(0, I) is the right start (Lin et al. 2024); it is the default.
typedef enum { SPACING_LEADING, SPACING_LINSPACE, SPACING_TRAILING } Spacing;

typedef struct {
  SamplerKind kind;
  int steps;        // DDIM: number of steps S in [1, T]; DDPM always runs all T steps
  float eta;        // DDIM: 0 = deterministic, 1 = DDPM-like noise; >= 0
  Spacing spacing;  // DDIM only
  uint64_t seed;
  int clip_x0;      // clamp x0-hat to [-1, 1]
} SamplerCfg;

// DDIM, 50 trailing steps, eta 0, seed 0, clip_x0 on.
SamplerCfg sampler_cfg_default(void);

const char *sampler_name(SamplerKind k);           // "ddpm", "ddim"
int sampler_parse(const char *name, SamplerKind *out);  // 0 ok, -1 unknown
const char *spacing_name(Spacing sp);              // "leading", "linspace", "trailing"
int spacing_parse(const char *name, Spacing *out);

// The S DDIM timesteps in sampling order (strictly decreasing, each in [0, T)). 0 or -1.
int ddim_timesteps(int T, int S, Spacing sp, int *out, Err *e);

// The timesteps cfg visits, in order, into out (room for s->T ints). Returns their number
// (T for DDPM, S for DDIM), or -1 on a bad cfg.
int sampler_timesteps(const Schedule *s, const SamplerCfg *cfg, int *out, Err *e);

// Compute accounting: counts[t] (T ints) = model calls at timestep t for one batch, so
// that the caller can weight each group model's MACs by how often it runs. Returns the
// total number of calls, or -1 on a bad cfg.
int sample_count_steps_per_t(const Schedule *s, const SamplerCfg *cfg, int *counts, Err *e);

#define SAMPLE_CANCELLED 1

// Draws B images of shape (C,H,W) into x_out (B*C*H*W floats, roughly in [-1, 1]).
// cb may be NULL. Returns 0 when done, SAMPLE_CANCELLED when cb cancelled (x_out then
// holds the latest x), or -1 with e filled (bad arguments, or eps failed).
int sample_run(const Schedule *s, const SamplerCfg *cfg, int B, int C, int H, int W,
               EpsFn eps, void *eps_user, StepFn cb, void *cb_user, float *x_out, Err *e);
// The same with a split model: the same pixels, the noise drawn while the model computes.
int sample_run_split(const Schedule *s, const SamplerCfg *cfg, int B, int C, int H, int W,
                     const EpsSplit *model, void *user, StepFn cb, void *cb_user, float *x_out, Err *e);
