// sampler.c — DDPM ancestral (Ho et al. 2020) and DDIM (Song et al. 2021) sampling loops.
#include "sampler.h"
#include "rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

SamplerCfg sampler_cfg_default(void) {
  return (SamplerCfg){.kind = SAMPLER_DDIM, .steps = 50, .eta = 0.0f,
                      .spacing = SPACING_TRAILING, .seed = 0, .clip_x0 = 1};
}

static const char *const sampler_names[] = {"ddpm", "ddim"};
static const char *const spacing_names[] = {"leading", "linspace", "trailing"};

const char *sampler_name(SamplerKind k) { return (unsigned)k < 2 ? sampler_names[k] : "?"; }
const char *spacing_name(Spacing sp) { return (unsigned)sp < 3 ? spacing_names[sp] : "?"; }

int sampler_parse(const char *name, SamplerKind *out) {
  for (int i = 0; i < 2; i++)
    if (!strcmp(name, sampler_names[i])) { *out = (SamplerKind)i; return 0; }
  return -1;
}

int spacing_parse(const char *name, Spacing *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(name, spacing_names[i])) { *out = (Spacing)i; return 0; }
  return -1;
}

// Each formula is written the way numpy evaluates it in diffusers (start + i * step, then
// rint, which rounds half to even like np.round), so the arrays agree bit for bit.
int ddim_timesteps(int T, int S, Spacing sp, int *out, Err *e) {
  if (T < 1) return err_set(e, "sampler: schedule has T = %d timesteps", T);
  if (S < 1 || S > T) return err_set(e, "sampler: %d DDIM steps asked for, need 1..%d", S, T);
  switch (sp) {
  case SPACING_LEADING:  // ascending 0, T/S, 2T/S, ... then reversed
    for (int i = 0; i < S; i++) out[S - 1 - i] = i * (T / S);
    break;
  case SPACING_LINSPACE: {  // np.linspace(0, T-1, S) sets its last point to T-1 exactly
    double step = S > 1 ? (double)(T - 1) / (S - 1) : 0;
    for (int i = 0; i < S; i++) out[S - 1 - i] = i == S - 1 && S > 1 ? T - 1 : (int)rint(i * step);
    break;
  }
  case SPACING_TRAILING: {  // already descending: T, T - T/S, ... minus one
    double step = (double)T / S;
    for (int i = 0; i < S; i++) out[i] = (int)rint(T - i * step) - 1;
    break;
  }
  default:
    return err_set(e, "sampler: unknown spacing %d", (int)sp);
  }
  for (int i = 0; i < S; i++)  // a bug, not bad input, if this ever fires
    CHECK(out[i] >= 0 && out[i] < T && (i == 0 || out[i] < out[i - 1]),
          "ddim_timesteps(T=%d, S=%d, %s) broke order at %d", T, S, spacing_name(sp), i);
  return 0;
}

static int check_cfg(const Schedule *s, const SamplerCfg *cfg, Err *e) {
  if (cfg->kind != SAMPLER_DDPM && cfg->kind != SAMPLER_DDIM)
    return err_set(e, "sampler: unknown sampler kind %d", (int)cfg->kind);
  if (cfg->kind == SAMPLER_DDIM && !(cfg->eta >= 0 && isfinite(cfg->eta)))
    return err_set(e, "sampler: eta must be a number >= 0, got %g", (double)cfg->eta);
  if (s->T < 1) return err_set(e, "sampler: schedule has T = %d timesteps", s->T);
  return 0;
}

int sampler_timesteps(const Schedule *s, const SamplerCfg *cfg, int *out, Err *e) {
  if (check_cfg(s, cfg, e)) return -1;
  if (cfg->kind == SAMPLER_DDPM) {
    for (int i = 0; i < s->T; i++) out[i] = s->T - 1 - i;
    return s->T;
  }
  return ddim_timesteps(s->T, cfg->steps, cfg->spacing, out, e) ? -1 : cfg->steps;
}

int sample_count_steps_per_t(const Schedule *s, const SamplerCfg *cfg, int *counts, Err *e) {
  int *ts = xmalloc(sizeof(int) * (s->T > 0 ? s->T : 1));
  int n = sampler_timesteps(s, cfg, ts, e);
  if (n >= 0) {
    memset(counts, 0, sizeof(int) * s->T);
    for (int i = 0; i < n; i++) counts[ts[i]]++;
  }
  free(ts);
  return n;
}

// x0-hat from x_t and eps: x0 = (x - sqrt(1 - abar) eps) / sqrt(abar). With clip, x0 is
// clamped to [-1, 1] and eps recomputed from it, so (x0, eps) again explain x_t exactly.
static void predict_x0(long n, const float *x, float *eps, double abar, int clip, float *x0) {
  double sa = sqrt(abar), s1a = sqrt(1 - abar);
  for (long i = 0; i < n; i++) {
    double v = (x[i] - s1a * eps[i]) / sa;
    if (clip) {
      v = v < -1 ? -1 : v > 1 ? 1 : v;
      eps[i] = (float)((x[i] - sa * v) / s1a);
    }
    x0[i] = (float)v;
  }
}

// z (B,C,H,W): per-image noise, image b from its own stream.
static void draw_noise(Rng *rng, int B, long per_image, float *z) {
  for (int b = 0; b < B; b++) rng_normal_fill(&rng[b], z + b * per_image, per_image);
}

int sample_run_split(const Schedule *s, const SamplerCfg *cfg, int B, int C, int H, int W,
                     const EpsSplit *model, void *user, StepFn cb, void *cb_user, float *x, Err *e) {
  CHECK(model && model->begin && model->finish && x, "sample_run needs a model and an output buffer");
  if (B < 1) return err_set(e, "sampler: batch size must be >= 1, got %d", B);
  if (C < 1 || H < 1 || W < 1) return err_set(e, "sampler: bad image shape (%d,%d,%d)", C, H, W);
  int *ts = xmalloc(sizeof(int) * (s->T > 0 ? s->T : 1));
  int nsteps = sampler_timesteps(s, cfg, ts, e);
  if (nsteps < 0) { free(ts); return -1; }

  const long per_image = (long)C * H * W, n = B * per_image;
  float *eps = xmalloc(sizeof(float) * n), *x0 = xmalloc(sizeof(float) * n), *z = xmalloc(sizeof(float) * n);
  Rng *rng = xmalloc(sizeof(Rng) * B);
  for (int b = 0; b < B; b++) rng_seed(&rng[b], cfg->seed + (uint64_t)b);
  draw_noise(rng, B, per_image, x);  // x_T ~ N(0, I)

  int rc = 0;
  for (int i = 0; i < nsteps && rc == 0; i++) {
    const int t = ts[i], t_prev = i + 1 < nsteps ? ts[i + 1] : -1;
    const double abar = s->abar[t], abar_prev = t_prev >= 0 ? s->abar[t_prev] : 1.0;
    // The noise scale of this step: DDPM's posterior variance beta_tilde, or DDIM's
    // sigma = eta * sqrt((1 - abar_prev) / (1 - abar)) * sqrt(1 - abar / abar_prev).
    const double sigma = cfg->kind == SAMPLER_DDPM
                             ? sqrt(s->beta[t] * (1 - abar_prev) / (1 - abar))
                             : cfg->eta * sqrt((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev));
    e->msg[0] = 0;
    int ok = model->begin(user, t, x, B, e) == 0;
    if (ok && sigma > 0) draw_noise(rng, B, per_image, z);  // on the host, while the model computes
    ok = ok && model->finish(user, eps, e) == 0;
    if (!ok) {
      if (!e->msg[0]) err_set(e, "sampler: model failed at t = %d", t);
      rc = -1;
      break;
    }
    predict_x0(n, x, eps, abar, cfg->clip_x0, x0);
    if (cfg->kind == SAMPLER_DDPM) {
      // Posterior q(x_{t-1} | x_t, x0): mean = c0 x0 + ct x_t, variance sigma^2.
      // (DDPM walks every t, so t_prev = t - 1 and abar / abar_prev = alpha_t.)
      const double beta = s->beta[t], alpha = s->alpha[t];
      const double c0 = sqrt(abar_prev) * beta / (1 - abar);
      const double ct = sqrt(alpha) * (1 - abar_prev) / (1 - abar);
      for (long k = 0; k < n; k++)
        x[k] = (float)(c0 * x0[k] + ct * x[k] + (sigma > 0 ? sigma * z[k] : 0));
    } else {
      // x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z.
      const double dir2 = 1 - abar_prev - sigma * sigma, dir = dir2 > 0 ? sqrt(dir2) : 0;
      const double sap = sqrt(abar_prev);
      for (long k = 0; k < n; k++)
        x[k] = (float)(sap * x0[k] + dir * eps[k] + (sigma > 0 ? sigma * z[k] : 0));
    }
    if (cb && cb(cb_user, i, nsteps, t, x, x0, B)) rc = SAMPLE_CANCELLED;
  }
  free(ts); free(eps); free(x0); free(z); free(rng);
  return rc;
}

// A whole-call model as a split one: begin remembers the call, finish makes it.
typedef struct { EpsFn fn; void *user; int t, B; const float *x; } WholeCall;

static int whole_begin(void *u, int t, const float *x, int B, Err *e) {
  WholeCall *w = u;
  w->t = t, w->x = x, w->B = B;
  return 0;
}

static int whole_finish(void *u, float *eps, Err *e) {
  WholeCall *w = u;
  return w->fn(w->user, w->t, w->x, w->B, eps, e);
}

int sample_run(const Schedule *s, const SamplerCfg *cfg, int B, int C, int H, int W,
               EpsFn eps_fn, void *eps_user, StepFn cb, void *cb_user, float *x, Err *e) {
  CHECK(eps_fn, "sample_run needs a model callback");
  WholeCall w = {eps_fn, eps_user, 0, 0, NULL};
  const EpsSplit split = {whole_begin, whole_finish};
  return sample_run_split(s, cfg, B, C, H, W, &split, &w, cb, cb_user, x, e);
}
