#include "train.h"
#include <math.h>
#include <string.h>

void trainer_init(Trainer *tr, UNet *model, const Dataset *data, const OptimCfg *oc, SchedKind sk,
                  int T, int batch, int t0, int t1, uint64_t seed) {
  memset(tr, 0, sizeof *tr);
  Backend *be = model->be;
  tr->model = model;
  tr->data = data;
  tr->batch = batch;
  tr->t0 = t0;
  tr->t1 = t1;
  schedule_init(&tr->sched, sk, T);
  optim_init(&tr->opt, be, model->size, oc, model->w);
  rng_seed(&tr->rng, seed);
  tr->perm = xmalloc(sizeof(int) * (data ? data->n : 1));
  size_t d = (size_t)model->cfg.in_ch * model->cfg.img * model->cfg.img;
  for (int k = 0; k < 2; k++) {
    tr->h_x[k] = xmalloc(sizeof(float) * batch * d);
    tr->h_eps[k] = xmalloc(sizeof(float) * batch * d);
    tr->h_w[k] = xmalloc(sizeof(float) * batch);
    tr->h_t[k] = xmalloc(sizeof(int) * batch);
  }
  tr->h_loss = xmalloc(sizeof(float) * batch);
  tr->d_x = be->alloc(be, batch * d);
  tr->d_eps = be->alloc(be, batch * d);
  tr->d_grad = be->alloc(be, batch * d);
  tr->d_w = be->alloc(be, batch);
  tr->d_loss = be->alloc(be, batch);
  tr->pos = -1;  // no epoch started yet
  tr->use_graph = 1;
  tr->use_lanes = 1;
  model->dropout_rng = &tr->rng;
}

static void teacher_buffers_free(Trainer *tr) {
  Backend *be = tr->model->be;
  if (!tr->teacher) return;
  be->free(be, tr->d_teach); be->free(be, tr->d_tgt); be->free(be, tr->d_loss_t); be->free(be, tr->d_loss_mix);
  free(tr->h_loss_t);
  tr->d_teach = tr->d_tgt = tr->d_loss_t = tr->d_loss_mix = tr->h_loss_t = NULL;
  tr->teacher = NULL;
  tr->distill_w = 0;
}

void trainer_set_teacher(Trainer *tr, UNet *teacher, float w) {
  Backend *be = tr->model->be;
  // a recording holds the ops with or without the teacher: make it again either way
  if (tr->graph) be->graph_destroy(be, tr->graph);
  tr->graph = NULL;
  teacher_buffers_free(tr);
  if (!teacher || w == 0) return;  // the plain objective: not one op more
  UNet *m = tr->model;
  if (teacher == m || teacher->be != be || teacher->cfg.in_ch != m->cfg.in_ch || teacher->cfg.img != m->cfg.img)
    die("trainer_set_teacher: the teacher must be another model of the same image shape on the same backend");
  const size_t n = (size_t)tr->batch * m->cfg.in_ch * m->cfg.img * m->cfg.img;
  tr->teacher = teacher;
  tr->distill_w = w;
  tr->d_teach = be->alloc(be, n);
  tr->d_tgt = be->alloc(be, n);
  tr->d_loss_t = be->alloc(be, tr->batch);
  tr->d_loss_mix = be->alloc(be, tr->batch);
  tr->h_loss_t = xmalloc(sizeof(float) * tr->batch);
}

void trainer_free(Trainer *tr) {
  Backend *be = tr->model->be;
  if (tr->graph) be->graph_destroy(be, tr->graph);
  teacher_buffers_free(tr);
  be->free(be, tr->d_x); be->free(be, tr->d_eps); be->free(be, tr->d_grad);
  be->free(be, tr->d_w); be->free(be, tr->d_loss);
  for (int k = 0; k < 2; k++) { free(tr->h_x[k]); free(tr->h_eps[k]); free(tr->h_w[k]); free(tr->h_t[k]); }
  free(tr->h_loss); free(tr->perm);
  optim_free(&tr->opt);
  schedule_free(&tr->sched);
  tr->model->dropout_rng = NULL;
}

// The order of an epoch is a Fisher–Yates shuffle from its own seed, so that saving
// (epoch, pos, perm_seed) is enough to resume in the middle of it.
void trainer_shuffle(Trainer *tr) {
  Rng r;
  rng_seed(&r, tr->perm_seed);
  int n = tr->data->n;
  for (int i = 0; i < n; i++) tr->perm[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = rng_int(&r, i + 1), tmp = tr->perm[i];
    tr->perm[i] = tr->perm[j];
    tr->perm[j] = tmp;
  }
}

static const float *next_image(Trainer *tr) {
  const Dataset *d = tr->data;
  if (tr->pos < 0 || tr->pos >= d->n) {
    if (tr->pos >= 0) tr->epoch++;
    tr->perm_seed = rng_u64(&tr->rng);
    tr->pos = 0;
    trainer_shuffle(tr);
  }
  return d->x + (size_t)tr->perm[tr->pos++] * d->c * d->h * d->w;
}

// Draws a batch into slot k: images in the epoch's order, t ~ U[t0, t1), eps ~ N(0, I),
// x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, and each sample's loss weight.
static void draw_batch(Trainer *tr, int k) {
  const int B = tr->batch;
  const size_t D = (size_t)tr->model->cfg.in_ch * tr->model->cfg.img * tr->model->cfg.img;
  for (int b = 0; b < B; b++) {
    const float *x0 = next_image(tr);
    int t = tr->t0 + rng_int(&tr->rng, tr->t1 - tr->t0);
    float sa = (float)sqrt(tr->sched.abar[t]), sb = (float)sqrt(1 - tr->sched.abar[t]);
    float *xt = tr->h_x[k] + b * D, *eps = tr->h_eps[k] + b * D;
    rng_normal_fill(&tr->rng, eps, (long)D);
    for (size_t i = 0; i < D; i++) xt[i] = sa * x0[i] + sb * eps[i];
    tr->h_t[k][b] = t;
    double snr = tr->sched.snr[t];
    tr->h_w[k][b] = tr->minsnr_gamma > 0 ? (float)(fmin(snr, tr->minsnr_gamma) / snr) : 1.0f;
  }
}

void trainer_position(const Trainer *tr, Rng *rng, int *epoch, long *pos, uint64_t *perm_seed) {
  if (tr->has_next) {
    *rng = tr->before_next.rng, *epoch = tr->before_next.epoch;
    *pos = tr->before_next.pos, *perm_seed = tr->before_next.perm_seed;
  } else {
    *rng = tr->rng, *epoch = tr->epoch, *pos = tr->pos, *perm_seed = tr->perm_seed;
  }
}

void trainer_discard_next(Trainer *tr) { tr->has_next = 0; }

// The teacher's forward on n images x: inference, and no backward follows.
static void teacher_forward(UNet *te, const float *x, int n, float **out) {
  te->training = 0;
  unet_forward_features_no_grad(te, x, te->tfeat, n, out);
}

// The forward of m (the model, or its twin on a lane) on samples [b0, b0 + n) of the staged
// batch, from m's timestep features (and the teacher te's forward, from its own), the weighted
// loss of those samples and its gradient as part of the whole batch's mean, and the backward,
// added to m->g. Queued only (no upload, download or sync).
static void step_part(Trainer *tr, UNet *m, UNet *te, int b0, int n) {
  Backend *be = m->be;
  const int B = tr->batch;
  const size_t D = (size_t)m->cfg.in_ch * m->cfg.img * m->cfg.img, off = (size_t)b0 * D;
  float *pred, *grad = tr->d_grad + off;
  if (te) {  // forward only, in its own arena; its eps is copied out all the same
    float *tp;
    teacher_forward(te, tr->d_x + off, n, &tp);
    be->copy(be, tr->d_teach + off, tp, n * D);
  }
  m->training = 1;
  unet_forward_features(m, tr->d_x + off, m->tfeat, n, &pred);
  be->fill(be, grad, 0.0f, n * D);
  if (!te) {
    be->mse_loss(be, n, (int)D, pred, tr->d_eps + off, tr->d_w + b0, tr->d_loss + b0, grad);
  } else {
    // d/dpred of w |t - pred|^2 + (1 - w) |eps - pred|^2 is the MSE gradient against the
    // target w t + (1 - w) eps; the loss reported is the two MSEs mixed on the host.
    const float w = tr->distill_w;
    float *tgt = tr->d_tgt + off;
    be->copy(be, tgt, tr->d_teach + off, n * D);
    be->scale(be, n * D, w, tgt);
    be->axpy(be, n * D, 1 - w, tr->d_eps + off, tgt);
    be->mse_loss(be, n, (int)D, pred, tgt, tr->d_w + b0, tr->d_loss_mix + b0, grad);
    be->mse_loss(be, n, (int)D, pred, tr->d_teach + off, NULL, tr->d_loss_t + b0, NULL);
    be->mse_loss(be, n, (int)D, pred, tr->d_eps + off, NULL, tr->d_loss + b0, NULL);
  }
  if (n != B) be->scale(be, n * D, (float)n / B, grad);  // mse_loss means over its n samples
  unet_backward(m, grad);
  m->training = 0;
}

// A step's device work, queued only: step_part on the whole batch into m->g, zeroed first.
static void step_ops(void *ctx) {
  Trainer *tr = ctx;
  UNet *m = tr->model;
  m->be->fill(m->be, m->g, 0.0f, m->size);
  step_part(tr, m, tr->teacher, 0, tr->batch);
}

// The step across the lanes of the model's backend (the CPU's: unet_lanes.c): each lane's twin
// of the model takes its share of the batch from the first op of the forward to the last of
// the backward, one OpenMP region per step instead of one per op. Lane 0's twin adds its
// gradients into m->g, the others into their own, summed into m->g after. Not with dropout,
// whose masks come from the trainer's one Rng in the order of the forward. 0: not run (no
// lanes, or tr->use_lanes off).
static int step_lanes(Trainer *tr) {
  UNet *m = tr->model, *te = tr->teacher;
  const int B = tr->batch;
  const int n = tr->use_lanes && m->cfg.dropout <= 0 ? unet_lanes_for(m, B) : 0;
  if (!n || (te && unet_lanes(te) < n)) return 0;
  Backend *be = m->be;
  be->fill(be, m->g, 0.0f, m->size);
#pragma omp parallel for num_threads(n) schedule(static, 1)
  for (int i = 0; i < n; i++) {
    UNet *tw = m->lane[i];
    const int b0 = unet_lane_first(B, i, n), nb = unet_lane_first(B, i + 1, n) - b0;
    unet_lane_grad(m, i);
    unet_stage_timesteps(tw, tr->h_t[tr->cur] + b0, nb);
    if (te) unet_stage_timesteps(te->lane[i], tr->h_t[tr->cur] + b0, nb);
    step_part(tr, tw, te ? te->lane[i] : NULL, b0, nb);
  }
  unet_lanes_grad_sum(m, n);
  return 1;
}

// The step's ops as a graph: every step runs the same ops on the same buffers, so on a backend
// that records (CUDA) they are recorded once and replayed as one launch instead of ~500. The
// recording reads and writes the weights, gradients, timestep features and activation arena
// where they were when it was made (the trainer's own buffers never move): it is made again
// when one of them moved. Dropout draws its masks on the host inside the forward, so a model
// with dropout runs its ops directly. A teacher's weights, timestep features and arena are
// part of the recording the same way. NULL: run step_ops.
static BackendGraph *step_graph(Trainer *tr) {
  UNet *m = tr->model, *te = tr->teacher;
  Backend *be = m->be;
  if (!tr->use_graph || !be->capture_begin || m->cfg.dropout > 0) return NULL;
  if (tr->graph && tr->graph_w == m->w && tr->graph_g == m->g && tr->graph_tfeat == m->tfeat &&
      tr->graph_gen == m->arena->gen &&
      (!te || (tr->graph_tw == te->w && tr->graph_ttfeat == te->tfeat && tr->graph_tgen == te->arena->gen)))
    return tr->graph;
  if (tr->graph) be->graph_destroy(be, tr->graph);
  tr->graph = NULL;
  unsigned tgen = 0;
  if (te) {
    // unet_record settles the student's arena between its direct run and the recording, not
    // the teacher's: a forward and a reset here leave that one in one chunk that holds the
    // pass, so the teacher's forward allocates nothing while recorded either.
    float *tp;
    teacher_forward(te, tr->d_x, tr->batch, &tp);
    arena_reset(te->arena);
    tgen = te->arena->gen;
  }
  unsigned gen;  // the direct run unet_record makes first is recomputed by the replay
  BackendGraph *g = unet_record(m, step_ops, tr, &gen);
  if (g && te && te->arena->gen != tgen) {  // as in unet_record: can only be a bug
    be->graph_destroy(be, g);
    g = NULL;
  }
  if (!g) { tr->use_graph = 0; return NULL; }
  tr->graph = g;
  tr->graph_w = m->w, tr->graph_g = m->g, tr->graph_tfeat = m->tfeat, tr->graph_gen = gen;
  if (te) tr->graph_tw = te->w, tr->graph_ttfeat = te->tfeat, tr->graph_tgen = tgen;
  tr->graph_captures++;
  return g;
}

float trainer_step(Trainer *tr, int *per_sample_t, float *per_sample_loss) {
  UNet *m = tr->model;
  Backend *be = m->be;
  int B = tr->batch;
  size_t D = (size_t)m->cfg.in_ch * m->cfg.img * m->cfg.img;
  if (tr->has_next) tr->cur ^= 1;
  else draw_batch(tr, tr->cur);  // the first step, or the first after a resume
  tr->has_next = 0;
  const int k = tr->cur;
  be->upload(be, tr->d_x, tr->h_x[k], B * D);
  be->upload(be, tr->d_eps, tr->h_eps[k], B * D);
  be->upload(be, tr->d_w, tr->h_w[k], B);
  unet_stage_timesteps(m, tr->h_t[k], B);
  if (tr->teacher) unet_stage_timesteps(tr->teacher, tr->h_t[k], B);  // uploads: never inside a recording
  BackendGraph *g = step_graph(tr);
  if (g) {
    be->graph_launch(be, g);
    tr->graph_launches++;
  } else if (!step_lanes(tr)) {
    step_ops(tr);
  }
  // The forward's dropout masks were drawn above, so the next batch's draws follow them as
  // they would without the overlap. The optimiser below waits for the device (gradient norm).
  tr->before_next.rng = tr->rng, tr->before_next.epoch = tr->epoch;
  tr->before_next.pos = tr->pos, tr->before_next.perm_seed = tr->perm_seed;
  draw_batch(tr, k ^ 1);
  tr->has_next = 1;
  optim_step(&tr->opt, m->w, m->g);
  be->download(be, tr->h_loss, tr->d_loss, B);
  if (tr->teacher) {
    const double w = tr->distill_w;
    be->download(be, tr->h_loss_t, tr->d_loss_t, B);
    for (int b = 0; b < B; b++) tr->h_loss[b] = (float)(w * tr->h_loss_t[b] + (1 - w) * tr->h_loss[b]);
  }
  double mean = 0;
  for (int b = 0; b < B; b++) {
    mean += tr->h_loss[b];
    if (per_sample_t) per_sample_t[b] = tr->h_t[k][b];
    if (per_sample_loss) per_sample_loss[b] = tr->h_loss[b];
  }
  return (float)(mean / B);
}

int loss_weight_parse(const char *s, float *gamma) {
  if (!strcmp(s, "none")) { *gamma = 0; return 0; }
  char *end;
  if (!strncmp(s, "min-snr:", 8)) {
    double g = strtod(s + 8, &end);
    if (*end == 0 && g > 0) { *gamma = (float)g; return 0; }
  }
  return -1;
}

// ---- validation ----

void eval_loss_curve_models(UNet *const *models, int nmodels, const int *model_of_t, const Schedule *s,
                            const Dataset *d, int n, int nbins, uint64_t seed, int batch, double *loss,
                            double *model_loss) {
  eval_loss_curve_each(models, nmodels, model_of_t, s, d, n, nbins, seed, batch, loss, model_loss, NULL);
}

// Each lane's twin takes a share of the images, as the sampler's calls do (unet_lanes.c). Not
// in training mode, whose dropout masks come from one Rng in the forward's order.
// Images [b0, b0 + nb) of eval_images_loss's batch on mm (the model, or its twin on a lane).
static void images_loss_part(UNet *mm, const float *dx, const float *de, const int *t, int b0, int nb, float *dl,
                             float *dg) {
  const size_t D = (size_t)mm->cfg.in_ch * mm->cfg.img * mm->cfg.img;
  float *pred;
  unet_forward_no_grad(mm, dx + b0 * D, t + b0, nb, &pred);
  mm->be->mse_loss(mm->be, nb, (int)D, pred, de + b0 * D, NULL, dl + b0, dg + b0 * D);
}

void eval_images_loss(UNet *m, const float *dx, const float *de, const int *t, int B, float *dl, float *dg) {
  const int n = m->use_lanes && !m->training ? unet_lanes_for(m, B) : 0;
  if (!n) {
    images_loss_part(m, dx, de, t, 0, B, dl, dg);
    return;
  }
#pragma omp parallel for num_threads(n) schedule(static, 1)
  for (int i = 0; i < n; i++) {
    const int b0 = unet_lane_first(B, i, n);
    images_loss_part(m->lane[i], dx, de, t, b0, unet_lane_first(B, i + 1, n) - b0, dl, dg);
  }
}

void eval_loss_curve_each(UNet *const *models, int nmodels, const int *model_of_t, const Schedule *s,
                          const Dataset *d, int n, int nbins, uint64_t seed, int batch, double *loss,
                          double *model_loss, double *each) {
  Backend *be = models[0]->be;
  size_t D = (size_t)d->c * d->h * d->w;
  float *hx = xmalloc(sizeof(float) * batch * D), *he = xmalloc(sizeof(float) * batch * D);
  float *sx = xmalloc(sizeof(float) * batch * D), *se = xmalloc(sizeof(float) * batch * D);
  float *hl = xmalloc(sizeof(float) * batch);
  int *ht = xmalloc(sizeof(int) * batch), *st = xmalloc(sizeof(int) * batch), *sb = xmalloc(sizeof(int) * batch);
  float *dx = be->alloc(be, batch * D), *de = be->alloc(be, batch * D), *dl = be->alloc(be, batch);
  float *dg = be->alloc(be, batch * D);
  long *cnt = xcalloc(nbins, sizeof(long)), *mcnt = xcalloc(nmodels, sizeof(long));
  double *msum = xcalloc(nmodels, sizeof(double));
  for (int i = 0; i < nbins; i++) loss[i] = 0;
  Rng r;
  rng_seed(&r, seed);
  // The draws are eval_loss_curve's: per bin, per image, its t then its noise.
  for (int bin = 0; bin < nbins; bin++) {
    int lo = bin * s->T / nbins, hi = (bin + 1) * s->T / nbins;
    for (int start = 0; start < n; start += batch) {
      int B = n - start < batch ? n - start : batch;
      for (int b = 0; b < B; b++) {
        const float *x0 = d->x + (size_t)((start + b) % d->n) * D;
        int t = lo + rng_int(&r, hi - lo);
        float sa = (float)sqrt(s->abar[t]), sb = (float)sqrt(1 - s->abar[t]);
        rng_normal_fill(&r, he + b * D, (long)D);
        for (size_t i = 0; i < D; i++) hx[b * D + i] = sa * x0[i] + sb * he[b * D + i];
        ht[b] = t;
      }
      // each model runs on the images whose t it holds
      for (int k = 0; k < nmodels; k++) {
        int nb = 0;
        for (int b = 0; b < B; b++) {
          if (model_of_t[ht[b]] != k) continue;
          memcpy(sx + nb * D, hx + b * D, sizeof(float) * D);
          memcpy(se + nb * D, he + b * D, sizeof(float) * D);
          st[nb] = ht[b];
          sb[nb++] = b;  // which image of the batch it is
        }
        if (!nb) continue;
        be->upload(be, dx, sx, nb * D);
        be->upload(be, de, se, nb * D);
        eval_images_loss(models[k], dx, de, st, nb, dl, dg);
        be->download(be, hl, dl, nb);
        for (int b = 0; b < nb; b++) {
          loss[bin] += hl[b]; cnt[bin]++; msum[k] += hl[b]; mcnt[k]++;
          if (each) each[(size_t)bin * n + start + sb[b]] = hl[b];
        }
      }
    }
  }
  for (int i = 0; i < nbins; i++) loss[i] /= cnt[i] ? cnt[i] : 1;
  for (int k = 0; model_loss && k < nmodels; k++) model_loss[k] = mcnt[k] ? msum[k] / mcnt[k] : NAN;
  be->free(be, dx); be->free(be, de); be->free(be, dl); be->free(be, dg);
  free(hx); free(he); free(sx); free(se); free(hl); free(ht); free(st); free(sb); free(cnt); free(mcnt); free(msum);
}

// One model over all t is a "plan" of one group: the draws are shared with the plan
// evaluation, so a plan's curve and its base model's are measured on identical inputs.
void eval_loss_curve(UNet *m, const Schedule *s, const Dataset *d, int n, int nbins, uint64_t seed,
                     int batch, double *loss) {
  int *model_of_t = xcalloc(s->T, sizeof(int));
  double mean;
  eval_loss_curve_models(&m, 1, model_of_t, s, d, n, nbins, seed, batch, loss, &mean);
  free(model_of_t);
}
