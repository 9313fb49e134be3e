#include "plan_models.h"
#include <string.h>

int plan_models_load(PlanModels *pm, const char *plan_path, Backend *be, int use_ema, int allow_missing, Err *e) {
  memset(pm, 0, sizeof *pm);
  if (plan_load(plan_path, &pm->plan, e)) return -1;
  const Plan *p = &pm->plan;
  if (!p->base[0]) return err_set(e, "%s: the plan names no base model", plan_path);
  if (!(pm->base = ckpt_load_model(p->base, be, use_ema, NULL, e))) return -1;
  for (int g = 0; g < p->ngroups; g++) {
    if (!p->g[g].model[0]) {
      if (allow_missing) continue;
      plan_models_free(pm);
      return err_set(e, "%s: group g%d [%d, %d) has no model yet (stepscope prune, then finetune)", plan_path, g,
                     p->g[g].t0, p->g[g].t1);
    }
    if (!(pm->group[g] = ckpt_load_model(p->g[g].model, be, use_ema, NULL, e))) {
      plan_models_free(pm);
      return -1;
    }
    unet_share_arena(pm->group[g], pm->base);  // they run in turn: one arena, warmed up once
    const UNetConfig *a = &pm->group[g]->cfg, *b = &pm->base->cfg;
    if (a->in_ch != b->in_ch || a->img != b->img) {
      err_set(e, "%s: %s makes %dx%dx%d images, the base %dx%dx%d", plan_path, p->g[g].model, a->in_ch, a->img,
              a->img, b->in_ch, b->img, b->img);
      plan_models_free(pm);
      return -1;
    }
  }
  return 0;
}

void plan_models_free(PlanModels *pm) {
  for (int g = 0; g < PLAN_MAX_GROUPS; g++) unet_free(pm->group[g]);
  unet_free(pm->base);
  memset(pm, 0, sizeof *pm);
}

UNet *plan_models_at(PlanModels *pm, int t) {
  if (pm->base_only) return pm->base;
  int g = plan_group_of(&pm->plan, t);
  return g >= 0 && pm->group[g] ? pm->group[g] : pm->base;
}

static int begin(void *user, int t, const float *x, int B, Err *e) {
  PlanModels *pm = user;
  UNet *m = plan_models_at(pm, t);
  unet_eps_begin(m, t, x, B);
  pm->running = m;
  pm->macs += unet_macs(m);
  pm->base_macs += unet_macs(pm->base);
  pm->calls++;
  return 0;
}

static int finish(void *user, float *eps, Err *e) {
  PlanModels *pm = user;
  unet_eps_finish(pm->running, eps);
  pm->running = NULL;
  return 0;
}

const EpsSplit plan_models_split = {begin, finish};
