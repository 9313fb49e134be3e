#include "group_eval.h"
#include <math.h>
#include <string.h>

void eval_loss_curve_models(UNet *const *models, int nmodels, const int *model_of_t, const Schedule *s,
                            const Dataset *d, int n, int nbins, uint64_t seed, int batch, double *loss,
                            double *model_loss) {
  eval_loss_curve_each(models, nmodels, model_of_t, s, d, n, nbins, seed, batch, loss, model_loss, NULL);
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
        float *pred;
        unet_forward(models[k], dx, st, nb, &pred);
        be->mse_loss(be, nb, (int)D, pred, de, NULL, dl, dg);
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
