// cmd_importance.c — `stepscope importance`: per-channel importance of the base model's
// width groups for one timestep group of a plan, as bars or CSV.
#include "engine/sat/search.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/sat_cli.h"
#include <string.h>
#include <unistd.h>

static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

static const char about[] =
    "Scores every channel of every width group (structural dependency group) of the\n"
    "plan's base model for the timesteps of group G, normalised so each width group's best\n"
    "channel scores 1. 'kept' marks the channels that uniform pruning to G's MACs ratio\n"
    "keeps (ResBlock inner widths go by whole GroupNorm groups, shown space-separated).";

int cmd_importance(int argc, char **argv) {
  const char *plan_path = NULL, *group = NULL, *crit_s = NULL, *device = "auto", *data = NULL;
  int csv = 0, threads = 0;
  const Opt opts[] = {
    ARG_STR("--plan", &plan_path, "PLAN", "the plan (its base model, calibration settings)", .required = 1),
    ARG_STR("--group", &group, "G", "timestep group: its range and ratio", .def = "g0"),
    ARG_STR("--criterion", &crit_s, "NAME", "importance criterion", .def = "the plan's", .choices = criterion_names()),
    ARG_FLAG("--csv", &csv, "CSV rows: group,channel,score,kept"),
    ARG_STR("--data", &data, "SPEC", "calibration data", .def = "the base model's, test split"),
    OPT_COMPUTE(&device, &threads),
  };
  const ArgSpec spec = {"importance", "--plan PLAN [--group G] [options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  SatCtx c;
  if (sat_open(&c, plan_path, device, threads, data, 1)) return 1;
  int lo, hi, status = 1;
  if ((rc = sat_groups(&c, group ? group : "0", &lo, &hi))) { sat_close(&c); return rc; }
  Criterion crit;
  if (criterion_parse(crit_s ? crit_s : c.plan.criterion, &crit)) {  // --criterion is known; the plan's may not be
    fprintf(stderr, "stepscope: %s: unknown criterion '%s' (%s)\n", plan_path, c.plan.criterion, criterion_names());
    sat_close(&c);
    return 1;
  }
  const PlanGroup *pg = &c.plan.g[lo];
  ImpCfg ic = imp_defaults(crit, pg->t0, pg->t1);
  ic.seed = c.plan.seed;
  Importance imp;
  Pruner p = {0};
  Err e;
  if (importance_compute(c.base, &c.sched, &c.calib, &ic, &imp, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); sat_close(&c); return 1; }
  int G = imp.ngroups, *units = xmalloc(sizeof(int) * G), *keep = xmalloc(sizeof(int) * 4096);
  char *kept = xmalloc(4096);
  double *uni = xmalloc(sizeof(double) * G), macs = 1;
  for (int g = 0; g < G; g++) uni[g] = 1.0;
  if (pruner_init(&p, c.base, &imp, &e) || pruner_fit(&p, uni, pg->ratio, 0.02, units, &macs, &e)) {
    fprintf(stderr, "stepscope: %s: %s\n", plan_path, e.msg);
    goto done;
  }
  int tty = isatty(1);
  if (csv) printf("group,channel,score,kept\n");
  else {
    printf("importance  %s, group g%d [%d, %d), %s on %d calibration images", c.plan.base, lo, pg->t0, pg->t1,
           criterion_name(crit), c.calib.n);
    if (crit == CRIT_DIFF_PRUNING) printf(" (timesteps %d..%d accumulated)", pg->t0, imp.dp_last_t);
    printf("\nkept        uniform pruning to ratio %.3f: %.3f of the base MACs%s\n\n", pg->ratio, macs,
           tty ? "; pruned channels dimmed" : "");
    printf("%-24s %5s %9s  scores, one bar per channel\n", "width group", "width", "kept");
  }
  for (int g = 0; g < G; g++) {
    const char *name = c.base->widths.name[g];
    memset(kept, 0, imp.width[g]);
    int n = importance_keep(&imp, g, units[g], keep);
    for (int j = 0; j < n; j++) kept[keep[j]] = 1;
    if (csv) {
      for (int j = 0; j < imp.width[g]; j++) printf("%s,%d,%.6g,%d\n", name, j, imp.score[g][j], kept[j]);
      continue;
    }
    char frac[32];
    snprintf(frac, sizeof frac, "%d/%d", n, imp.width[g]);
    printf("%-24s %5d %9s  ", name, imp.width[g], frac);
    for (int j = 0; j < imp.width[g]; j++) {
      if (j && imp.unit[g] > 1 && j % imp.unit[g] == 0) putchar(' ');
      int level = (int)(imp.score[g][j] * 7.999f);
      printf("%s%s%s", tty && !kept[j] ? "\033[2m" : "", bars[level < 0 ? 0 : level], tty && !kept[j] ? "\033[0m" : "");
    }
    putchar('\n');
  }
  status = 0;
done:
  free(units); free(keep); free(kept); free(uni);
  if (p.cost) pruner_free(&p);
  importance_free(&imp);
  sat_close(&c);
  return status;
}
