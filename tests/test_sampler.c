// test_sampler.c — timestep arrays, reproducibility, and both samplers against data
// distributions whose true eps is known in closed form.
#include "test.h"
#include "engine/rng.h"
#include "engine/sampler.h"
#include <stdlib.h>

enum { T = 1000 };

static int strictly_decreasing_in_range(const int *ts, int S) {
  for (int i = 0; i < S; i++)
    if (ts[i] < 0 || ts[i] >= T || (i > 0 && ts[i] >= ts[i - 1])) return 0;
  return 1;
}

TEST(sampler_timesteps_spacings) {
  int ts[T];
  Err e;
  // S = 50: first and last per spacing (diffusers' DDIMScheduler gives the same arrays).
  const struct { Spacing sp; int first, second, last; } want[] = {
    {SPACING_LEADING, 980, 960, 0}, {SPACING_LINSPACE, 999, 979, 0}, {SPACING_TRAILING, 999, 979, 19}};
  for (int k = 0; k < 3; k++) {
    ASSERT_EQ_INT(ddim_timesteps(T, 50, want[k].sp, ts, &e), 0);
    ASSERTF(strictly_decreasing_in_range(ts, 50), "%s", spacing_name(want[k].sp));
    ASSERT_EQ_INT(ts[0], want[k].first);
    ASSERT_EQ_INT(ts[1], want[k].second);
    ASSERT_EQ_INT(ts[49], want[k].last);
  }
  // Every spacing with S = T is exactly 999..0; every S in 1..T stays ordered and in range.
  for (int sp = 0; sp < 3; sp++) {
    ASSERT_EQ_INT(ddim_timesteps(T, T, (Spacing)sp, ts, &e), 0);
    for (int i = 0; i < T; i++) ASSERT_EQ_INT(ts[i], T - 1 - i);
    for (int S = 1; S <= T; S++) {
      ASSERT_EQ_INT(ddim_timesteps(T, S, (Spacing)sp, ts, &e), 0);
      ASSERTF(strictly_decreasing_in_range(ts, S), "%s S=%d", spacing_name((Spacing)sp), S);
    }
  }
}

TEST(sampler_timesteps_exact_arrays) {
  int ts[7];
  Err e;
  // np.linspace(0, 999, 7) = 0, 166.5, 333, 499.5, 666, 832.5, 999; np.round is half-to-even.
  const int lin7[7] = {999, 832, 666, 500, 333, 166, 0};
  ASSERT_EQ_INT(ddim_timesteps(T, 7, SPACING_LINSPACE, ts, &e), 0);
  for (int i = 0; i < 7; i++) ASSERT_EQ_INT(ts[i], lin7[i]);
  // np.round(np.arange(1000, 0, -1000/3)) - 1 = 999, 666, 332; leading: 666, 333, 0.
  const int tr3[3] = {999, 666, 332}, le3[3] = {666, 333, 0};
  ASSERT_EQ_INT(ddim_timesteps(T, 3, SPACING_TRAILING, ts, &e), 0);
  for (int i = 0; i < 3; i++) ASSERT_EQ_INT(ts[i], tr3[i]);
  ASSERT_EQ_INT(ddim_timesteps(T, 3, SPACING_LEADING, ts, &e), 0);
  for (int i = 0; i < 3; i++) ASSERT_EQ_INT(ts[i], le3[i]);
  // S = 1: numpy's answers (only trailing starts from pure noise).
  ASSERT_EQ_INT(ddim_timesteps(T, 1, SPACING_TRAILING, ts, &e), 0);
  ASSERT_EQ_INT(ts[0], 999);
  ASSERT_EQ_INT(ddim_timesteps(T, 1, SPACING_LINSPACE, ts, &e), 0);
  ASSERT_EQ_INT(ts[0], 0);
}

TEST(sampler_timesteps_bad_args) {
  int ts[T + 1];
  Err e = {{0}};
  ASSERT_EQ_INT(ddim_timesteps(T, 0, SPACING_LEADING, ts, &e), -1);
  ASSERT(strstr(e.msg, "DDIM steps"));
  ASSERT_EQ_INT(ddim_timesteps(T, T + 1, SPACING_TRAILING, ts, &e), -1);
  ASSERT_EQ_INT(ddim_timesteps(T, -3, SPACING_LINSPACE, ts, &e), -1);
  ASSERT_EQ_INT(ddim_timesteps(0, 1, SPACING_LINSPACE, ts, &e), -1);
  ASSERT_EQ_INT(ddim_timesteps(T, 10, (Spacing)7, ts, &e), -1);
}

TEST(sampler_parse_names) {
  SamplerKind k;
  Spacing sp;
  ASSERT(sampler_parse("ddim", &k) == 0 && k == SAMPLER_DDIM);
  ASSERT(sampler_parse("ddpm", &k) == 0 && k == SAMPLER_DDPM);
  ASSERT(sampler_parse("euler", &k) == -1);
  for (int i = 0; i < 3; i++) ASSERT(spacing_parse(spacing_name((Spacing)i), &sp) == 0 && sp == (Spacing)i);
  ASSERT(spacing_parse("uniform", &sp) == -1);
}

TEST(sampler_count_steps_per_t) {
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, T);
  int counts[T];
  Err e;
  SamplerCfg cfg = sampler_cfg_default();
  cfg.steps = 50;
  ASSERT_EQ_INT(sample_count_steps_per_t(&s, &cfg, counts, &e), 50);
  int total = 0;
  for (int t = 0; t < T; t++) total += counts[t];
  ASSERT_EQ_INT(total, 50);
  ASSERT_EQ_INT(counts[999], 1);
  ASSERT_EQ_INT(counts[998], 0);
  ASSERT_EQ_INT(counts[19], 1);
  ASSERT_EQ_INT(counts[0], 0);
  cfg.kind = SAMPLER_DDPM;
  ASSERT_EQ_INT(sample_count_steps_per_t(&s, &cfg, counts, &e), T);
  for (int t = 0; t < T; t++) ASSERT_EQ_INT(counts[t], 1);
  cfg.kind = SAMPLER_DDIM;
  cfg.steps = 0;
  ASSERT_EQ_INT(sample_count_steps_per_t(&s, &cfg, counts, &e), -1);
  schedule_free(&s);
}

// ---- analytic models ----

// Data N(mu, var I): x_t ~ N(sqrt(abar) mu, (abar var + 1 - abar) I), so the optimal
// denoiser is E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar var + 1 - abar).
// var = 0 is a point mass at mu, where eps = (x_t - sqrt(abar) mu) / sqrt(1 - abar).
typedef struct { const Schedule *s; float *mu; float var; long per_image; int calls; } Gauss;

static int gauss_eps(void *user, int t, const float *x, int B, float *eps, Err *e) {
  Gauss *g = user;
  double a = g->s->abar[t];
  for (int b = 0; b < B; b++)
    for (long i = 0; i < g->per_image; i++) {
      long k = b * g->per_image + i;
      eps[k] = (float)(sqrt(1 - a) * (x[k] - sqrt(a) * g->mu[i]) / (a * g->var + 1 - a));
    }
  g->calls++;
  return 0;
}

static float *point_image(long n) {  // a fixed image with values in [-0.9, 0.9]
  float *mu = malloc(sizeof(float) * n);
  for (long i = 0; i < n; i++) mu[i] = 0.9f * sinf(0.37f * (float)i + 0.5f);
  return mu;
}

// N(point_image, var I) over per values an image, on a linear schedule of its own;
// gauss_free() frees both.
static Gauss gauss_new(long per, float var) {
  Schedule *s = malloc(sizeof *s);
  schedule_init(s, SCHED_LINEAR, T);
  return (Gauss){s, point_image(per), var, per, 0};
}

static void gauss_free(Gauss *g) {
  schedule_free((Schedule *)g->s);
  free((Schedule *)g->s);
  free(g->mu);
}

// The sampler on g's denoiser and schedule: B images of C x H x W into x; sample_run's result.
static int gauss_sample(Gauss *g, const SamplerCfg *cfg, int B, int C, int H, int W, float *x) {
  Err e;
  return sample_run(g->s, cfg, B, C, H, W, gauss_eps, g, NULL, NULL, x, &e);
}

static double max_abs_diff(const float *a, const float *b, long n) {
  double m = 0;
  for (long i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

TEST(sampler_point_mass_lands_on_x0) {
  enum { B = 3, C = 1, H = 8, W = 8 };
  const long per = C * H * W;
  float *mu = point_image(per), *x = malloc(sizeof(float) * B * per);
  for (int kind = 0; kind < 2; kind++) {
    Schedule s;
    schedule_init(&s, kind ? SCHED_COSINE : SCHED_LINEAR, T);
    Gauss g = {&s, mu, 0.0f, per, 0};
    SamplerCfg cfgs[3] = {sampler_cfg_default(), sampler_cfg_default(), sampler_cfg_default()};
    cfgs[0].kind = SAMPLER_DDPM;
    cfgs[1].steps = 20;                                   // DDIM eta = 0
    cfgs[2].steps = 10, cfgs[2].eta = 1.0f, cfgs[2].spacing = SPACING_LEADING;
    for (int c = 0; c < 3; c++) {
      Err e;
      cfgs[c].seed = 7;
      ASSERT_EQ_INT(sample_run(&s, &cfgs[c], B, C, H, W, gauss_eps, &g, NULL, NULL, x, &e), 0);
      // With the exact eps, x0-hat is x0* at every step; float rounding is all that is left.
      for (int b = 0; b < B; b++)
        ASSERTF(max_abs_diff(x + b * per, mu, per) < 1e-4, "%s cfg %d image %d: off by %g",
                schedule_name(s.kind), c, b, max_abs_diff(x + b * per, mu, per));
    }
    schedule_free(&s);
  }
  free(mu); free(x);
}

static void mean_std(const float *x, long n, double *mean, double *std) {
  double s = 0, ss = 0;
  for (long i = 0; i < n; i++) s += x[i], ss += (double)x[i] * x[i];
  *mean = s / n;
  *std = sqrt(ss / n - *mean * *mean);
}

// For data N(mu, var I) and the optimal eps, one DDIM step from abar to abar' is linear in
// d = x - sqrt(abar) mu:  d' = k d + sigma z  with
//   k = (sqrt(abar abar') var + sqrt(1 - abar' - sigma^2) sqrt(1 - abar)) / (abar var + 1 - abar).
// ddim_gauss() walks the steps of cfg: *gain = prod k, *out_var = Var(d_final) from Var(d_T) = 1.
static void ddim_gauss(const Schedule *s, const SamplerCfg *cfg, double var, double *gain, double *out_var,
                       double *abar_first) {
  int ts[T];
  Err e;
  CHECK(ddim_timesteps(s->T, cfg->steps, cfg->spacing, ts, &e) == 0, "%s", e.msg);
  double K = 1, v = 1;
  for (int i = 0; i < cfg->steps; i++) {
    double a = s->abar[ts[i]], ap = i + 1 < cfg->steps ? s->abar[ts[i + 1]] : 1.0;
    double sig2 = cfg->eta * cfg->eta * (1 - ap) / (1 - a) * (1 - a / ap);
    double k = (sqrt(a * ap) * var + sqrt(fmax(1 - ap - sig2, 0) * (1 - a))) / (a * var + 1 - a);
    K *= k;
    v = k * k * v + sig2;
  }
  *gain = K, *out_var = v, *abar_first = s->abar[ts[0]];
}

// The stochastic samplers, fed the optimal denoiser of N(mu, 0.3^2), must give that
// distribution (DDPM over all T steps), or the spread the discrete DDIM recursion predicts
// (eta = 1, 100 steps: std 0.27; skipping steps shrinks it). 8192 samples pin mean and std
// to about 1 % (one standard error).
TEST(sampler_gaussian_data_statistics) {
  enum { B = 32, C = 1, H = 16, W = 16 };
  const long per = C * H * W, n = B * per;
  float *mu = calloc(per, sizeof(float)), *x = malloc(sizeof(float) * n);
  for (long i = 0; i < per; i++) mu[i] = 0.2f;
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, T);
  Gauss g = {&s, mu, 0.09f, per, 0};
  SamplerCfg cfgs[3] = {sampler_cfg_default(), sampler_cfg_default(), sampler_cfg_default()};
  cfgs[0].kind = SAMPLER_DDPM;
  cfgs[1].steps = 100, cfgs[1].eta = 1.0f;
  cfgs[2].steps = 40, cfgs[2].eta = 0.5f, cfgs[2].spacing = SPACING_LINSPACE;
  for (int c = 0; c < 3; c++) {
    Err e;
    cfgs[c].clip_x0 = 0;  // clamping x0-hat would bias the early steps of a wide prior
    cfgs[c].seed = 11;
    ASSERT_EQ_INT(sample_run(&s, &cfgs[c], B, C, H, W, gauss_eps, &g, NULL, NULL, x, &e), 0);
    double m, sd, want_sd = 0.3, K, v, a0;
    if (cfgs[c].kind == SAMPLER_DDIM) ddim_gauss(&s, &cfgs[c], 0.09, &K, &v, &a0), want_sd = sqrt(v);
    mean_std(x, n, &m, &sd);
    ASSERTF(fabs(m - 0.2) < 0.01 && fabs(sd - want_sd) < 0.02 * want_sd,
            "%s eta %g: mean %.4f std %.4f, want 0.2 and %.4f", sampler_name(cfgs[c].kind),
            (double)cfgs[c].eta, m, sd, want_sd);
  }
  schedule_free(&s);
  free(mu); free(x);
}

// DDIM(eta = 0) has no noise after x_T, so for Gaussian data its output is exactly
// mu + prod(k) (z - sqrt(abar_first) mu), z being the initial noise, which we redraw from
// the documented stream (seed + b).
TEST(sampler_ddim_gaussian_closed_form) {
  enum { B = 2, C = 1, H = 8, W = 8 };
  const long per = C * H * W, n = B * per;
  const double var = 0.2;
  Gauss g = gauss_new(per, (float)var);
  float *mu = g.mu, *x = malloc(sizeof(float) * n), *z = malloc(sizeof(float) * n);
  for (int sp = 0; sp < 3; sp++)
    for (int S = 5; S <= 125; S *= 5) {
      SamplerCfg cfg = sampler_cfg_default();
      cfg.spacing = (Spacing)sp, cfg.steps = S, cfg.clip_x0 = 0, cfg.seed = 3;
      ASSERT_EQ_INT(gauss_sample(&g, &cfg, B, C, H, W, x), 0);
      double K, v, a0;
      ddim_gauss(g.s, &cfg, var, &K, &v, &a0);
      for (int b = 0; b < B; b++) {
        Rng r;
        rng_seed(&r, cfg.seed + b);
        rng_normal_fill(&r, z + b * per, per);
      }
      for (long k = 0; k < n; k++) {
        double m = mu[k % per], want = m + K * (z[k] - sqrt(a0) * m);
        ASSERTF(fabs(x[k] - want) < 1e-4 + 1e-4 * fabs(want), "%s S=%d element %ld: %.7f, closed form %.7f",
                spacing_name(cfg.spacing), S, k, x[k], want);
      }
    }
  gauss_free(&g);
  free(x); free(z);
}

// DDIM with eta = 1 over all T steps is DDPM written another way, and draws the same noise.
TEST(sampler_ddim_eta1_full_equals_ddpm) {
  enum { B = 2, C = 3, H = 4, W = 4 };
  const long per = C * H * W, n = B * per;
  Gauss g = gauss_new(per, 0.25f);
  float *x1 = malloc(sizeof(float) * n), *x2 = malloc(sizeof(float) * n);
  SamplerCfg ddpm = sampler_cfg_default(), ddim = sampler_cfg_default();
  ddpm.kind = SAMPLER_DDPM;
  ddim.steps = T, ddim.eta = 1.0f;
  ddpm.seed = ddim.seed = 99;
  ASSERT_EQ_INT(gauss_sample(&g, &ddpm, B, C, H, W, x1), 0);
  ASSERT_EQ_INT(gauss_sample(&g, &ddim, B, C, H, W, x2), 0);
  ASSERTF(max_abs_diff(x1, x2, n) < 1e-4, "differ by %g", max_abs_diff(x1, x2, n));
  gauss_free(&g);
  free(x1); free(x2);
}

TEST(sampler_seed_reproducibility) {
  enum { B = 4, C = 1, H = 8, W = 8 };
  const long per = C * H * W, n = B * per;
  Gauss g = gauss_new(per, 0.25f);
  float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *one = malloc(sizeof(float) * per);
  for (int eta10 = 0; eta10 <= 5; eta10 += 5) {
    SamplerCfg cfg = sampler_cfg_default();
    cfg.steps = 25, cfg.eta = eta10 / 10.0f, cfg.seed = 1234;
    ASSERT_EQ_INT(gauss_sample(&g, &cfg, B, C, H, W, a), 0);
    ASSERT_EQ_INT(gauss_sample(&g, &cfg, B, C, H, W, b), 0);
    ASSERT(memcmp(a, b, sizeof(float) * n) == 0);  // same seed: the same bits
    // Image 2 of seed 1234 is image 0 of seed 1236, whatever the batch size.
    cfg.seed = 1236;
    ASSERT_EQ_INT(gauss_sample(&g, &cfg, 1, C, H, W, one), 0);
    ASSERT(memcmp(a + 2 * per, one, sizeof(float) * per) == 0);
    cfg.seed = 1235;
    ASSERT_EQ_INT(gauss_sample(&g, &cfg, B, C, H, W, b), 0);
    ASSERT(max_abs_diff(a, b, per) > 0.05);  // a different seed: a different image 0
  }
  gauss_free(&g);
  free(a); free(b); free(one);
}

TEST(sampler_bad_args) {
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, T);
  float x[16], mu[16] = {0};
  Gauss g = {&s, mu, 0.0f, 16, 0};
  SamplerCfg cfg = sampler_cfg_default();
  Err e;
  ASSERT_EQ_INT(sample_run(&s, &cfg, 0, 1, 4, 4, gauss_eps, &g, NULL, NULL, x, &e), -1);
  ASSERT(strstr(e.msg, "batch"));
  ASSERT_EQ_INT(sample_run(&s, &cfg, 1, 0, 4, 4, gauss_eps, &g, NULL, NULL, x, &e), -1);
  cfg.steps = 0;
  ASSERT_EQ_INT(sample_run(&s, &cfg, 1, 1, 4, 4, gauss_eps, &g, NULL, NULL, x, &e), -1);
  cfg.steps = T + 1;
  ASSERT_EQ_INT(sample_run(&s, &cfg, 1, 1, 4, 4, gauss_eps, &g, NULL, NULL, x, &e), -1);
  ASSERT(strstr(e.msg, "1..1000"));
  cfg.steps = 10, cfg.eta = -0.5f;
  ASSERT_EQ_INT(sample_run(&s, &cfg, 1, 1, 4, 4, gauss_eps, &g, NULL, NULL, x, &e), -1);
  cfg.eta = NAN;
  ASSERT_EQ_INT(sample_run(&s, &cfg, 1, 1, 4, 4, gauss_eps, &g, NULL, NULL, x, &e), -1);
  ASSERT_EQ_INT(g.calls, 0);  // nothing ran
  schedule_free(&s);
}

typedef struct { int calls, stop_at, last_step, last_nsteps, last_t; } Watch;

static int watch_cb(void *user, int step, int nsteps, int t, const float *x, const float *x0, int B) {
  Watch *w = user;
  w->calls++;
  w->last_step = step, w->last_nsteps = nsteps, w->last_t = t;
  return step == w->stop_at;
}

static int failing_eps(void *user, int t, const float *x, int B, float *eps, Err *e) {
  if (t < 500) return err_set(e, "backend: out of memory at t = %d", t);
  memset(eps, 0, sizeof(float) * B * 16);
  return 0;
}

TEST(sampler_callback_and_cancel) {
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, T);
  float x[2 * 16], mu[16] = {0};
  Gauss g = {&s, mu, 0.0f, 16, 0};
  SamplerCfg cfg = sampler_cfg_default();
  cfg.steps = 10;
  Err e;
  Watch w = {0, -1, 0, 0, 0};  // never cancels: sees every step
  ASSERT_EQ_INT(sample_run(&s, &cfg, 2, 1, 4, 4, gauss_eps, &g, watch_cb, &w, x, &e), 0);
  ASSERT_EQ_INT(w.calls, 10);
  ASSERT_EQ_INT(w.last_step, 9);
  ASSERT_EQ_INT(w.last_nsteps, 10);
  ASSERT_EQ_INT(w.last_t, 99);  // trailing, S = 10: 999, 899, ..., 99
  w = (Watch){0, 3, 0, 0, 0};
  g.calls = 0;
  ASSERT_EQ_INT(sample_run(&s, &cfg, 2, 1, 4, 4, gauss_eps, &g, watch_cb, &w, x, &e), SAMPLE_CANCELLED);
  ASSERT_EQ_INT(w.calls, 4);
  ASSERT_EQ_INT(g.calls, 4);  // no model call after the cancel
  // A model error aborts with the model's own message.
  ASSERT_EQ_INT(sample_run(&s, &cfg, 1, 1, 4, 4, failing_eps, NULL, NULL, NULL, x, &e), -1);
  ASSERT(strstr(e.msg, "out of memory at t = 499"));
  schedule_free(&s);
}

// ---- the split model ----

// The Gaussian model in two halves, with a log of the calls: begin copies x (the sampler may
// not change it before finish) and finish computes from the copy.
typedef struct { Gauss g; float *x; int t, B, pending, begins, bad_order, fail_at; } SplitGauss;

static int split_begin(void *u, int t, const float *x, int B, Err *e) {
  SplitGauss *s = u;
  s->bad_order |= s->pending;
  if (s->begins++ == s->fail_at) return err_set(e, "model refused t = %d", t);
  memcpy(s->x, x, sizeof(float) * B * s->g.per_image);
  s->t = t, s->B = B, s->pending = 1;
  return 0;
}

static int split_finish(void *u, float *eps, Err *e) {
  SplitGauss *s = u;
  s->bad_order |= !s->pending;
  s->pending = 0;
  return gauss_eps(&s->g, s->t, s->x, s->B, eps, e);
}

// The same pixels as the whole-call model for every sampler (the noise is drawn between the
// halves now, from the same streams), begin and finish alternating, and a failing begin ends
// the run with its message.
TEST(sampler_split_model_same_pixels) {
  enum { B = 2, C = 1, H = 8, W = 8 };
  const long per = C * H * W;
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, T);
  float *mu = point_image(per), *a = malloc(sizeof(float) * B * per), *b = malloc(sizeof(float) * B * per);
  SamplerCfg cfgs[3] = {sampler_cfg_default(), sampler_cfg_default(), sampler_cfg_default()};
  cfgs[0].kind = SAMPLER_DDPM;
  cfgs[1].steps = 25, cfgs[1].eta = 0.7f;
  cfgs[2].steps = 10;
  const EpsSplit split = {split_begin, split_finish};
  for (int c = 0; c < 3; c++) {
    Err e;
    cfgs[c].seed = 3;
    Gauss g = {&s, mu, 0.2f, per, 0};
    SplitGauss sg = {.g = g, .x = malloc(sizeof(float) * B * per), .fail_at = -1};
    ASSERT_EQ_INT(sample_run(&s, &cfgs[c], B, C, H, W, gauss_eps, &g, NULL, NULL, a, &e), 0);
    ASSERT_EQ_INT(sample_run_split(&s, &cfgs[c], B, C, H, W, &split, &sg, NULL, NULL, b, &e), 0);
    ASSERTF(!memcmp(a, b, sizeof(float) * B * per), "cfg %d: split model gives other pixels", c);
    ASSERT(!sg.bad_order && !sg.pending && sg.begins == g.calls);
    sg.fail_at = 4, sg.begins = 0;
    ASSERT_EQ_INT(sample_run_split(&s, &cfgs[c], B, C, H, W, &split, &sg, NULL, NULL, b, &e), -1);
    ASSERTF(strstr(e.msg, "model refused"), "message: %s", e.msg);
    free(sg.x);
  }
  free(mu); free(a); free(b);
  schedule_free(&s);
}
