#include "finetune.h"
#include "budget.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const *finetune_meta(FinetuneMeta *m, const char *parent, double ratio, const char *base, double distill) {
  snprintf(m->ratio, sizeof m->ratio, "%.6g", ratio);
  snprintf(m->distill, sizeof m->distill, "%.6g", distill);
  int k = 0;
  m->kv[k++] = "parent", m->kv[k++] = parent;
  m->kv[k++] = "ratio", m->kv[k++] = m->ratio;
  m->kv[k++] = "base", m->kv[k++] = base;
  m->kv[k++] = "distill", m->kv[k++] = m->distill;
  if (distill > 0) m->kv[k++] = "teacher", m->kv[k++] = base;
  m->kv[k] = NULL;
  return m->kv;
}

int finetune_pruned_path(const char *model, Backend *be, char *out, size_t cap, Err *e) {
  CkptInfo info;
  UNet *m = ckpt_load_model(model, be, 1, &info, e);
  if (!m) return -1;
  unet_free(m);
  snprintf(out, cap, "%s", info.has_train_state && info.parent[0] ? info.parent : model);
  return 0;
}

double finetune_recorded_distill(const char *path) {
  Err e;
  char *v = ckpt_meta(path, "distill", &e);
  double w = v ? strtod(v, NULL) : 0;
  free(v);
  return w;
}

int finetune_steps_by_loss(UNet *base, const Schedule *s, const Dataset *test, int n, const Plan *p, int lo, int hi,
                           const char *const *models, long budget, Watch watch, FinetuneShare *out, int *n_used,
                           Err *e) {
  if (n > test->n) n = test->n;
  if (n < 1) return err_set(e, "finetune: no held-out images to measure the loss gaps on");
  Dataset held = *test;  // the split's last n images, as eval takes them
  held.x = test->x + (size_t)(test->n - n) * test->c * test->h * test->w;
  held.n = n;
  held.labels = NULL;
  if (n_used) *n_used = n;
  double gap[PLAN_MAX_GROUPS] = {0};
  long steps[PLAN_MAX_GROUPS];
  for (int j = lo; j < hi; j++) {
    if (watch.cancelled && watch.cancelled(watch.ctx)) return err_set(e, "cancelled");
    char path[sizeof p->g[j].model] = "";
    if (finetune_pruned_path(models[j - lo], base->be, path, sizeof path, e)) return -1;
    UNet *m = ckpt_load_model(path, base->be, 1, NULL, e);
    if (!m) {
      size_t k = strlen(e->msg);
      snprintf(e->msg + k, sizeof e->msg - k, " (the pruned model of g%d)", j);
      return -1;
    }
    FinetuneShare *o = &out[j - lo];
    o->gap = gap[j - lo] = budget_group_gap(m, base, s, &held, p->g[j].t0, p->g[j].t1, n, FINETUNE_GAP_BINS,
                                            FINETUNE_GAP_SEED, FINETUNE_GAP_BATCH, &o->base_loss, &o->model_loss);
    unet_free(m);
    if (watch.progress) watch.progress(watch.ctx, (double)(j - lo + 1) / (hi - lo));
  }
  budget_by_gap(gap, hi - lo, budget, FINETUNE_GAP_MIN_SHARE, steps);
  for (int j = lo; j < hi; j++) out[j - lo].steps = steps[j - lo];
  return 0;
}

void finetune_steps_equal(int n, long budget, long *steps) {
  double no_gap[PLAN_MAX_GROUPS] = {0};
  budget_by_gap(no_gap, n, budget, 0, steps);
}
