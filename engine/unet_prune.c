// unet_prune.c — structural pruning: a physically smaller model from kept channel lists.
//
// Every parameter dimension knows which width groups its channels belong to (Chans), so
// pruning needs no knowledge of the architecture: the new widths are the kept counts, and
// each tensor of the new model is the slice of the old one at the kept indices of every
// segment of its out and in dimensions.
#include "unet.h"
#include <string.h>

// Old channel index of each new channel along one dimension.
static int *index_map(const Chans *c, int *const *keep, const int *nkeep, int *n_out) {
  int n = 0, off = 0;
  for (int s = 0; s < c->nseg; s++) {
    int g = c->seg[s].group;
    n += g >= 0 && keep[g] ? nkeep[g] : c->seg[s].count;
  }
  int *map = xmalloc(sizeof(int) * (n ? n : 1)), k = 0;
  for (int s = 0; s < c->nseg; s++) {
    int g = c->seg[s].group;
    if (g >= 0 && keep[g]) for (int j = 0; j < nkeep[g]; j++) map[k++] = off + keep[g][j];
    else for (int j = 0; j < c->seg[s].count; j++) map[k++] = off + j;
    off += c->seg[s].count;
  }
  *n_out = n;
  return map;
}

UNet *unet_prune(const UNet *m, int *const *keep, const int *nkeep, Err *err) {
  WidthMap w = {0};
  for (int g = 0; g < m->widths.n; g++) {
    int v = keep[g] ? nkeep[g] : m->widths.value[g];
    if (keep[g]) {
      for (int j = 0; j < nkeep[g]; j++)
        if (keep[g][j] < 0 || keep[g][j] >= m->widths.value[g] || (j && keep[g][j] <= keep[g][j - 1])) {
          widthmap_free(&w);
          err_set(err, "prune: kept channels of '%s' must be ascending and in [0, %d)", m->widths.name[g],
                  m->widths.value[g]);
          return NULL;
        }
    }
    widthmap_set(&w, m->widths.name[g], v);
  }
  UNet *p = unet_create(&m->cfg, &w, m->be, err);
  widthmap_free(&w);
  if (!p) return NULL;
  CHECK(p->nparams == m->nparams, "pruned model has a different structure");
  Backend *be = m->be;
  float *src = xmalloc(sizeof(float) * m->size), *dst = xcalloc(p->size, sizeof(float));
  be->download(be, src, m->w, m->size);
  for (int i = 0; i < m->nparams; i++) {
    const Param *a = &m->params[i], *b = &p->params[i];
    int n0, n1 = 1, *m0 = index_map(&a->dim[0], keep, nkeep, &n0), *m1 = NULL;
    if (a->ndim >= 2) m1 = index_map(&a->dim[1], keep, nkeep, &n1);
    CHECK(n0 == b->shape[0] && (a->ndim < 2 || n1 == b->shape[1]), "pruned shape mismatch in %s", a->name);
    size_t inner = 1;  // kernel elements (k*k) stay whole
    for (int d = 2; d < a->ndim; d++) inner *= a->shape[d];
    int old1 = a->ndim >= 2 ? a->shape[1] : 1;
    for (int o = 0; o < n0; o++)
      for (int c = 0; c < n1; c++)
        memcpy(dst + b->off + ((size_t)o * n1 + c) * inner,
               src + a->off + ((size_t)m0[o] * old1 + (m1 ? m1[c] : 0)) * inner, sizeof(float) * inner);
    free(m0);
    free(m1);
  }
  be->upload(be, p->w, dst, p->size);
  free(src);
  free(dst);
  return p;
}
