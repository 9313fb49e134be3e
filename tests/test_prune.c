// Structural pruning: coupled tensors are sliced consistently, the result is smaller, and
// removing channels that carry nothing leaves the function unchanged.
#include "engine/unet.h"
#include "models.h"
#include "test.h"

static int group_of(const UNet *m, const char *name) {
  for (int g = 0; g < m->widths.n; g++)
    if (!strcmp(m->widths.name[g], name)) return g;
  return -1;
}

// Zeroes every weight that touches channel c of group g (its producers and consumers).
static void zero_channel(UNet *m, int g, int c) {
  for (int i = 0; i < m->nparams; i++) {
    Param *p = &m->params[i];
    size_t inner = 1;
    for (int d = 2; d < p->ndim; d++) inner *= p->shape[d];
    int n1 = p->ndim >= 2 ? p->shape[1] : 1;
    for (int d = 0; d < 2 && d < p->ndim; d++) {
      int off = 0;
      for (int s = 0; s < p->dim[d].nseg; s++) {
        if (p->dim[d].seg[s].group == g && !strstr(p->name, "norm")) {
          int ch = off + c;
          for (int o = 0; o < p->shape[0]; o++)
            for (int k = 0; k < n1; k++)
              if ((d == 0 && o == ch) || (d == 1 && k == ch))
                for (size_t j = 0; j < inner; j++) m->w[p->off + ((size_t)o * n1 + k) * inner + j] = 0;
        }
        off += p->dim[d].seg[s].count;
      }
    }
  }
}

static void forward(UNet *m, const float *x, float *y, size_t n) {
  int t[2] = {5, 640};
  float *out;
  unet_forward(m, x, t, 2, &out);
  memcpy(y, out, sizeof(float) * n);
}

// Pruning whole GroupNorm groups of a ResBlock's inner channels and single channels of an
// attention block: exact, because other norm groups' statistics and the attention
// temperature do not change.
TEST(prune_zero_channels_keeps_the_function) {
  Backend *be = backend_cpu_ref_create();
  UNet *m = test_tiny_random(be, 21, 0.2f);
  int gmid = group_of(m, "down.0.res.0.mid"), gatt = group_of(m, "down.1.attn.0.inner");
  ASSERT(gmid >= 0 && gatt >= 0);
  // tiny: 8 inner channels in 4 norm groups of 2; drop norm group 1 (channels 2,3)
  zero_channel(m, gmid, 2);
  zero_channel(m, gmid, 3);
  zero_channel(m, gatt, 5);
  int *keep[64] = {0}, nkeep[64] = {0};
  int kmid[] = {0, 1, 4, 5, 6, 7}, katt[16], na = 0;
  for (int c = 0; c < m->widths.value[gatt]; c++) if (c != 5) katt[na++] = c;
  keep[gmid] = kmid; nkeep[gmid] = 6;
  keep[gatt] = katt; nkeep[gatt] = na;
  Err e;
  UNet *p = unet_prune(m, keep, nkeep, &e);
  ASSERTF(p, "%s", e.msg);
  ASSERT_EQ_INT(widthmap_get(&p->widths, "down.0.res.0.mid", 0), 6);
  ASSERT_EQ_INT(p->nodes[1].res.n2.groups, 3);  // whole norm groups removed
  ASSERT(unet_macs(p) < unet_macs(m));
  ASSERT(unet_nparams(p) < unet_nparams(m));
  size_t n = 2 * 32 * 32;
  float *x = xmalloc(sizeof(float) * n), *y0 = xmalloc(sizeof(float) * n), *y1 = xmalloc(sizeof(float) * n);
  Rng r;
  rng_seed(&r, 4);
  rng_normal_fill(&r, x, (long)n);
  forward(m, x, y0, n);
  forward(p, x, y1, n);
  double err = 0, ref = 0;
  for (size_t i = 0; i < n; i++) { err += (y0[i] - y1[i]) * (y0[i] - y1[i]); ref += y0[i] * y0[i]; }
  ASSERTF(sqrt(err / ref) < 1e-5, "relative change %.3g", sqrt(err / ref));
  unet_free(p);
  unet_free(m);
  free(x); free(y0); free(y1);
  be->destroy(be);
}

// Pruning every group to about half: the model stays valid (forward and backward run with
// consistent shapes) and its MACs drop roughly quadratically.
TEST(prune_every_group_half) {
  Backend *be = backend_cpu_ref_create();
  UNet *m = test_tiny_random(be, 21, 0.2f);
  int *keep[64] = {0}, nkeep[64] = {0};
  static int idx[64][512];
  for (int g = 0; g < m->widths.n; g++) {
    nkeep[g] = (m->widths.value[g] + 1) / 2;
    for (int j = 0; j < nkeep[g]; j++) idx[g][j] = 2 * j;
    keep[g] = idx[g];
  }
  Err e;
  UNet *p = unet_prune(m, keep, nkeep, &e);
  ASSERTF(p, "%s", e.msg);
  double ratio = unet_macs(p) / unet_macs(m);
  ASSERTF(ratio > 0.2 && ratio < 0.4, "MAC ratio %.3f", ratio);
  size_t n = 2 * 32 * 32;
  float *x = be->alloc(be, n), *out;
  int t[2] = {1, 2};
  unet_forward(p, x, t, 2, &out);
  be->fill(be, p->g, 0, p->size);
  unet_backward(p, out);
  int *k2[64] = {0}, n2[64] = {0};
  int dup[2] = {1, 1};
  k2[0] = dup; n2[0] = 2;
  ASSERT(unet_prune(m, k2, n2, &e) == NULL);  // not ascending
  unet_free(p);
  unet_free(m);
  be->free(be, x);
  be->destroy(be);
}
