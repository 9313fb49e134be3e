// cmd_plan.c — `stepscope plan`: write a SAT plan (groups, ratios, pruning settings) for a
// base model, or show one, with each group's MAC budget and the expected sampling cost.
#include "engine/checkpoint.h"
#include "engine/sampler.h"
#include "engine/sat/importance.h"
#include "engine/sat/plan.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/sat_cli.h"
#include <string.h>

// The base model's validation loss per timestep: eval_loss_curve's nbins bin means on the
// test split, interpolated linearly between bin centres (constant beyond the outer ones).
static int measure_loss(UNet *m, const Schedule *s, const char *data, int n, int nbins, uint64_t seed,
                        double *loss_per_t, double *bin_loss) {
  Err e;
  Dataset ds;
  if (data_load(data, DATA_TEST, &ds, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); return -1; }
  if (ds.c != m->cfg.in_ch || ds.h != m->cfg.img || ds.w != m->cfg.img) {
    fprintf(stderr, "stepscope: %s: images are %dx%dx%d, the model takes %dx%dx%d\n", data, ds.c, ds.h, ds.w,
            m->cfg.in_ch, m->cfg.img, m->cfg.img);
    data_free(&ds);
    return -1;
  }
  if (n > ds.n) n = ds.n;
  fprintf(stderr, "stepscope: measuring the base model's loss: %d bins x %d images of %s (test split)\n", nbins, n, data);
  eval_loss_curve(m, s, &ds, n, nbins, seed, n < 64 ? n : 64, bin_loss);
  data_free(&ds);
  const double w = (double)s->T / nbins;  // bin i is centred on (i + 0.5) w
  for (int t = 0; t < s->T; t++) {
    double x = (t + 0.5) / w - 0.5;  // position in bin-centre units
    int i = x < 0 ? 0 : (int)x;
    if (i >= nbins - 1) { loss_per_t[t] = bin_loss[nbins - 1]; continue; }
    double f = x < 0 ? 0 : x - i;
    loss_per_t[t] = (1 - f) * bin_loss[i] + f * bin_loss[i + 1];
  }
  return 0;
}

// The plan's table: one row per group, then the expected cost of DDPM and DDIM-50.
// base_macs <= 0 leaves out the MACs column; loss_per_t (may be NULL) adds a loss column;
// model_macs (may be NULL) follows each group model's path with its measured MACs (0: the
// file cannot be read).
static void print_plan(const Plan *p, const Schedule *s, double base_macs, const double *loss_per_t,
                       const double *model_macs) {
  printf("schedule  %s, T = %d; split %s; order %s", schedule_name(p->schedule), p->T, split_name(p->split), order_name(p->order));
  if (p->order != ORDER_MANUAL) printf(", k = %g", p->k);
  printf("\nprune     criterion %s, %d search rounds, proposer %s, %d calibration images, seed %llu\n",
         p->criterion, p->rounds, p->proposer, p->calib_n, (unsigned long long)p->seed);
  printf("finetune  %d steps per group\n\n", p->finetune_steps);
  printf("group  i   t range         SNR_dB            ratio%s%s  model\n", base_macs > 0 ? "  MACs (M)" : "",
         loss_per_t ? "    loss" : "");
  for (int j = 0; j < p->ngroups; j++) {
    const PlanGroup *g = &p->g[j];
    printf("g%-4d %2d   [%4d, %4d)    %6.2f .. %6.2f   %.3f", j, p->ngroups - j, g->t0, g->t1,
           s->snr_db[g->t0], s->snr_db[g->t1 - 1], g->ratio);
    if (base_macs > 0) printf("  %8.2f", g->ratio * base_macs / 1e6);
    if (loss_per_t) {
      double l = 0;
      for (int t = g->t0; t < g->t1; t++) l += loss_per_t[t] / (g->t1 - g->t0);
      printf("  %6.4f", l);
    }
    printf("  %s", g->model[0] ? g->model : "-");
    if (g->model[0] && model_macs) {
      if (model_macs[j] > 0) printf(" (%.2f M MACs, %.3f of the base)", model_macs[j] / 1e6, base_macs > 0 ? model_macs[j] / base_macs : 0);
      else printf(" (cannot be read)");
    }
    printf("\n");
  }
  printf("i: the paper's number, in sampling order (i = 1 holds the noisiest steps and runs first)\n\n");

  SamplerCfg cfg = sampler_cfg_default();  // DDIM, 50 trailing steps
  int *counts = xmalloc(sizeof(int) * p->T);
  Err e;
  printf("expected compute vs the base model\n");
  cfg.kind = SAMPLER_DDPM;
  int n = sample_count_steps_per_t(s, &cfg, counts, &e);
  double ddpm = plan_expected_compute(p, counts);
  char what[64];
  snprintf(what, sizeof what, "DDPM, %d calls", n);
  printf("  %-28s %5.1f %%", what, 100 * ddpm);
  if (base_macs > 0) printf("   %.2f M MACs per call on average", ddpm * base_macs / 1e6);
  printf("\n");
  cfg.kind = SAMPLER_DDIM;
  cfg.steps = p->T < 50 ? p->T : 50;
  n = sample_count_steps_per_t(s, &cfg, counts, &e);
  double ddim = plan_expected_compute(p, counts);
  snprintf(what, sizeof what, "DDIM-%d (%s), %d calls", cfg.steps, spacing_name(cfg.spacing), n);
  printf("  %-28s %5.1f %%", what, 100 * ddim);
  if (base_macs > 0) printf("   %.2f M MACs per call on average", ddim * base_macs / 1e6);
  printf("\n");
  free(counts);
}

// Loads a model on the CPU only to read its MACs; 0 (and e filled) when it cannot be read.
static double model_macs(const char *path, Err *e) {
  Backend *be = backend_cpu_create(1);
  CkptInfo info;
  UNet *m = ckpt_load_model(path, be, 1, &info, e);
  double macs = m ? unet_macs(m) : 0;
  unet_free(m);
  be->destroy(be);
  return macs;
}

static int show(const char *path) {
  Err e;
  Plan p;
  if (plan_load(path, &p, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); return 1; }
  Schedule s;
  schedule_init(&s, p.schedule, p.T);
  double macs = p.base[0] ? model_macs(p.base, &e) : 0;
  printf("plan      %s\nbase      %s", path, p.base[0] ? p.base : "(none)");
  if (macs > 0) printf(": %.2f M MACs per image\n", macs / 1e6);
  else printf("%s%s\n", p.base[0] ? ": cannot be read: " : "", p.base[0] ? e.msg : "");
  double group_macs[PLAN_MAX_GROUPS];
  for (int j = 0; j < p.ngroups; j++) group_macs[j] = p.g[j].model[0] ? model_macs(p.g[j].model, &e) : 0;
  print_plan(&p, &s, macs, NULL, group_macs);
  schedule_free(&s);
  return 0;
}

static const char about[] =
    "Writes a Step-Adaptive Training plan: the timestep groups, each group's size as a\n"
    "fraction of the base model's MACs, and the pruning and fine-tuning settings. Group\n"
    "g0 holds the cleanest timesteps; the paper's progressive order gives the group run\n"
    "i-th when sampling (i = 1 the noisiest) the ratio i/N + (N-i)/N k. --order loss makes\n"
    "ratios proportional to the base model's measured loss per group, with the same mean.\n"
    "The file format is described in stepscope-plan(5).";

int cmd_plan(int argc, char **argv) {
  const char *model = NULL, *out = NULL, *show_path = NULL, *bounds = NULL, *split = NULL, *order_s = NULL;
  const char *ratios = NULL, *criterion = "taylor", *proposer = "builtin", *data = "fashion-mnist", *device = "auto";
  int groups = 0, rounds = 8, calib = 256, finetune = 2000, loss_n = 256, loss_bins = 20, threads = 0;
  float k = 0.5f;
  uint64_t seed = 0;
  const Opt opts[] = {
    ARG_STR("--model", &model, "FILE", "the base model (safetensors)"),
    ARG_STR("--out", &out, "PLAN", "plan file to write"),
    ARG_STR("--show", &show_path, "PLAN", "print an existing plan instead"),
    ARG_INT("--groups", &groups, "N", "number of timestep groups", .def = "5", .min = 1, .max = PLAN_MAX_GROUPS),
    ARG_STR("--bounds", &bounds, "T1,T2,...", "group boundaries by hand (N-1 ascending timesteps)"),
    OPT_SPLIT(&split),
    ARG_STR("--order", &order_s, "ORDER", "how ratios follow the groups", .def = "progressive",
     .choices = "progressive, regressive, uniform, loss, manual"),
    ARG_FLOAT("--k", &k, "K", "floor k of the progressive formula, in (0, 1]"),
    ARG_STR("--ratios", &ratios, "R1,R2,...", "ratios by hand, in t order (g0 = cleanest first)"),
    ARG_STR("--criterion", &criterion, "NAME", "importance criterion", .choices = criterion_names()),
    ARG_INT("--rounds", &rounds, "N", "proxy-search rounds per group", .min = 0, .max = 10000),
    ARG_STR("--proposer", &proposer, "P", "builtin | cmd:COMMAND"),
    ARG_INT("--calib", &calib, "N", "held-out calibration images for the proxy", .min = 1, .max = 1000000),
    ARG_U64("--seed", &seed, "N", "seed of calibration, search and fine-tuning"),
    ARG_INT("--finetune", &finetune, "N", "fine-tuning steps per group model", .min = 0, .max = 100000000),
    ARG_STR("--data", &data, "SPEC", "--order loss: data set whose test split is used"),
    ARG_INT("--loss-images", &loss_n, "N", "--order loss: images per bin", .min = 1, .max = 1000000),
    ARG_INT("--loss-bins", &loss_bins, "N", "--order loss: timestep bins", .min = 1, .max = 1000),
    OPT_DEVICE(&device),
    OPT_THREADS(&threads),
  };
  const ArgSpec spec = {"plan", "--model BASE --out PLAN [options]  |  --show PLAN", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  if (show_path) {
    if (model || out) return usage_error("--show", "takes no --model or --out");
    return show(show_path);
  }
  if (!model || !out) return usage_error(model ? "--out PLAN" : "--model BASE", "required (or --show PLAN alone)");
  OrderKind order = ORDER_PROGRESSIVE;
  if (order_s) order_parse(order_s, &order);  // a name the option table allows
  if (ratios && order_s && order != ORDER_MANUAL) return usage_error("--ratios", "sets the ratios by hand; drop --order");
  if (ratios) order = ORDER_MANUAL;
  if (order == ORDER_MANUAL && !ratios) return usage_error("--order", "manual needs --ratios");
  if (!(k > 0 && k <= 1)) return usage_error("--k", "must be in (0, 1], got %g", (double)k);
  if ((rc = sat_check_proposer(proposer))) return rc;

  // The base model decides the schedule; on the CPU unless its loss is to be measured.
  Err e;
  Backend *be = order == ORDER_LOSS ? cli_backend(device, threads) : backend_cpu_create(1);
  if (!be) return 1;
  CkptInfo info;
  UNet *m = ckpt_load_model(model, be, 1, &info, &e);
  if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); be->destroy(be); return 1; }
  SchedKind sk = SCHED_LINEAR;
  if (schedule_parse(info.schedule, &sk)) fprintf(stderr, "stepscope: %s: unknown schedule '%s'; using linear\n", model, info.schedule);
  int T = info.T > 0 ? info.T : 1000;
  Schedule s;
  schedule_init(&s, sk, T);
  Plan p;
  plan_init(&p, sk, T);
  double *loss = NULL, bin_loss[1000];
  int status = 1;

  if ((rc = cli_plan_groups(&p, &s, groups > 0 || bounds ? groups : 5, bounds, split))) { status = rc; goto done; }
  double manual[PLAN_MAX_GROUPS] = {0};
  if (ratios && cli_number_list(ratios, manual, PLAN_MAX_GROUPS) != p.ngroups) {
    status = usage_error("--ratios", "wants %d comma-separated numbers, one per group", p.ngroups);
    goto done;
  }
  if (order == ORDER_LOSS) {
    loss = xmalloc(sizeof(double) * T);
    if (measure_loss(m, &s, data, loss_n, loss_bins, seed, loss, bin_loss)) goto done;
  }
  if (plan_set_ratios(&p, order, k, loss, manual, &e)) { status = usage_error(ratios ? "--ratios" : "--order", "%s", e.msg); goto done; }
  snprintf(p.base, sizeof p.base, "%s", model);
  snprintf(p.criterion, sizeof p.criterion, "%s", criterion);
  snprintf(p.proposer, sizeof p.proposer, "%s", proposer);
  p.rounds = rounds;
  p.calib_n = calib;
  p.seed = seed;
  p.finetune_steps = finetune;
  if (plan_validate(&p, &e)) { status = usage_error(out, "%s", e.msg); goto done; }
  if (plan_save(out, &p, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); goto done; }
  printf("plan      %s (written)\nbase      %s: %.2f M MACs per image\n", out, model, unet_macs(m) / 1e6);
  print_plan(&p, &s, unet_macs(m), loss, NULL);
  status = 0;
done:
  free(loss);
  schedule_free(&s);
  unet_free(m);
  be->destroy(be);
  return status;
}
