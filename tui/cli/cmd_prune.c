// cmd_prune.c — `stepscope prune`: for each timestep group of a plan, the proxy search for
// its pruned model, saved beside its memory bank; the plan then names the models.
#include "engine/sat/search.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/sat_cli.h"
#include <libgen.h>
#include <math.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

typedef struct { int group, rounds, quiet; } RoundCtx;

static void report(void *ctx, const Bank *b, const BankEntry *x) {
  const RoundCtx *c = ctx;
  if (x->skipped[0]) {
    fprintf(stderr, "stepscope: proposer round %d: %s; round skipped\n", x->round, x->skipped);
    return;
  }
  if (!c->quiet)
    fprintf(stderr, "  g%d round %d/%d  proxy %.5f  MACs %.3f%s\n", c->group, x->round, c->rounds, x->score,
            x->macs_ratio, &b->e[b->best] == x ? "  best so far" : "");
}

// <dir>/<plan file name without .plan>.g<j>.safetensors
static int model_path(char *out, size_t cap, const char *dir, const char *plan_path, int j) {
  char tmp[1024], name[512];
  snprintf(tmp, sizeof tmp, "%s", plan_path);
  snprintf(name, sizeof name, "%s", basename(tmp));
  char *dot = strrchr(name, '.');
  if (dot && dot != name) *dot = 0;
  if (!dir) {
    snprintf(tmp, sizeof tmp, "%s", plan_path);
    dir = dirname(tmp);
  }
  int n = strcmp(dir, ".") ? snprintf(out, cap, "%s/%s.g%d.safetensors", dir, name, j)
                           : snprintf(out, cap, "%s.g%d.safetensors", name, j);
  return n < (int)cap ? 0 : -1;
}

int cmd_prune(int argc, char **argv) {
  const char *plan_path = NULL, *group = NULL, *crit_s = NULL, *proposer = NULL, *out_dir = NULL;
  const char *device = "auto", *data = NULL;
  int rounds = -1, threads = 0, quiet = 0, timeout = 60;
  Opt opts[] = {
    {"--plan", OPT_STR, &plan_path, "PLAN", "the plan: groups, ratios, base model, search settings"},
    {"--group", OPT_STR, &group, "G", "only group G (default: every group)"},
    {"--rounds", OPT_INT, &rounds, "R", "proxy-search rounds (default: the plan's)"},
    {"--proposer", OPT_STR, &proposer, "P", "builtin | cmd:PROGRAM (default: the plan's)"},
    {"--criterion", OPT_STR, &crit_s, "NAME", "importance criterion (default: the plan's)"},
    {"--timeout", OPT_INT, &timeout, "S", "seconds an external proposer has per round (default 60)"},
    {"--out-dir", OPT_STR, &out_dir, "DIR", "where the group models go (default: the plan's folder)"},
    {"--data", OPT_STR, &data, "SPEC", "calibration data (default: the base model's, test split)"},
    {"--device", OPT_STR, &device, "DEV", "auto (default) | cpu | cuda"},
    OPT_CUDA_CHOICES,
    {"--threads", OPT_INT, &threads, "N", "CPU threads (default: all cores)"},
    {"--quiet", OPT_FLAG, &quiet, NULL, "only errors and the summary"},
  };
  ArgSpec spec = {"prune", "--plan PLAN [options]",
                  "Prunes the plan's base model for each timestep group to the group's MACs ratio\n"
                  "(within 2 %): R rounds of proposals (round 1 uniform) are pruned by channel\n"
                  "importance and scored by the proxy, the loss on the group's timesteps over a fixed\n"
                  "calibration batch; the best is saved as PLAN's folder/<plan>.g<j>.safetensors with its\n"
                  "memory bank (.bank.json), and the plan is updated to name it. An external proposer\n"
                  "reads the bank as JSON on stdin and prints {\"keep\": {\"<width group>\": ratio, ...}}.",
                  opts, sizeof opts / sizeof opts[0], 0, 0, NULL};
  int rc = args_parse(&spec, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;
  if (!plan_path) { fprintf(stderr, "stepscope: prune: --plan PLAN is required\n"); return 2; }
  SatCtx c;
  if (sat_open(&c, "prune", plan_path, device, threads, data, 1)) return 1;
  int lo, hi;
  if ((rc = sat_groups(&c, "prune", group, &lo, &hi))) { sat_close(&c); return rc; }
  Plan *p = &c.plan;
  Criterion crit;
  if (criterion_parse(crit_s ? crit_s : p->criterion, &crit)) {
    fprintf(stderr, "stepscope: prune: unknown criterion '%s' (%s)\n", crit_s ? crit_s : p->criterion, criterion_names());
    sat_close(&c);
    return 2;
  }
  const char *prop = proposer ? proposer : p->proposer;
  if (strcmp(prop, "builtin") && (strncmp(prop, "cmd:", 4) || !prop[4])) {
    fprintf(stderr, "stepscope: prune: unknown proposer '%s' (builtin or cmd:PROGRAM)\n", prop);
    sat_close(&c);
    return 2;
  }
  if (out_dir && mkdir(out_dir, 0777) && errno != EEXIST) {
    fprintf(stderr, "stepscope: prune: --out-dir %s: %s\n", out_dir, strerror(errno));
    sat_close(&c);
    return 1;
  }
  double base_macs = unet_macs(c.base);
  long base_params = unet_nparams(c.base);
  if (!quiet)
    fprintf(stderr, "stepscope: pruning %s (%.2f M MACs, %ld params) by %s, %d calibration images of %s, %s\n",
            p->base, base_macs / 1e6, base_params, criterion_name(crit), c.calib.n, c.data, c.be->name);
  int status = 0;
  for (int j = lo; j < hi && !status; j++) {
    PlanGroup *g = &p->g[j];
    Err e;
    // At full size every channel stays: the cheapest criterion does.
    ImpCfg ic = imp_defaults(g->ratio >= 1 ? CRIT_MAGNITUDE : crit, g->t0, g->t1);
    ic.seed = p->seed;
    Importance imp;
    double t_start = now_sec();
    if (importance_compute(c.base, &c.sched, &c.calib, &ic, &imp, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); status = 1; break; }
    SearchCfg sc = search_defaults(g->ratio, g->t0, g->t1);
    sc.rounds = g->ratio >= 1 ? 1 : rounds > 0 ? rounds : p->rounds;  // nothing to search at full size
    sc.proposer = prop;
    sc.timeout_s = timeout;
    sc.seed = p->seed + j;
    RoundCtx rctx = {j, sc.rounds, quiet};
    sc.report = report;
    sc.ctx = &rctx;
    Bank bank;
    UNet *m = search_run(c.base, &c.sched, &c.calib, &imp, &sc, &bank, &e);
    importance_free(&imp);
    if (!m) { fprintf(stderr, "stepscope: prune: group g%d: %s\n", j, e.msg); bank_free(&bank); status = 1; break; }
    char path[sizeof g->model];
    if (model_path(path, sizeof path, out_dir, plan_path, j)) {
      fprintf(stderr, "stepscope: prune: the model path for g%d is too long for a plan\n", j);
      unet_free(m);
      bank_free(&bank);
      status = 1;
      break;
    }
    if (search_save(path, m, p, g, p->base, ic.crit, prop, &bank, c.data, &e)) {  // the criterion that ran
      fprintf(stderr, "stepscope: %s\n", e.msg);
      status = 1;
    } else {
      snprintf(g->model, sizeof g->model, "%s", path);
      if (plan_save(plan_path, p, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); status = 1; }
    }
    if (!status) {
      const BankEntry *best = &bank.e[bank.best];
      printf("g%d [%4d, %4d)  MACs %.3f of the base (target %.3f)  params %.3f  proxy %.5f (uniform %.5f, round %d of %d)  %.1f s  -> %s\n",
             j, g->t0, g->t1, unet_macs(m) / base_macs, g->ratio, (double)unet_nparams(m) / base_params, best->score,
             bank.e[0].score, best->round, bank.n, now_sec() - t_start, path);
    }
    unet_free(m);
    bank_free(&bank);
  }
  if (!status && !quiet) fprintf(stderr, "stepscope: %s now names the group models\n", plan_path);
  sat_close(&c);
  return status;
}
