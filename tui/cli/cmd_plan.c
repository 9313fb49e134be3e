// cmd_plan.c — `stepscope plan`: write a SAT plan (groups, ratios, pruning settings) for a
// base model, or show one, with each group's MAC budget and the expected sampling cost.
#include "engine/checkpoint.h"
#include "engine/sampler.h"
#include "engine/sat/plan.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
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

int cmd_plan(int argc, char **argv) {
  const char *model = NULL, *out = NULL, *show_path = NULL, *bounds = NULL, *split = NULL, *order_s = NULL;
  const char *ratios = NULL, *criterion = "taylor", *proposer = "builtin", *data = "fashion-mnist", *device = "auto";
  int groups = 0, rounds = 8, calib = 256, finetune = 2000, loss_n = 256, loss_bins = 20, threads = 0;
  float k = 0.5f;
  uint64_t seed = 0;
  Opt opts[] = {
    {"--model", OPT_STR, &model, "FILE", "the base model (safetensors)"},
    {"--out", OPT_STR, &out, "PLAN", "plan file to write"},
    {"--show", OPT_STR, &show_path, "PLAN", "print an existing plan instead"},
    {"--groups", OPT_INT, &groups, "N", "number of timestep groups, 1..16 (default 5)"},
    {"--bounds", OPT_STR, &bounds, "T1,T2,...", "group boundaries by hand (N-1 ascending timesteps)"},
    {"--split", OPT_STR, &split, "KIND", "t (default): equal t ranges | snr: equal SNR_dB ranges"},
    {"--order", OPT_STR, &order_s, "ORDER", "progressive (default) | regressive | uniform | loss"},
    {"--k", OPT_FLOAT, &k, "K", "floor k of the progressive formula, in (0, 1] (default 0.5)"},
    {"--ratios", OPT_STR, &ratios, "R1,R2,...", "ratios by hand, in t order (g0 = cleanest first)"},
    {"--criterion", OPT_STR, &criterion, "NAME", "importance: magnitude | taylor (default) | diff-pruning | random"},
    {"--rounds", OPT_INT, &rounds, "N", "proxy-search rounds per group (default 8)"},
    {"--proposer", OPT_STR, &proposer, "P", "builtin (default) | cmd:COMMAND"},
    {"--calib", OPT_INT, &calib, "N", "held-out calibration images for the proxy (default 256)"},
    {"--seed", OPT_U64, &seed, "N", "seed of calibration, search and fine-tuning (default 0)"},
    {"--finetune", OPT_INT, &finetune, "N", "fine-tuning steps per group model (default 2000)"},
    {"--data", OPT_STR, &data, "SPEC", "--order loss: data set whose test split is used (default fashion-mnist)"},
    {"--loss-images", OPT_INT, &loss_n, "N", "--order loss: images per bin (default 256)"},
    {"--loss-bins", OPT_INT, &loss_bins, "N", "--order loss: timestep bins (default 20)"},
    {"--device", OPT_STR, &device, "DEV", "--order loss: auto (default) | cpu | cuda"},
    {"--threads", OPT_INT, &threads, "N", "CPU threads (default: all cores)"},
  };
  ArgSpec spec = {"plan", "--model BASE --out PLAN [options]  |  --show PLAN",
                  "Writes a Step-Adaptive Training plan: the timestep groups, each group's size as a\n"
                  "fraction of the base model's MACs, and the pruning and fine-tuning settings. Group\n"
                  "g0 holds the cleanest timesteps; the paper's progressive order gives the group run\n"
                  "i-th when sampling (i = 1 the noisiest) the ratio i/N + (N-i)/N k. --order loss makes\n"
                  "ratios proportional to the base model's measured loss per group, with the same mean.\n"
                  "The file format is described in stepscope-plan(5).",
                  opts, sizeof opts / sizeof opts[0], 0, 0, NULL};
  int rc = args_parse(&spec, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;
  if (show_path) {
    if (model || out) { fprintf(stderr, "stepscope: plan: --show takes no --model or --out\n"); return 2; }
    return show(show_path);
  }
  if (!model || !out) { fprintf(stderr, "stepscope: plan: --model BASE and --out PLAN are required (or --show PLAN)\n"); return 2; }

  OrderKind order = ORDER_PROGRESSIVE;
  if (order_s && order_parse(order_s, &order)) { fprintf(stderr, "stepscope: plan: unknown --order '%s'\n", order_s); return 2; }
  if (ratios && order_s && order != ORDER_MANUAL) { fprintf(stderr, "stepscope: plan: --ratios sets the ratios by hand; drop --order\n"); return 2; }
  if (ratios) order = ORDER_MANUAL;
  if (order == ORDER_MANUAL && !ratios) { fprintf(stderr, "stepscope: plan: --order manual needs --ratios\n"); return 2; }
  if (!(k > 0 && k <= 1)) { fprintf(stderr, "stepscope: plan: --k must be in (0, 1]\n"); return 2; }
  if (loss_n < 1 || loss_bins < 1 || loss_bins > 1000) { fprintf(stderr, "stepscope: plan: bad --loss-images or --loss-bins\n"); return 2; }

  // The base model decides the schedule; on the CPU unless its loss is to be measured.
  Err e;
  Backend *be = order == ORDER_LOSS ? cli_backend(device, threads) : backend_cpu_create(1);
  if (!be) return 1;
  CkptInfo info;
  UNet *m = ckpt_load_model(model, be, 1, &info, &e);
  if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); be->destroy(be); return 1; }
  SchedKind sk = SCHED_LINEAR;
  if (schedule_parse(info.schedule, &sk)) fprintf(stderr, "stepscope: plan: %s: unknown schedule '%s'; using linear\n", model, info.schedule);
  int T = info.T > 0 ? info.T : 1000;
  Schedule s;
  schedule_init(&s, sk, T);
  Plan p;
  plan_init(&p, sk, T);
  double *loss = NULL, bin_loss[1000];
  int status = 1;

  if ((rc = cli_plan_groups("plan", &p, &s, groups > 0 || bounds ? groups : 5, bounds, split))) { status = rc; goto done; }
  double manual[PLAN_MAX_GROUPS] = {0};
  if (ratios && cli_number_list(ratios, manual, PLAN_MAX_GROUPS) != p.ngroups) {
    fprintf(stderr, "stepscope: plan: --ratios wants %d comma-separated numbers, one per group\n", p.ngroups);
    status = 2;
    goto done;
  }
  if (order == ORDER_LOSS) {
    loss = xmalloc(sizeof(double) * T);
    if (measure_loss(m, &s, data, loss_n, loss_bins, seed, loss, bin_loss)) goto done;
  }
  if (plan_set_ratios(&p, order, k, loss, manual, &e)) { fprintf(stderr, "stepscope: plan: %s\n", e.msg); status = 2; goto done; }
  snprintf(p.base, sizeof p.base, "%s", model);
  snprintf(p.criterion, sizeof p.criterion, "%s", criterion);
  snprintf(p.proposer, sizeof p.proposer, "%s", proposer);
  p.rounds = rounds;
  p.calib_n = calib;
  p.seed = seed;
  p.finetune_steps = finetune;
  if (plan_validate(&p, &e)) { fprintf(stderr, "stepscope: plan: %s\n", e.msg); status = 2; goto done; }
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
