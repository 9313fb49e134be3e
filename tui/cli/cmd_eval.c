// cmd_eval.c — `stepscope eval`: the per-timestep validation loss of a model or of a plan's
// group models (each t on the model of its group), with MACs, parameters and measured
// forward time of every model.
#include "engine/checkpoint.h"
#include "engine/train.h"
#include "engine/stats.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/eval_fid.h"
#include "tui/cli/sat_cli.h"
#include <math.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// One timed forward pass of m on a batch of 16 (x: its input, in backend memory).
static double forward_once(UNet *m, const float *x) {
  int t[16];
  float *out;
  for (int b = 0; b < 16; b++) t[b] = 10 + 60 * b;
  m->be->sync(m->be);
  double t0 = now_sec();
  unet_forward(m, x, t, 16, &out);
  m->be->sync(m->be);
  return (now_sec() - t0) * 1e3;
}

// One timed model call as a sampler makes it at batch 1 (a denoising step of the explorer's
// Generate view): x (host memory) at t = 500.
static double step_once(UNet *m, const float *x, float *eps) {
  m->be->sync(m->be);
  double t0 = now_sec();
  unet_eps_host(m, 500, x, 1, eps);
  return (now_sec() - t0) * 1e3;
}

// Median ms of a forward pass on a batch of 16 for each model, after two warm-up passes, and
// (ms1) the median ms of a batch-1 denoising step, of 21 after two warm-up ones.
// The models take turns, so that whatever else the machine does hits them all alike.
static void forward_ms(UNet **m, int n, double *ms, double *ms1) {
  enum { REPS = 7, REPS1 = 21 };
  Backend *be = m[0]->be;
  size_t len = (size_t)16 * m[0]->cfg.in_ch * m[0]->cfg.img * m[0]->cfg.img;
  float *h = xmalloc(sizeof(float) * len), *x = be->alloc(be, len);
  Rng r;
  rng_seed(&r, 1);
  rng_normal_fill(&r, h, (long)len);
  be->upload(be, x, h, len);
  double (*all)[REPS] = xmalloc(sizeof *all * n);
  for (int i = -2; i < REPS; i++)
    for (int k = 0; k < n; k++) {
      double v = forward_once(m[k], x);
      if (i >= 0) all[k][i] = v;
    }
  for (int k = 0; k < n; k++) {
    qsort(all[k], REPS, sizeof(double), cmp_double);
    ms[k] = all[k][REPS / 2];
  }
  double (*one)[REPS1] = xmalloc(sizeof *one * n);
  const size_t len1 = len / 16;
  float *eps = xmalloc(sizeof(float) * len1);
  for (int i = -2; i < REPS1; i++)
    for (int k = 0; k < n; k++) {
      double v = step_once(m[k], h, eps);
      if (i >= 0) one[k][i] = v;
    }
  for (int k = 0; k < n; k++) {
    qsort(one[k], REPS1, sizeof(double), cmp_double);
    ms1[k] = one[k][REPS1 / 2];
  }
  free(one);
  free(eps);
  be->free(be, x);
  free(h);
  free(all);
}

typedef struct {
  const char *label, *path;
  UNet *m;
  int t0, t1;
  double macs, ms, ms1, loss;
  long params;
} Row;

static void print_rows(const Row *r, int n, double base_macs, double base_ms, int csv) {
  if (csv) printf("model,path,t0,t1,macs,macs_ratio,params,ms_per_forward16,ms_per_step1,loss\n");
  else printf("%-6s %-33s %-13s %9s %7s %9s %9s %8s %9s %8s\n", "model", "file", "t range", "MACs (M)", "of base",
              "params", "ms/fwd@16", "speedup", "ms/step@1", "loss");
  for (int i = 0; i < n; i++) {
    if (csv) {
      printf("%s,%s,%d,%d,%.0f,%.6f,%ld,%.4f,%.4f,%.6g\n", r[i].label, r[i].path, r[i].t0, r[i].t1, r[i].macs,
             r[i].macs / base_macs, r[i].params, r[i].ms, r[i].ms1, r[i].loss);
      continue;
    }
    char range[32];
    snprintf(range, sizeof range, "[%d, %d)", r[i].t0, r[i].t1);
    printf("%-6s %-33s %-13s %9.2f %7.3f %9ld %9.2f %7.2fx %9.3f %8.5f\n", r[i].label, r[i].path, range,
           r[i].macs / 1e6, r[i].macs / base_macs, r[i].params, r[i].ms, base_ms / r[i].ms, r[i].ms1, r[i].loss);
  }
}

int cmd_eval(int argc, char **argv) {
  const char *model = NULL, *plan_path = NULL, *device = "auto", *data = NULL;
  const char *sampler = "ddim", *fid_png = NULL, *against = NULL, *cache = NULL;
  int curve = 0, csv = 0, n = 256, nbins = 20, batch = 64, threads = 0, fid_n = 0, steps = 50, sets = 1;
  int kid_subset = 0, no_cache = 0;
  uint64_t seed = 0;
  Opt opts[] = {
    {"--model", OPT_STR, &model, "FILE", "evaluate one model"},
    {"--plan", OPT_STR, &plan_path, "PLAN", "evaluate a plan's group models against its base model"},
    {"--loss-curve", OPT_FLAG, &curve, NULL, "print the loss per timestep bin"},
    {"--csv", OPT_FLAG, &csv, NULL, "CSV (with --loss-curve: the curve only)"},
    {"--n", OPT_INT, &n, "N", "held-out images per bin: the last N of the test split (default 256)"},
    {"--bins", OPT_INT, &nbins, "N", "timestep bins of the curve (default 20)"},
    {"--seed", OPT_U64, &seed, "N", "seed of timesteps and noise (default 0)"},
    {"--batch", OPT_INT, &batch, "N", "images per forward pass (default 64)"},
    {"--data", OPT_STR, &data, "SPEC", "data set (default: the model's)"},
    {"--fid", OPT_INT, &fid_n, "N", "FID-FMNIST and KID-FMNIST of N samples per seed set instead"},
    {"--seed-sets", OPT_INT, &sets, "S", "with --fid: S disjoint seed sets of N samples, mean ± sd (default 1)"},
    {"--against", OPT_STR, &against, "REF", "with --fid: compare with REF (a plan or a .safetensors model; "
                                            "default for --plan: its base)"},
    {"--kid-subset", OPT_INT, &kid_subset, "M", "with --fid: images per KID subset (default min(1000, N/2))"},
    {"--cache", OPT_STR, &cache, "DIR", "with --fid: where sample features are kept (default ~/.cache/stepscope)"},
    {"--no-cache", OPT_FLAG, &no_cache, NULL, "with --fid: sample everything, keep nothing"},
    {"--sampler", OPT_STR, &sampler, "NAME", "with --fid: ddim (default) | ddpm"},
    {"--steps", OPT_INT, &steps, "S", "with --fid: DDIM steps (default 50)"},
    {"--fid-png", OPT_STR, &fid_png, "FILE", "with --fid: also write the first 64 samples as a grid"},
    {"--device", OPT_STR, &device, "DEV", "auto (default) | cpu | cuda"},
    OPT_CUDA_CHOICES,
    {"--threads", OPT_INT, &threads, "N", "CPU threads (default: all cores)"},
  };
  ArgSpec spec = {"eval", "(--model FILE | --plan PLAN) [options]",
                  "Validation loss (eps-MSE) per timestep bin on held-out images with fixed noise: the\n"
                  "last N images of the test split (calibration uses the first ones). For a plan, every\n"
                  "t runs on its group's model and the base model is evaluated alongside. Also MACs,\n"
                  "parameters and the median time of a forward pass on a batch of 16 for each model.\n"
                  "With --fid N: draws S seed sets of N samples (image i of set j from noise seed\n"
                  "--seed + j*N + i) and reports FID-FMNIST (per set) and KID-FMNIST (per subset) as\n"
                  "mean ± sd, in the features of stepscope's own Fashion-MNIST classifier (not\n"
                  "Inception), beside the floor: the same scores of S sets of N real training images.\n"
                  "For a plan (or with --against) the reference is sampled on the same seeds and the\n"
                  "paired difference gets a 95 % interval and a verdict: worse, better or not\n"
                  "distinguishable at this N. Sample features are cached, keyed by the models' bytes.",
                  opts, sizeof opts / sizeof opts[0], 0, 0, NULL};
  int rc = args_parse(&spec, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;
  if (!model == !plan_path) { fprintf(stderr, "stepscope: eval: give --model FILE or --plan PLAN\n"); return 2; }
  if (fid_n) {
    EvalFid f = {.model = model, .plan = plan_path, .against = against, .n = fid_n, .sets = sets, .batch = batch,
                 .threads = threads, .kid_subset = kid_subset, .sampler = sampler_cfg_default(), .device = device,
                 .out_png = fid_png, .data = data, .cache = no_cache ? "" : cache, .csv = csv};
    if (fid_n < 4 || fid_n > 1000000 || sampler_parse(sampler, &f.sampler.kind) || steps < 1 || steps > 1000 ||
        batch < 1) {
      fprintf(stderr, "stepscope: eval: --fid needs 4 <= N <= 1000000, a known --sampler, 1 <= --steps <= 1000 "
              "and --batch >= 1\n");
      return 2;
    }
    if (sets < 1 || sets > EVAL_MAX_SETS) {
      fprintf(stderr, "stepscope: eval: --seed-sets must be 1..%d\n", EVAL_MAX_SETS);
      return 2;
    }
    if (kid_subset && (kid_subset < 2 || kid_subset > fid_n)) {
      fprintf(stderr, "stepscope: eval: --kid-subset must be 2..N (%d)\n", fid_n);
      return 2;
    }
    f.sampler.steps = f.sampler.kind == SAMPLER_DDPM ? 1000 : steps;
    f.sampler.seed = seed;
    return eval_fid_run(&f);
  }
  if (n < 1 || nbins < 1 || nbins > 1000 || batch < 1) { fprintf(stderr, "stepscope: eval: bad --n, --bins or --batch\n"); return 2; }

  Err e;
  SatCtx c = {0};
  Row rows[PLAN_MAX_GROUPS + 1] = {0};
  int nrows = 0, status = 1, T;
  Schedule sched;
  Backend *be = NULL;
  CkptInfo info;
  if (plan_path) {
    if (sat_open(&c, "eval", plan_path, device, threads, data, 0)) return 1;
    be = c.be;
    rows[nrows++] = (Row){.label = "base", .path = c.plan.base, .m = c.base, .t0 = 0, .t1 = c.plan.T};
    for (int j = 0; j < c.plan.ngroups; j++) {
      const PlanGroup *g = &c.plan.g[j];
      if (!g->model[0]) { fprintf(stderr, "stepscope: eval: group g%d has no model (run `stepscope prune --plan %s`)\n", j, plan_path); goto done; }
      UNet *m = ckpt_load_model(g->model, be, 1, NULL, &e);
      if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); goto done; }
      static char labels[PLAN_MAX_GROUPS][8];
      snprintf(labels[j], sizeof labels[j], "g%d", j);
      rows[nrows++] = (Row){.label = labels[j], .path = g->model, .m = m, .t0 = g->t0, .t1 = g->t1};
    }
    sched = c.sched;
    T = c.plan.T;
  } else {
    // One model, beside the model it was pruned or fine-tuned from when that still loads.
    if (!(be = cli_backend(device, threads))) return 1;
    UNet *m = ckpt_load_model(model, be, 1, &info, &e), *parent = NULL;
    if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); be->destroy(be); return 1; }
    SchedKind sk = SCHED_LINEAR;
    schedule_parse(info.schedule, &sk);
    T = info.T > 0 ? info.T : 1000;
    schedule_init(&sched, sk, T);
    if (info.parent[0] && (parent = ckpt_load_model(info.parent, be, 1, NULL, &e)) &&
        (parent->cfg.in_ch != m->cfg.in_ch || parent->cfg.img != m->cfg.img)) {
      unet_free(parent);
      parent = NULL;
    }
    if (parent) rows[nrows++] = (Row){.label = "parent", .path = info.parent, .m = parent, .t0 = 0, .t1 = T};
    rows[nrows++] = (Row){.label = "model", .path = model, .m = m, .t0 = 0, .t1 = T};
    snprintf(c.data, sizeof c.data, "%s", data ? data : info.data[0] ? info.data : "fashion-mnist");
  }
  // rows[0] is the reference (base or parent), evaluated on its own; rows[1..] split the
  // timesteps between them (a plan's groups, or one model over all of them).
  const int cmp = nrows > 1;
  const char *ref = plan_path ? "base" : "parent", *cand = plan_path ? "plan" : "model";
  Dataset ds = {0}, held;
  if (sat_load_test(c.data, rows[0].m, &ds)) goto done;
  if (n > ds.n) n = ds.n;
  held = ds;
  held.x = ds.x + (size_t)(ds.n - n) * ds.c * ds.h * ds.w;
  held.n = n;
  held.labels = NULL;

  double *base_curve = xmalloc(sizeof(double) * nbins), *plan_curve = xmalloc(sizeof(double) * nbins);
  int *model_of_t = xcalloc(T, sizeof(int));
  UNet *ms[PLAN_MAX_GROUPS];
  double mloss[PLAN_MAX_GROUPS];
  // Every image's loss in every bin: the two curves pair up image by image (same x0, t and
  // noise), so each bin's change gets a 95 % interval from the per-image differences.
  double *base_each = xmalloc(sizeof(double) * nbins * n), *plan_each = xmalloc(sizeof(double) * nbins * n);
  eval_loss_curve_each(&rows[0].m, 1, model_of_t, &sched, &held, n, nbins, seed, batch, base_curve, &rows[0].loss,
                       base_each);
  if (cmp) {
    for (int t = 0; plan_path && t < T; t++) model_of_t[t] = plan_group_of(&c.plan, t);
    for (int j = 1; j < nrows; j++) ms[j - 1] = rows[j].m;
    eval_loss_curve_each(ms, nrows - 1, model_of_t, &sched, &held, n, nbins, seed, batch, plan_curve, mloss,
                         plan_each);
    for (int j = 1; j < nrows; j++) rows[j].loss = mloss[j - 1];
    for (size_t i = 0; i < (size_t)nbins * n; i++) plan_each[i] -= base_each[i];  // now the paired differences
  }
  UNet *all[PLAN_MAX_GROUPS + 1];
  double ms_all[PLAN_MAX_GROUPS + 1], ms1_all[PLAN_MAX_GROUPS + 1];
  for (int i = 0; i < nrows; i++) all[i] = rows[i].m;
  forward_ms(all, nrows, ms_all, ms1_all);
  for (int i = 0; i < nrows; i++) {
    rows[i].macs = unet_macs(rows[i].m);
    rows[i].params = unet_nparams(rows[i].m);
    rows[i].ms = ms_all[i];
    rows[i].ms1 = ms1_all[i];
  }

  double mean_base = 0, mean_plan = 0, compute = 0;
  for (int i = 0; i < nbins; i++) { mean_base += base_curve[i] / nbins; mean_plan += plan_curve[i] / nbins; }
  for (int t = 0; cmp && t < T; t++) compute += rows[1 + model_of_t[t]].macs / rows[0].macs / T;
  if (!(curve && csv)) {
    if (!csv)
      printf("eval  %s test split, last %d images, %d timestep bins, seed %llu, %s\n\n", c.data, n, nbins,
             (unsigned long long)seed, be->name);
    print_rows(rows, nrows, rows[0].macs, rows[0].ms, csv);
    if (plan_path && !csv)
      printf("%-6s %-33s %-13s %9s %7.3f %9s %9s %8s %9s %8.5f\n", "plan", "(each t on its group's model)",
             "[0, T)", "", compute, "", "", "", "", mean_plan);
    if (cmp && !csv)
      printf("\n%s: %.1f %% of the %s model's MACs over a DDPM run; mean loss over all t %.5f vs %.5f (%+.2f %%)\n",
             cand, 100 * compute, ref, mean_plan, mean_base, 100 * (mean_plan / mean_base - 1));
  }
  if (curve) {
    // cmp: the interval of the mean change cand - ref; else: of the mean loss itself.
    if (csv) cmp ? printf("t0,t1,%s,%s,change_lo,change_hi\n", ref, cand) : printf("t0,t1,loss,lo,hi\n");
    else if (cmp) printf("\n%-14s %9s %9s %8s   %s\n", "t range", ref, cand, "change", "95 % interval (paired, per image)");
    else printf("\n%-14s %9s   %s\n", "t range", "loss", "95 % interval");
    for (int i = 0; i < nbins; i++) {
      int a = i * T / nbins, b = (i + 1) * T / nbins;
      Summary sm = summarize((cmp ? plan_each : base_each) + (size_t)i * n, n);
      if (csv) {
        if (cmp) printf("%d,%d,%.6g,%.6g,%.6g,%.6g\n", a, b, base_curve[i], plan_curve[i], sm.lo, sm.hi);
        else printf("%d,%d,%.6g,%.6g,%.6g\n", a, b, base_curve[i], sm.lo, sm.hi);
        continue;
      }
      char range[32];
      snprintf(range, sizeof range, "[%d, %d)", a, b);
      if (cmp)
        printf("%-14s %9.5f %9.5f %+7.2f%%   [%+.2f %%, %+.2f %%]%s\n", range, base_curve[i], plan_curve[i],
               100 * (plan_curve[i] / base_curve[i] - 1), 100 * sm.lo / base_curve[i], 100 * sm.hi / base_curve[i],
               interval_sign(&sm) ? "" : "  (not distinguishable)");
      else printf("%-14s %9.5f   [%.5f, %.5f]\n", range, base_curve[i], sm.lo, sm.hi);
    }
  }
  status = 0;
  free(base_curve);
  free(plan_curve);
  free(base_each);
  free(plan_each);
  free(model_of_t);
  data_free(&ds);
done:
  if (plan_path) {
    for (int i = 1; i < nrows; i++) unet_free(rows[i].m);
    sat_close(&c);
  } else {
    for (int i = 0; i < nrows; i++) unet_free(rows[i].m);
    schedule_free(&sched);
    be->destroy(be);
  }
  return status;
}
