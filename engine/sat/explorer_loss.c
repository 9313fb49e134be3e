// explorer_loss.c — the per-timestep validation loss of the Loss view, one bin at a time.
#include "../rng.h"
#include "../train.h"
#include "explorer.h"
#include <math.h>
#include <stdlib.h>

double explorer_loss_bin(ModelForT model_for_t, void *user, const Schedule *s, const Dataset *d,
                         int n, int bin, int nbins, uint64_t seed, int batch) {
  CHECK(n > 0 && batch > 0 && nbins > 0 && bin >= 0 && bin < nbins && d->n > 0, "explorer_loss_bin(n %d, bin %d/%d)", n, bin, nbins);
  const size_t D = (size_t)d->c * d->h * d->w;
  const int lo = (int)((long)bin * s->T / nbins), hi = (int)((long)(bin + 1) * s->T / nbins);
  // Inputs: image i is d->x[i mod d->n], t and noise from a stream of its own per bin.
  Rng r;
  rng_seed(&r, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(bin + 1)));
  float *xt = xmalloc(sizeof(float) * n * D), *eps = xmalloc(sizeof(float) * n * D);
  int *t = xmalloc(sizeof(int) * n), *done = xcalloc((size_t)n, sizeof(int));
  UNet **model = xmalloc(sizeof(UNet *) * n);
  for (int i = 0; i < n; i++) {
    const float *x0 = d->x + (size_t)(i % d->n) * D;
    t[i] = lo + (hi > lo ? rng_int(&r, hi - lo) : 0);
    rng_normal_fill(&r, eps + i * D, (long)D);
    const float sa = (float)sqrt(s->abar[t[i]]), sb = (float)sqrt(1 - s->abar[t[i]]);
    for (size_t k = 0; k < D; k++) xt[i * D + k] = sa * x0[k] + sb * eps[i * D + k];
    model[i] = model_for_t(user, t[i]);
  }
  // Batches of same-model samples, in order of first appearance.
  Backend *be = model[0]->be;
  float *dx = be->alloc(be, batch * D), *de = be->alloc(be, batch * D), *dl = be->alloc(be, batch);
  float *dg = be->alloc(be, batch * D), *hx = xmalloc(sizeof(float) * batch * D);
  float *he = xmalloc(sizeof(float) * batch * D), *hl = xmalloc(sizeof(float) * batch);
  int *ht = xmalloc(sizeof(int) * batch);
  double sum = 0;
  for (int first = 0; first < n; first++) {
    if (done[first]) continue;
    UNet *m = model[first];
    for (int i = first; i < n;) {
      int B = 0;
      for (; i < n && B < batch; i++) {
        if (done[i] || model[i] != m) continue;
        for (size_t k = 0; k < D; k++) hx[B * D + k] = xt[i * D + k], he[B * D + k] = eps[i * D + k];
        ht[B++] = t[i];
        done[i] = 1;
      }
      if (!B) break;
      be->upload(be, dx, hx, B * D);
      be->upload(be, de, he, B * D);
      int was = m->training;
      m->training = 0;
      eval_images_loss(m, dx, de, ht, B, dl, dg);
      m->training = was;
      be->download(be, hl, dl, B);
      for (int b = 0; b < B; b++) sum += hl[b];
    }
  }
  be->free(be, dx); be->free(be, de); be->free(be, dl); be->free(be, dg);
  free(hx); free(he); free(hl); free(ht);
  free(xt); free(eps); free(t); free(done); free(model);
  return sum / n;
}
