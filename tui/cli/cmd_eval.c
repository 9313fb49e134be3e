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

// The median of reps calls of each model as a sampler makes them (cli_call_ms: across the CPU's
// lanes, nothing kept for a backward) on B images of x at t = 500, after two warm-up ones; at
// B = 1 a denoising step of the explorer's Generate view. The models take turns, so that
// whatever else the machine does hits them all alike.
static void median_calls(UNet **m, int n, const float *x, int B, int reps, float *eps, double *ms) {
  double *all = xmalloc(sizeof(double) * n * reps);
  for (int i = -2; i < reps; i++)
    for (int k = 0; k < n; k++) {
      double v = cli_call_ms(m[k], 500, x, B, eps);
      if (i >= 0) all[k * reps + i] = v;
    }
  for (int k = 0; k < n; k++) {
    qsort(all + k * reps, reps, sizeof(double), cmp_double);
    ms[k] = all[k * reps + reps / 2];
  }
  free(all);
}

// Per model, the median ms of a call on a batch of 16 (of 7) and of a batch-1 step (of 21).
static void forward_ms(UNet **m, int n, double *ms, double *ms1) {
  const size_t len = (size_t)16 * m[0]->cfg.in_ch * m[0]->cfg.img * m[0]->cfg.img;
  float *x = xmalloc(sizeof(float) * len), *eps = xmalloc(sizeof(float) * len);
  Rng r;
  rng_seed(&r, 1);
  rng_normal_fill(&r, x, (long)len);
  median_calls(m, n, x, 16, 7, eps, ms);
  median_calls(m, n, x, 1, 21, eps, ms1);
  free(x);
  free(eps);
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

// ---- the command, in steps ----

typedef struct {
  const char *model, *plan, *device, *data, *sampler, *fid_png, *against, *cache;
  int curve, csv, n, nbins, batch, threads, fid_n, steps, sets, kid_subset, no_cache;
  uint64_t seed;
} Args;

// --fid N: samples scored by FID-FMNIST and KID-FMNIST (eval_fid.c). Returns the exit status.
static int run_fid(const Args *a) {
  EvalFid f = {.model = a->model, .plan = a->plan, .against = a->against, .n = a->fid_n, .sets = a->sets,
               .batch = a->batch, .threads = a->threads, .kid_subset = a->kid_subset, .sampler = sampler_cfg_default(),
               .device = a->device, .out_png = a->fid_png, .data = a->data, .cache = a->no_cache ? "" : a->cache,
               .csv = a->csv};
  if (a->kid_subset > a->fid_n) return usage_error("--kid-subset", "must be 2..N (%d)", a->fid_n);
  sampler_parse(a->sampler, &f.sampler.kind);  // the option table allows only the known names
  f.sampler.steps = f.sampler.kind == SAMPLER_DDPM ? 1000 : a->steps;
  f.sampler.seed = a->seed;
  return eval_fid_run(&f);
}

// The models under evaluation. rows[0] is the reference (a plan's base, or the model's parent
// when that still loads), evaluated on its own; rows[1..] split the timesteps between them (a
// plan's groups, or one model over all of them).
typedef struct {
  SatCtx c;         // with --plan: the plan, its base model and backend
  Backend *be;
  Schedule sched;   // without --plan (with it, c.sched)
  int T;
  Row rows[PLAN_MAX_GROUPS + 1];
  int nrows;
  Dataset ds, held; // the test split, and its last n images
  int n;            // --n, or fewer when the test split holds fewer
  int *model_of_t;  // which of rows[1..] runs at t
  double *base_curve, *plan_curve;  // loss per bin of rows[0] and of the rest
  double *base_each, *diff_each;    // every image in every bin: rows[0]'s loss, and the paired difference
} Eval;

// A plan: its base model and each group's model. Returns 0, or 1 (printed).
static int open_plan(const Args *a, Eval *v) {
  static char labels[PLAN_MAX_GROUPS][8];
  Err e;
  if (sat_open(&v->c, a->plan, a->device, a->threads, a->data, 0)) return 1;
  v->be = v->c.be;
  v->T = v->c.plan.T;
  v->rows[v->nrows++] = (Row){.label = "base", .path = v->c.plan.base, .m = v->c.base, .t0 = 0, .t1 = v->T};
  for (int j = 0; j < v->c.plan.ngroups; j++) {
    const PlanGroup *g = &v->c.plan.g[j];
    if (!g->model[0]) {
      fprintf(stderr, "stepscope: %s: group g%d has no model (run `stepscope prune --plan %s`)\n", a->plan, j, a->plan);
      return 1;
    }
    UNet *m = ckpt_load_model(g->model, v->be, 1, NULL, &e);
    if (!m) return data_error(e.msg);
    unet_share_arena(m, v->c.base);  // the models run in turn: one arena, grown once
    snprintf(labels[j], sizeof labels[j], "g%d", j);
    v->rows[v->nrows++] = (Row){.label = labels[j], .path = g->model, .m = m, .t0 = g->t0, .t1 = g->t1};
  }
  return 0;
}

// One model, beside the model it was pruned or fine-tuned from when that still loads.
// Returns 0, or 1 (printed).
static int open_model(const Args *a, Eval *v) {
  Err e;
  CkptInfo info;
  if (!(v->be = cli_backend(a->device, a->threads))) return 1;
  UNet *m = ckpt_load_model(a->model, v->be, 1, &info, &e), *parent = NULL;
  if (!m) return data_error(e.msg);
  SchedKind sk = SCHED_LINEAR;
  schedule_parse(info.schedule, &sk);
  v->T = info.T > 0 ? info.T : 1000;
  schedule_init(&v->sched, sk, v->T);
  if (info.parent[0] && (parent = ckpt_load_model(info.parent, v->be, 1, NULL, &e)) &&
      (parent->cfg.in_ch != m->cfg.in_ch || parent->cfg.img != m->cfg.img)) {
    unet_free(parent);
    parent = NULL;
  }
  if (parent) unet_share_arena(m, parent);
  if (parent) v->rows[v->nrows++] = (Row){.label = "parent", .path = info.parent, .m = parent, .t0 = 0, .t1 = v->T};
  v->rows[v->nrows++] = (Row){.label = "model", .path = a->model, .m = m, .t0 = 0, .t1 = v->T};
  snprintf(v->c.data, sizeof v->c.data, "%s", a->data ? a->data : info.data[0] ? info.data : "fashion-mnist");
  return 0;
}

// The loss curves on the held-out images (the last n of the test split), then each model's
// MACs, parameters and speed. Returns 0, or 1 (printed).
static int measure(const Args *a, Eval *v) {
  const int nbins = a->nbins, cmp = v->nrows > 1;
  const Schedule *sched = a->plan ? &v->c.sched : &v->sched;
  if (sat_load_test(v->c.data, v->rows[0].m, &v->ds)) return 1;
  const int n = v->n = a->n < v->ds.n ? a->n : v->ds.n;
  v->held = v->ds;
  v->held.x = v->ds.x + (size_t)(v->ds.n - n) * v->ds.c * v->ds.h * v->ds.w;
  v->held.n = n;
  v->held.labels = NULL;

  v->base_curve = xcalloc(nbins, sizeof(double));
  v->plan_curve = xcalloc(nbins, sizeof(double));
  v->model_of_t = xcalloc(v->T, sizeof(int));
  // The two curves pair up image by image (same x0, t and noise), so each bin's change gets a
  // 95 % interval from the per-image differences.
  v->base_each = xmalloc(sizeof(double) * nbins * n);
  v->diff_each = xmalloc(sizeof(double) * nbins * n);
  eval_loss_curve_each(&v->rows[0].m, 1, v->model_of_t, sched, &v->held, n, nbins, a->seed, a->batch,
                       v->base_curve, &v->rows[0].loss, v->base_each);
  if (cmp) {
    UNet *ms[PLAN_MAX_GROUPS];
    double mloss[PLAN_MAX_GROUPS];
    for (int t = 0; a->plan && t < v->T; t++) v->model_of_t[t] = plan_group_of(&v->c.plan, t);
    for (int j = 1; j < v->nrows; j++) ms[j - 1] = v->rows[j].m;
    eval_loss_curve_each(ms, v->nrows - 1, v->model_of_t, sched, &v->held, n, nbins, a->seed, a->batch,
                         v->plan_curve, mloss, v->diff_each);
    for (int j = 1; j < v->nrows; j++) v->rows[j].loss = mloss[j - 1];
    for (size_t i = 0; i < (size_t)nbins * n; i++) v->diff_each[i] -= v->base_each[i];
  }
  UNet *all[PLAN_MAX_GROUPS + 1];
  double ms_all[PLAN_MAX_GROUPS + 1], ms1_all[PLAN_MAX_GROUPS + 1];
  for (int i = 0; i < v->nrows; i++) all[i] = v->rows[i].m;
  forward_ms(all, v->nrows, ms_all, ms1_all);
  for (int i = 0; i < v->nrows; i++) {
    Row *r = &v->rows[i];
    r->macs = unet_macs(r->m);
    r->params = unet_nparams(r->m);
    r->ms = ms_all[i];
    r->ms1 = ms1_all[i];
  }
  return 0;
}

// The table of models, and for a comparison the compute and mean loss against the reference.
static void print_summary(const Args *a, const Eval *v) {
  const int nbins = a->nbins, cmp = v->nrows > 1;
  double mean_base = 0, mean_plan = 0, compute = 0;
  for (int i = 0; i < nbins; i++) mean_base += v->base_curve[i] / nbins, mean_plan += v->plan_curve[i] / nbins;
  for (int t = 0; cmp && t < v->T; t++) compute += v->rows[1 + v->model_of_t[t]].macs / v->rows[0].macs / v->T;
  if (!a->csv)
    printf("eval  %s test split, last %d images, %d timestep bins, seed %llu, %s\n\n", v->c.data, v->n, nbins,
           (unsigned long long)a->seed, v->be->name);
  print_rows(v->rows, v->nrows, v->rows[0].macs, v->rows[0].ms, a->csv);
  if (a->csv) return;
  if (a->plan)
    printf("%-6s %-33s %-13s %9s %7.3f %9s %9s %8s %9s %8.5f\n", "plan", "(each t on its group's model)",
           "[0, T)", "", compute, "", "", "", "", mean_plan);
  if (cmp)
    printf("\n%s: %.1f %% of the %s model's MACs over a DDPM run; mean loss over all t %.5f vs %.5f (%+.2f %%)\n",
           a->plan ? "plan" : "model", 100 * compute, a->plan ? "base" : "parent", mean_plan, mean_base,
           100 * (mean_plan / mean_base - 1));
}

// --loss-curve: the loss per bin with its interval; for a comparison the change against the
// reference with the interval of the mean change (paired, per image).
static void print_curve(const Args *a, const Eval *v) {
  const int cmp = v->nrows > 1, csv = a->csv;
  const char *ref = a->plan ? "base" : "parent", *cand = a->plan ? "plan" : "model";
  const double *base = v->base_curve, *plan = v->plan_curve;
  if (csv) cmp ? printf("t0,t1,%s,%s,change_lo,change_hi\n", ref, cand) : printf("t0,t1,loss,lo,hi\n");
  else if (cmp) printf("\n%-14s %9s %9s %8s   %s\n", "t range", ref, cand, "change", "95 % interval (paired, per image)");
  else printf("\n%-14s %9s   %s\n", "t range", "loss", "95 % interval");
  for (int i = 0; i < a->nbins; i++) {
    int t0 = i * v->T / a->nbins, t1 = (i + 1) * v->T / a->nbins;
    Summary sm = summarize((cmp ? v->diff_each : v->base_each) + (size_t)i * v->n, v->n);
    char range[32];
    snprintf(range, sizeof range, "[%d, %d)", t0, t1);
    if (csv && cmp) printf("%d,%d,%.6g,%.6g,%.6g,%.6g\n", t0, t1, base[i], plan[i], sm.lo, sm.hi);
    else if (csv) printf("%d,%d,%.6g,%.6g,%.6g\n", t0, t1, base[i], sm.lo, sm.hi);
    else if (cmp)
      printf("%-14s %9.5f %9.5f %+7.2f%%   [%+.2f %%, %+.2f %%]%s\n", range, base[i], plan[i],
             100 * (plan[i] / base[i] - 1), 100 * sm.lo / base[i], 100 * sm.hi / base[i],
             interval_sign(&sm) ? "" : "  (not distinguishable)");
    else printf("%-14s %9.5f   [%.5f, %.5f]\n", range, base[i], sm.lo, sm.hi);
  }
}

static void eval_close(const Args *a, Eval *v) {
  free(v->base_curve);
  free(v->plan_curve);
  free(v->base_each);
  free(v->diff_each);
  free(v->model_of_t);
  if (v->ds.x) data_free(&v->ds);
  for (int i = a->plan ? 1 : 0; i < v->nrows; i++) unet_free(v->rows[i].m);  // a plan's base goes with it
  if (a->plan) {
    sat_close(&v->c);
  } else {
    schedule_free(&v->sched);
    if (v->be) v->be->destroy(v->be);
  }
}

static const char about[] =
    "Validation loss (eps-MSE) per timestep bin on held-out images with fixed noise: the\n"
    "last N images of the test split (calibration uses the first ones). For a plan, every\n"
    "t runs on its group's model and the base model is evaluated alongside. Also MACs,\n"
    "parameters and the median time of a model call on a batch of 16 for each model.\n"
    "With --fid N: draws S seed sets of N samples (image i of set j from noise seed\n"
    "--seed + j*N + i) and reports FID-FMNIST (per set) and KID-FMNIST (per subset) as\n"
    "mean ± sd, in the features of stepscope's own Fashion-MNIST classifier (not\n"
    "Inception), beside the floor: the same scores of S sets of N real training images.\n"
    "For a plan (or with --against) the reference is sampled on the same seeds and the\n"
    "paired difference gets a 95 % interval and a verdict: worse, better or not\n"
    "distinguishable at this N. Sample features are cached, keyed by the models' bytes.";

int cmd_eval(int argc, char **argv) {
  Args a = {.device = "auto", .sampler = "ddim", .n = 256, .nbins = 20, .batch = 64, .steps = 50, .sets = 1};
  const Opt opts[] = {
    ARG_STR("--model", &a.model, "FILE", "evaluate one model"),
    ARG_STR("--plan", &a.plan, "PLAN", "evaluate a plan's group models against its base model"),
    ARG_FLAG("--loss-curve", &a.curve, "print the loss per timestep bin"),
    ARG_FLAG("--csv", &a.csv, "CSV (with --loss-curve: the curve only)"),
    ARG_INT("--n", &a.n, "N", "held-out images per bin: the last N of the test split", .min = 1, .max = 1000000),
    ARG_INT("--bins", &a.nbins, "N", "timestep bins of the curve", .min = 1, .max = 1000),
    ARG_U64("--seed", &a.seed, "N", "seed of timesteps and noise"),
    ARG_INT("--batch", &a.batch, "N", "images per forward pass", .min = 1, .max = 4096),
    ARG_STR("--data", &a.data, "SPEC", "data set", .def = "the model's"),
    ARG_INT("--fid", &a.fid_n, "N", "FID-FMNIST and KID-FMNIST of N samples per seed set instead",
     .def = "off", .min = 4, .max = 1000000),
    ARG_INT("--seed-sets", &a.sets, "S", "with --fid: S disjoint seed sets of N samples, mean ± sd",
     .min = 1, .max = EVAL_MAX_SETS),
    ARG_STR("--against", &a.against, "REF", "with --fid: compare with REF (a plan or a .safetensors model)",
     .def = "for --plan: its base"),
    ARG_INT("--kid-subset", &a.kid_subset, "M", "with --fid: images per KID subset, up to N",
     .def = "min(1000, N/2)", .min = 2, .max = 1000000),
    ARG_STR("--cache", &a.cache, "DIR", "with --fid: where sample features are kept",
            .def = "$XDG_CACHE_HOME/stepscope, else ~/.cache/stepscope"),
    ARG_FLAG("--no-cache", &a.no_cache, "with --fid: sample everything, keep nothing"),
    ARG_STR("--sampler", &a.sampler, "NAME", "with --fid: the sampler", .choices = "ddim, ddpm"),
    ARG_INT("--steps", &a.steps, "S", "with --fid: DDIM steps", .min = 1, .max = 1000),
    ARG_STR("--fid-png", &a.fid_png, "FILE", "with --fid: also write the first 64 samples as a grid"),
    OPT_COMPUTE(&a.device, &a.threads),
  };
  const ArgSpec spec = {"eval", "(--model FILE | --plan PLAN) [options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  if (!a.model == !a.plan) return usage_error("--model, --plan", "give one of them");
  if (a.fid_n) return run_fid(&a);

  Eval v = {0};
  rc = a.plan ? open_plan(&a, &v) : open_model(&a, &v);
  if (!rc) rc = measure(&a, &v);
  if (!rc && !(a.curve && a.csv)) print_summary(&a, &v);
  if (!rc && a.curve) print_curve(&a, &v);
  eval_close(&a, &v);
  return rc;
}
