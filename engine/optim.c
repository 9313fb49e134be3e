#include "optim.h"
#include <math.h>

OptimCfg optim_defaults(void) {
  return (OptimCfg){.lr = 2e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .wd = 0.0f,
                    .warmup = 200, .clip = 1.0f, .ema_decay = 0.999f};
}

void optim_init(Optim *o, Backend *be, size_t n, const OptimCfg *cfg, const float *w) {
  *o = (Optim){.be = be, .n = n, .cfg = *cfg};
  o->m = be->alloc(be, n);
  o->v = be->alloc(be, n);
  o->ema = be->alloc(be, n);
  be->copy(be, o->ema, w, n);
}

float optim_lr(const OptimCfg *c, int step) {
  if (c->warmup > 0 && step < c->warmup) return c->lr * (float)step / c->warmup;
  return c->lr;
}

double optim_step(Optim *o, float *w, float *g) {
  Backend *be = o->be;
  double norm = sqrt(be->sumsq(be, o->n, g));
  if (o->cfg.clip > 0 && norm > o->cfg.clip) be->scale(be, o->n, (float)(o->cfg.clip / norm), g);
  o->step++;
  be->adamw(be, o->n, w, g, o->m, o->v, optim_lr(&o->cfg, o->step), o->cfg.beta1, o->cfg.beta2,
            o->cfg.eps, o->cfg.wd, o->step);
  float d = (1.0f + o->step) / (10.0f + o->step);
  if (d > o->cfg.ema_decay) d = o->cfg.ema_decay;
  be->ema(be, o->n, o->ema, w, d);
  return norm;
}

void optim_free(Optim *o) {
  if (o->m) { o->be->free(o->be, o->m); o->be->free(o->be, o->v); o->be->free(o->be, o->ema); }
  *o = (Optim){0};
}
