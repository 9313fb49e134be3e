// unet_lanes.c — the inference forward across lanes: a share of the batch per thread.
//
// On the CPU every op of a forward splits its work across the threads, so a forward of ~150
// ops at batch 16 opens ~150 OpenMP regions, each ending in a barrier, and runs serially the
// ops too small to split (1x1 convolutions at 8x8, the time-embedding products) while the
// other thread spins. A pruned model has more such ops (its MACs fall under the threading
// threshold sooner), so it lost more of its ideal speedup than the base. Samples of a batch
// are independent, so here each lane (a one-thread twin of the backend, backend.h) runs a
// twin of the model on its share of the batch from the first op to the last: one region per
// forward. A sample's result matches the whole batch's to the last bits (a kernel may split
// its work another way on one thread: tests/test_lanes.c).
//
// Measured when it came in (2 threads, idle, default model, medians of 15): the base's call
// at batch 4 / 16 / 64 1.32 / 1.11 / 1.04x as fast, the plan's smallest model (0.589 of the
// MACs) 1.40 / 1.20 / 1.08x.
#include "unet.h"
#include <omp.h>

// m's twins, one per lane, made once. A model that shares another's arena (a plan's group
// models share the base's) has twins that share the other's twins' arenas, lane by lane.
int unet_lanes(UNet *m) {
  if (m->nlanes) return m->nlanes;
  Backend *lane[UNET_MAX_LANES];
  const int n = m->be->lanes ? m->be->lanes(m->be, lane, UNET_MAX_LANES) : 0;
  if (n < 2) return 0;
  UNet *owner = m->arena_owner;
  if (owner && unet_lanes(owner) < n) owner = NULL;
  for (int i = 0; i < n; i++) {
    m->lane[i] = unet_twin(m, lane[i]);
    if (owner) unet_share_arena(m->lane[i], owner->lane[i]);
  }
  return m->nlanes = n;
}

int unet_lanes_for(UNet *m, int B) {
  const int n = B >= 2 ? unet_lanes(m) : 0;
  return n < 2 ? 0 : n < B ? n : B;
}

static long image_floats(const UNet *m) { return (long)m->cfg.in_ch * m->cfg.img * m->cfg.img; }

int unet_lanes_begin(UNet *m, int t, const float *x, int B) {
  const int n = m->use_lanes ? unet_lanes_for(m, B) : 0;
  if (!n) return 0;
  const long img = image_floats(m);
#pragma omp parallel for num_threads(n) schedule(static, 1)
  for (int i = 0; i < n; i++) {
    const int b0 = unet_lane_first(B, i, n), b1 = unet_lane_first(B, i + 1, n);
    unet_eps_begin(m->lane[i], t, x + b0 * img, b1 - b0);
  }
  m->eps_lanes = n;
  m->eps_B = B;
  return 1;
}

void unet_lanes_finish(UNet *m, float *eps) {
  const int n = m->eps_lanes, B = m->eps_B;
  const long img = image_floats(m);
  for (int i = 0; i < n; i++) unet_eps_finish(m->lane[i], eps + unet_lane_first(B, i, n) * img);
  m->eps_lanes = 0;
}

float *unet_lane_grad(UNet *m, int i) {
  UNet *tw = m->lane[i];
  if (!tw->g) tw->g = i ? tw->be->alloc(tw->be, m->size) : m->g;
  if (i) tw->be->fill(tw->be, tw->g, 0.0f, m->size);
  return tw->g;
}

void unet_lanes_grad_sum(UNet *m, int n) {
  for (int i = 1; i < n; i++) m->be->axpy(m->be, m->size, 1.0f, m->lane[i]->g, m->g);
}

void unet_lanes_free(UNet *m) {
  for (int i = 0; i < m->nlanes; i++) unet_free(m->lane[i]);
  m->nlanes = 0;
}
