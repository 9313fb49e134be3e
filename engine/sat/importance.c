// importance.c — per-channel importance scores of a UNet's width groups.
#include "importance.h"
#include "../train.h"
#include <math.h>
#include <string.h>

static const char *const crit_names[] = {"magnitude", "taylor", "diff-pruning", "random"};

int criterion_parse(const char *s, Criterion *c) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(s, crit_names[i])) { *c = (Criterion)i; return 0; }
  return -1;
}

const char *criterion_name(Criterion c) { return crit_names[c]; }
const char *criterion_names(void) { return "magnitude, taylor, diff-pruning, random"; }

ImpCfg imp_defaults(Criterion c, int t0, int t1) {
  return (ImpCfg){.crit = c, .t0 = t0, .t1 = t1, .seed = 0, .thr = 0.1f, .dp_steps = 32, .batch = 32};
}

// ---- calibration batch ----

void calib_init(Calib *c, const Dataset *d, int n, uint64_t seed) {
  if (n > d->n) n = d->n;
  c->n = n;
  c->D = d->c * d->h * d->w;
  c->x0 = xmalloc(sizeof(float) * n * c->D);
  c->eps = xmalloc(sizeof(float) * n * c->D);
  c->u = xmalloc(sizeof(float) * (n ? n : 1));
  memcpy(c->x0, d->x, sizeof(float) * n * c->D);
  Rng r;
  rng_seed(&r, seed ^ 0xca1b);
  rng_normal_fill(&r, c->eps, (long)n * c->D);
  for (int i = 0; i < n; i++) c->u[i] = rng_uniform(&r);
}

void calib_free(Calib *c) {
  free(c->x0);
  free(c->eps);
  free(c->u);
  memset(c, 0, sizeof *c);
}

int calib_t(const Calib *c, int i, int t0, int t1) {
  int t = t0 + (int)((i + c->u[i]) / c->n * (t1 - t0));
  return t < t1 ? t : t1 - 1;
}

// Device buffers for passes over the calibration batch in chunks.
typedef struct {
  int cap;
  float *hx, *hw, *hl;
  int *ht;
  float *dx, *de, *dw, *dl, *dg;
} Chunk;

static void chunk_init(Chunk *k, Backend *be, int cap, int D) {
  k->cap = cap;
  k->hx = xmalloc(sizeof(float) * cap * D);
  k->hw = xmalloc(sizeof(float) * cap);
  k->hl = xmalloc(sizeof(float) * cap);
  k->ht = xmalloc(sizeof(int) * cap);
  k->dx = be->alloc(be, (size_t)cap * D);
  k->de = be->alloc(be, (size_t)cap * D);
  k->dg = be->alloc(be, (size_t)cap * D);
  k->dw = be->alloc(be, cap);
  k->dl = be->alloc(be, cap);
}

static void chunk_free(Chunk *k, Backend *be) {
  free(k->hx); free(k->hw); free(k->hl); free(k->ht);
  be->free(be, k->dx); be->free(be, k->de); be->free(be, k->dg); be->free(be, k->dw); be->free(be, k->dl);
}

// The staged chunk's images [b0, b0 + nb) on mm (the model, or its twin on a lane): their losses
// into k->dl, and the backward of their weighted loss, added to mm's gradient.
static void grad_part(UNet *mm, Chunk *k, int b0, int nb, size_t D) {
  Backend *be = mm->be;
  float *pred, *dg = k->dg + b0 * D;
  unet_forward(mm, k->dx + b0 * D, k->ht + b0, nb, &pred);
  be->fill(be, dg, 0.0f, nb * D);
  be->mse_loss(be, nb, (int)D, pred, k->de + b0 * D, k->dw + b0, k->dl + b0, dg);
  unet_backward(mm, dg);
}

// Images [i0, i0+B) of the calibration batch, image i0+b at t[b]. Returns the sum of
// their losses; with grad, accumulates the gradient of (sum of the losses) / n into m->g.
// Both across the lanes of m's backend where it has them (unet_lanes.c): with grad, each
// lane's twin runs the forward and backward of its share into its own gradient buffer.
static double chunk_pass(UNet *m, const Schedule *s, const Calib *c, Chunk *k, int i0, int B, const int *t,
                         int grad) {
  Backend *be = m->be;
  size_t D = c->D;
  const int nl = grad && m->use_lanes ? unet_lanes_for(m, B) : 0;
  for (int i = 0, n = nl ? nl : 1; i < n; i++) {
    const int b0 = unet_lane_first(B, i, n), b1 = unet_lane_first(B, i + 1, n);
    for (int b = b0; b < b1; b++) {
      int tb = t[b];
      float sa = (float)sqrt(s->abar[tb]), sb = (float)sqrt(1 - s->abar[tb]);
      const float *x0 = c->x0 + (i0 + b) * D, *eps = c->eps + (i0 + b) * D;
      for (size_t j = 0; j < D; j++) k->hx[b * D + j] = sa * x0[j] + sb * eps[j];
      k->ht[b] = tb;
      k->hw[b] = (float)(b1 - b0) / c->n;  // mse_loss divides by its samples: this makes it a mean over all n
    }
  }
  be->upload(be, k->dx, k->hx, B * D);
  be->upload(be, k->de, c->eps + i0 * D, B * D);
  be->upload(be, k->dw, k->hw, B);
  if (!grad) {  // the proxy: across the lanes, nothing kept for a backward
    eval_images_loss(m, k->dx, k->de, k->ht, B, k->dl, k->dg);
  } else if (!nl) {
    grad_part(m, k, 0, B, D);
  } else {
#pragma omp parallel for num_threads(nl) schedule(static, 1)
    for (int i = 0; i < nl; i++) {
      const int b0 = unet_lane_first(B, i, nl);
      unet_lane_grad(m, i);
      grad_part(m->lane[i], k, b0, unet_lane_first(B, i + 1, nl) - b0, D);
    }
    unet_lanes_grad_sum(m, nl);
  }
  be->download(be, k->hl, k->dl, B);
  double sum = 0;
  for (int b = 0; b < B; b++) sum += k->hl[b];
  return sum;
}

// One pass over the whole batch: each image at its own t in [t0, t1), or all at t_fixed
// when t0 < 0. Returns the mean loss.
static int watch_cancelled(const Watch *w) { return w && w->cancelled && w->cancelled(w->ctx); }

static void watch_progress(const Watch *w, double frac) {
  if (w && w->progress) w->progress(w->ctx, frac);
}

// One pass over the calibration batch; with w, reports progress from p0 to p1 and stops
// early (returning what it has) when cancelled.
static double calib_pass_watched(UNet *m, const Schedule *s, const Calib *c, int t0, int t1, int t_fixed, int batch,
                                 int grad, const Watch *w, double p0, double p1) {
  Chunk k;
  chunk_init(&k, m->be, batch, c->D);
  int *t = xmalloc(sizeof(int) * batch);
  double sum = 0;
  int was = m->training;
  m->training = 0;
  for (int i0 = 0; i0 < c->n; i0 += batch) {
    int B = c->n - i0 < batch ? c->n - i0 : batch;
    for (int b = 0; b < B; b++) t[b] = t0 >= 0 ? calib_t(c, i0 + b, t0, t1) : t_fixed;
    sum += chunk_pass(m, s, c, &k, i0, B, t, grad);
    watch_progress(w, p0 + (p1 - p0) * (i0 + B) / c->n);
    if (watch_cancelled(w)) break;
  }
  m->training = was;
  free(t);
  chunk_free(&k, m->be);
  return c->n ? sum / c->n : 0;
}

static double calib_pass(UNet *m, const Schedule *s, const Calib *c, int t0, int t1, int t_fixed, int batch,
                         int grad) {
  return calib_pass_watched(m, s, c, t0, t1, t_fixed, batch, grad, NULL, 0, 0);
}

double calib_loss(UNet *m, const Schedule *s, const Calib *c, int t0, int t1, int batch) {
  return calib_pass(m, s, c, t0, t1, 0, batch, 0);
}

// ---- per-channel accumulation ----

// For every parameter tensor and each of its two channel dimensions, adds the sum over
// the slice at channel index j of |w| (g == NULL) or |w * g| to the score of the channel
// that index belongs to. A dimension may hold several segments (a skip concatenation, the
// q/k/v rows of attention); channel c of a group is index c of each of its segments.
static void accumulate(const UNet *m, const float *w, const float *g, int weights_only, double **acc) {
  for (int i = 0; i < m->nparams; i++) {
    const Param *p = &m->params[i];
    if (weights_only && !p->decay) continue;
    size_t inner = 1;
    for (int d = 2; d < p->ndim; d++) inner *= p->shape[d];
    int n0 = p->shape[0], n1 = p->ndim >= 2 ? p->shape[1] : 1;
    const float *pw = w + p->off, *pg = g ? g + p->off : NULL;
    for (int d = 0; d < 2 && d < p->ndim; d++) {
      int off = 0;
      for (int s = 0; s < p->dim[d].nseg; s++) {
        const DimSeg *seg = &p->dim[d].seg[s];
        for (int c = 0; seg->group >= 0 && c < seg->count; c++) {
          int j = off + c;
          double sum = 0;
          // d == 0: row j is n1*inner contiguous values; d == 1: column j of every row
          int rows = d == 0 ? 1 : n0;
          size_t stride = (size_t)n1 * inner, start = d == 0 ? (size_t)j * stride : (size_t)j * inner;
          size_t len = d == 0 ? stride : inner;
          for (int r = 0; r < rows; r++) {
            size_t base = start + (size_t)r * stride;
            for (size_t k = 0; k < len; k++)
              sum += pg ? fabs((double)pw[base + k] * pg[base + k]) : fabs((double)pw[base + k]);
          }
          acc[seg->group][c] += sum;
        }
        off += seg->count;
      }
    }
  }
}

// Channels per unit of group g: for a ResBlock's inner width, the base model's channels
// per norm group — the rule of unet_build's mk_norm, so kept units are whole norm groups.
static int unit_of(const UNet *m, int g) {
  const char *name = m->widths.name[g];
  size_t len = strlen(name);
  if (len < 4 || strcmp(name + len - 4, ".mid")) return 1;
  int base = 0, c = m->widths.value[g], groups = m->cfg.groups;
  for (int i = 0; i < m->nparams && !base; i++)
    for (int s = 0; s < m->params[i].dim[0].nseg; s++)
      if (m->params[i].dim[0].seg[s].group == g) base = m->params[i].dim[0].seg[s].base;
  int per = base % groups == 0 ? base / groups : 0;
  return per && c % per == 0 && c / per <= groups ? per : 1;
}

// Fang et al. 2023 ("Structural Pruning for Diffusion Models", Sec. 4.2 and their
// reference code): the Taylor criterion is accumulated over timesteps because a single
// t sees only part of what the model does; but late timesteps (small loss: x_t is
// nearly pure noise, predicting eps is easy) contribute gradients that are mostly noise
// and drown the informative early ones. So: visit t = 0, 1, 2, ... with the same images
// and noise, add each dL_t/dtheta to one gradient sum, keep the largest L_t seen, and stop
// after the first t with L_t < thr * max L. The score is |theta * sum of gradients| per
// parameter, summed over the channel. Our reading for a timestep group: the walk starts
// at the group's t0 (not 0) and never leaves [t0, t1); it steps by
// ceil((t1 - t0) / dp_steps) so a wide range costs at most dp_steps passes (the paper
// visits every t of [0, T)). Each L_t is the mean over the whole calibration batch.
static int diff_pruning_grad(UNet *m, const Schedule *s, const Calib *c, const ImpCfg *cfg) {
  int span = cfg->t1 - cfg->t0, steps = cfg->dp_steps > 0 ? cfg->dp_steps : 32;
  int stride = (span + steps - 1) / steps, last = cfg->t0;
  double lmax = 0;
  for (int t = cfg->t0; t < cfg->t1 && !watch_cancelled(&cfg->watch); t += stride) {
    double frac = (double)(t - cfg->t0) / span;
    double l = calib_pass_watched(m, s, c, -1, 0, t, cfg->batch, 1, &cfg->watch, frac, frac + (double)stride / span);
    last = t;
    if (l > lmax) lmax = l;
    if (l < cfg->thr * lmax) break;
  }
  return last;
}

int importance_compute(UNet *m, const Schedule *s, const Calib *c, const ImpCfg *cfg, Importance *imp, Err *e) {
  memset(imp, 0, sizeof *imp);
  if (cfg->t0 < 0 || cfg->t1 > s->T || cfg->t0 >= cfg->t1)
    return err_set(e, "importance: bad timestep range [%d, %d)", cfg->t0, cfg->t1);
  if (cfg->crit != CRIT_MAGNITUDE && cfg->crit != CRIT_RANDOM && c->n < 1)
    return err_set(e, "importance: %s needs calibration images", criterion_name(cfg->crit));
  if (cfg->batch < 1) return err_set(e, "importance: batch must be positive");
  int G = m->widths.n;
  imp->ngroups = G;
  imp->crit = cfg->crit;
  imp->t0 = cfg->t0;
  imp->t1 = cfg->t1;
  imp->dp_last_t = -1;
  imp->width = xmalloc(sizeof(int) * G);
  imp->unit = xmalloc(sizeof(int) * G);
  imp->score = xmalloc(sizeof(float *) * G);
  imp->scale = xmalloc(sizeof(double) * G);
  double **acc = xmalloc(sizeof(double *) * G);
  for (int g = 0; g < G; g++) {
    imp->width[g] = m->widths.value[g];
    imp->unit[g] = unit_of(m, g);
    imp->score[g] = xmalloc(sizeof(float) * imp->width[g]);
    acc[g] = xcalloc(imp->width[g], sizeof(double));
  }

  Backend *be = m->be;
  float *w = NULL, *grad = NULL;
  if (cfg->crit == CRIT_RANDOM) {
    Rng r;
    rng_seed(&r, cfg->seed ^ 0x7a2d);
    for (int g = 0; g < G; g++)
      for (int j = 0; j < imp->width[g]; j++) acc[g][j] = rng_uniform(&r);
  } else {
    if (cfg->crit != CRIT_MAGNITUDE) {
      be->fill(be, m->g, 0.0f, m->size);
      if (cfg->crit == CRIT_TAYLOR) calib_pass_watched(m, s, c, cfg->t0, cfg->t1, 0, cfg->batch, 1, &cfg->watch, 0, 1);
      else imp->dp_last_t = diff_pruning_grad(m, s, c, cfg);
      if (watch_cancelled(&cfg->watch)) {
        for (int g = 0; g < G; g++) free(acc[g]);
        free(acc);
        importance_free(imp);
        return err_set(e, "cancelled");
      }
      grad = xmalloc(sizeof(float) * m->size);
      be->download(be, grad, m->g, m->size);
    }
    w = xmalloc(sizeof(float) * m->size);
    be->download(be, w, m->w, m->size);
    accumulate(m, w, grad, cfg->crit == CRIT_MAGNITUDE, acc);
  }
  for (int g = 0; g < G; g++) {
    double mx = 0;
    for (int j = 0; j < imp->width[g]; j++) mx = fmax(mx, acc[g][j]);
    imp->scale[g] = mx;
    for (int j = 0; j < imp->width[g]; j++) imp->score[g][j] = mx > 0 ? (float)(acc[g][j] / mx) : 0.0f;
    free(acc[g]);
  }
  free(acc);
  free(w);
  free(grad);
  return 0;
}

void importance_free(Importance *imp) {
  for (int g = 0; g < imp->ngroups; g++) free(imp->score[g]);
  free(imp->score);
  free(imp->width);
  free(imp->unit);
  free(imp->scale);
  memset(imp, 0, sizeof *imp);
}

int importance_keep(const Importance *imp, int g, int units, int *keep) {
  int u = imp->unit[g], nu = imp->width[g] / u;
  if (units > nu) units = nu;
  if (units < 0) units = 0;
  double *us = xmalloc(sizeof(double) * nu);
  int *order = xmalloc(sizeof(int) * nu), *take = xcalloc(nu, sizeof(int));
  for (int k = 0; k < nu; k++) {
    us[k] = 0;
    for (int j = 0; j < u; j++) us[k] += imp->score[g][k * u + j];
    order[k] = k;
  }
  // insertion sort by descending score, stable (ties: lower index first); widths are small
  for (int a = 1; a < nu; a++)
    for (int b = a; b > 0 && us[order[b]] > us[order[b - 1]]; b--) {
      int tmp = order[b]; order[b] = order[b - 1]; order[b - 1] = tmp;
    }
  for (int k = 0; k < units; k++) take[order[k]] = 1;
  int n = 0;
  for (int k = 0; k < nu; k++)
    for (int j = 0; take[k] && j < u; j++) keep[n++] = k * u + j;
  free(us);
  free(order);
  free(take);
  return n;
}
