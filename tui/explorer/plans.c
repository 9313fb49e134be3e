// plans.c — the plan file and the models it names: loading and saving plans, resolving a
// model's path against the plan's folder, and measuring each model once (MACs, parameters).
#include "tui/explorer/app.h"
#include <libgen.h>
#include <string.h>
#include <unistd.h>

void app_resolve(const App *a, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s", name);
  if (!name[0] || name[0] == '/' || access(name, R_OK) == 0 || !a->plan_path[0]) return;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", a->plan_path);
  snprintf(out, cap, "%s/%s", dirname(dir), name);
  if (access(out, R_OK) != 0) snprintf(out, cap, "%s", name);
}

// ---- models: measured once per file, on the UI thread ----

void app_measure(ModelMeta *m, const char *path) {
  memset(m, 0, sizeof *m);
  snprintf(m->path, sizeof m->path, "%s", path);
  if (!path[0]) return;
  Err e;
  Backend *be = backend_cpu_create(1);
  UNet *net = ckpt_load_model(path, be, 1, &m->info, &e);
  if (net) {
    m->ok = 1;
    m->cfg = net->cfg;
    m->macs = unet_macs(net);
    m->params = unet_nparams(net);
    unet_free(net);
  } else {
    snprintf(m->err, sizeof m->err, "%s", e.msg);
  }
  be->destroy(be);
}

void app_measure_groups(App *a) {
  for (int j = 0; j < PLAN_MAX_GROUPS; j++) {
    char path[PATH_MAX] = "";
    if (j < a->ex.plan.ngroups && a->ex.plan.g[j].model[0]) app_resolve(a, a->ex.plan.g[j].model, path, sizeof path);
    if (strcmp(path, a->group[j].path) || !a->group[j].ok) app_measure(&a->group[j], path);
    explorer_set_model_cost(&a->ex, j, a->group[j].ok ? a->group[j].macs : 0, a->group[j].params);
  }
}

// ---- plan files ----

int app_save_plan(App *a, const char *path_in) {
  Err e;
  char path[PATH_MAX];  // path_in may be a->plan_path itself
  snprintf(path, sizeof path, "%s", path_in);
  Plan p = a->ex.plan;
  if (!p.base[0] && a->base.ok) snprintf(p.base, sizeof p.base, "%.*s", (int)sizeof p.base - 1, a->base.path);
  if (plan_save(path, &p, &e)) {
    app_msg(a, UI_ERR, "%s", e.msg);
    return -1;
  }
  memcpy(a->ex.plan.base, p.base, sizeof p.base);  // the plan on disk names its base model now
  snprintf(a->plan_path, sizeof a->plan_path, "%s", path);
  a->ex.modified = 0;
  a->plan_gen++;
  app_msg(a, UI_OK, "saved %s (%d groups)", path, p.ngroups);
  return 0;
}

int app_load_plan(App *a, const char *path_in) {
  Err e;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", path_in);
  Plan p;
  if (plan_load(path, &p, &e)) {
    app_msg(a, UI_ERR, "%s", e.msg);
    return -1;
  }
  snprintf(a->plan_path, sizeof a->plan_path, "%s", path);
  explorer_set_plan(&a->ex, &p);
  a->ex.loss_per_t = a->loss_per_t;
  app_measure_groups(a);
  a->plan_gen++;
  app_msg(a, UI_OK, "loaded %s (%d groups)", path, p.ngroups);
  return 0;
}
