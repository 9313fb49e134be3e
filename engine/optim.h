// optim.h — AdamW with linear warm-up and global-norm gradient clipping, plus an EMA of
// the weights. All state is in backend memory, laid out like the model's parameter vector.
#pragma once
#include "../kernels/backend.h"

typedef struct {
  float lr, beta1, beta2, eps, wd;
  int warmup;        // steps of linear warm-up from 0 to lr
  float clip;        // max global gradient norm (0: no clipping)
  float ema_decay;   // target decay; early steps use min(decay, (1+s)/(10+s))
} OptimCfg;

typedef struct {
  Backend *be;
  size_t n;
  float *m, *v, *ema;
  int step;          // optimizer steps taken
  OptimCfg cfg;
} Optim;

OptimCfg optim_defaults(void);
void optim_init(Optim *o, Backend *be, size_t n, const OptimCfg *cfg, const float *w);  // ema = w
float optim_lr(const OptimCfg *c, int step);  // learning rate for (1-based) step
// One update of w from g; returns the gradient norm before clipping.
double optim_step(Optim *o, float *w, float *g);
void optim_free(Optim *o);
