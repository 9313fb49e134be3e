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

static const char about[] =
    "Prunes the plan's base model for each timestep group to the group's MACs ratio\n"
    "(within 2 %): R rounds of proposals (round 1 uniform) are pruned by channel\n"
    "importance and scored by the proxy, the loss on the group's timesteps over a fixed\n"
    "calibration batch; the best is saved as PLAN's folder/<plan>.g<j>.safetensors with its\n"
    "memory bank (.bank.json), and the plan is updated to name it. An external proposer\n"
    "reads the bank as JSON on stdin and prints {\"keep\": {\"<width group>\": ratio, ...}}.";

int cmd_prune(int argc, char **argv) {
  const char *plan_path = NULL, *group = NULL, *crit_s = NULL, *proposer = NULL, *out_dir = NULL;
  const char *device = "auto", *data = NULL;
  int rounds = -1, threads = 0, quiet = 0, timeout = 60;
  const Opt opts[] = {
    ARG_STR("--plan", &plan_path, "PLAN", "the plan: groups, ratios, base model, search settings", .required = 1),
    ARG_STR("--group", &group, "G", "only group G", .def = "every group"),
    ARG_INT("--rounds", &rounds, "R", "proxy-search rounds", .def = "the plan's", .min = 1, .max = 10000),
    ARG_STR("--proposer", &proposer, "P", "builtin | cmd:PROGRAM", .def = "the plan's"),
    ARG_STR("--criterion", &crit_s, "NAME", "importance criterion", .def = "the plan's", .choices = criterion_names()),
    ARG_INT("--timeout", &timeout, "S", "seconds an external proposer has per round", .min = 1, .max = 86400),
    ARG_STR("--out-dir", &out_dir, "DIR", "where the group models go", .def = "the plan's folder"),
    ARG_STR("--data", &data, "SPEC", "calibration data", .def = "the base model's, test split"),
    OPT_COMPUTE(&device, &threads),
    ARG_FLAG("--quiet", &quiet, "only errors and the summary"),
  };
  const ArgSpec spec = {"prune", "--plan PLAN [options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  if ((rc = sat_check_proposer(proposer))) return rc;
  SatCtx c;
  if (sat_open(&c, plan_path, device, threads, data, 1)) return 1;
  int lo, hi;
  if ((rc = sat_groups(&c, group, &lo, &hi))) { sat_close(&c); return rc; }
  Plan *p = &c.plan;
  Criterion crit;  // --criterion is one of the names (the option table says so); the plan's may not be
  if (criterion_parse(crit_s ? crit_s : p->criterion, &crit)) {
    fprintf(stderr, "stepscope: %s: unknown criterion '%s' (%s)\n", plan_path, p->criterion, criterion_names());
    sat_close(&c);
    return 1;
  }
  const char *prop = proposer ? proposer : p->proposer;
  if (out_dir && mkdir(out_dir, 0777) && errno != EEXIST) {
    fprintf(stderr, "stepscope: %s: %s\n", out_dir, strerror(errno));
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
    if (!m) { fprintf(stderr, "stepscope: %s: group g%d: %s\n", plan_path, j, e.msg); bank_free(&bank); status = 1; break; }
    char path[sizeof g->model];
    if (model_path(path, sizeof path, out_dir, plan_path, j)) {
      fprintf(stderr, "stepscope: %s: the model path for g%d is too long for a plan\n", plan_path, j);
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
