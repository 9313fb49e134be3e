#include "tui/cli/sat_cli.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include <stdlib.h>
#include <string.h>

int sat_load_test(const char *spec, const UNet *m, Dataset *d) {
  Err e;
  if (data_load(spec, DATA_TEST, d, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); return -1; }
  if (d->c != m->cfg.in_ch || d->h != m->cfg.img || d->w != m->cfg.img) {
    fprintf(stderr, "stepscope: %s: images are %dx%dx%d, the model takes %dx%dx%d\n", spec, d->c, d->h, d->w,
            m->cfg.in_ch, m->cfg.img, m->cfg.img);
    data_free(d);
    return -1;
  }
  return 0;
}

int sat_open(SatCtx *c, const char *plan_path, const char *device, int threads, const char *data,
             int want_calib) {
  memset(c, 0, sizeof *c);
  Err e;
  c->path = plan_path;
  if (plan_load(plan_path, &c->plan, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); return -1; }
  if (!c->plan.base[0]) { fprintf(stderr, "stepscope: %s: the plan names no base model\n", plan_path); return -1; }
  if (!(c->be = cli_backend(device, threads))) return -1;
  if (!(c->base = ckpt_load_model(c->plan.base, c->be, 1, &c->info, &e))) {
    fprintf(stderr, "stepscope: %s\n", e.msg);
    c->be->destroy(c->be);
    c->be = NULL;
    return -1;
  }
  schedule_init(&c->sched, c->plan.schedule, c->plan.T);
  snprintf(c->data, sizeof c->data, "%s", data ? data : c->info.data[0] ? c->info.data : "fashion-mnist");
  if (want_calib) {
    if (sat_load_test(c->data, c->base, &c->test)) { sat_close(c); return -1; }
    calib_init(&c->calib, &c->test, c->plan.calib_n, c->plan.seed);
  }
  return 0;
}

void sat_close(SatCtx *c) {
  if (c->calib.x0) calib_free(&c->calib);
  if (c->test.x) data_free(&c->test);
  schedule_free(&c->sched);
  unet_free(c->base);
  if (c->be) c->be->destroy(c->be);
  memset(c, 0, sizeof *c);
}

int sat_check_proposer(const char *p) {
  if (!p || !strcmp(p, "builtin") || (!strncmp(p, "cmd:", 4) && p[4])) return 0;
  return usage_error("--proposer", "unknown proposer '%s' (builtin or cmd:PROGRAM)", p);
}

int sat_groups(const SatCtx *c, const char *arg, int *lo, int *hi) {
  *lo = 0;
  *hi = c->plan.ngroups;
  if (!arg) return 0;
  const char *s = arg[0] == 'g' ? arg + 1 : arg;
  char *end;
  long g = strtol(s, &end, 10);
  if (!*s || *end || g < 0 || g >= c->plan.ngroups) {
    fprintf(stderr, "stepscope: --group: '%s' is not a group of %s (g0..g%d)\n", arg, c->path, c->plan.ngroups - 1);
    return 2;
  }
  *lo = (int)g;
  *hi = (int)g + 1;
  return 0;
}
