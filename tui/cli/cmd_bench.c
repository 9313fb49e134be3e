// cmd_bench.c — `stepscope bench train|sample`: speed of a training step and of sampling,
// with PyTorch running the same architecture in the same run (when python3 and torch are
// installed) for a fair ratio.
#include "engine/sampler.h"
#include "engine/train.h"
#include "tui/cli/args.h"
#include "tui/cli/bench.h"
#include "tui/cli/commands.h"
#include "tui/cli/torch_ref.h"
#include <stdlib.h>
#include <string.h>

// OpenBLAS takes its kernels from OPENBLAS_CORETYPE when set: say so beside CPU figures,
// since forcing older kernels (Haswell's AVX2 on an AVX-512 CPU) costs ~1.25x here.
void bench_note_blas_env(const Backend *be) {
  const char *ct = getenv("OPENBLAS_CORETYPE");
  if (ct && strcmp(be->name, "cuda"))
    printf("  note: OPENBLAS_CORETYPE=%s is set: OpenBLAS runs those kernels, not the ones it would pick\n", ct);
}

// A preset (a name the option table allows) with random weights on the chosen backend (speed
// does not depend on the weights). Returns 0, or 1 when the backend does not open (printed).
static int bench_model(const char *config, const char *device, int threads, Backend **be, UNet **m) {
  UNetConfig cfg;
  unet_preset(config, 1, &cfg);
  if (!(*be = cli_backend(device, threads))) return 1;
  Err e;
  *m = unet_create(&cfg, NULL, *be, &e);
  unet_init_params(*m, 1);
  return 0;
}

// A model's training on synthetic data (speed does not depend on the pixels), warmed up by 3
// steps (arena sizing, cuDNN's algorithm search).
typedef struct {
  Trainer tr;
  Dataset ds;
} TrainRun;

static void train_run_open(TrainRun *r, UNet *m, int batch, int graphs) {
  const int S = m->cfg.img;
  r->ds = (Dataset){.n = 4 * batch, .c = 1, .h = S, .w = S};
  r->ds.x = xmalloc(sizeof(float) * r->ds.n * S * S);
  Rng g;
  rng_seed(&g, 7);
  for (long i = 0; i < (long)r->ds.n * S * S; i++) r->ds.x[i] = 2 * rng_uniform(&g) - 1;
  OptimCfg oc = optim_defaults();
  trainer_init(&r->tr, m, &r->ds, &oc, SCHED_LINEAR, 1000, batch, 0, 1000, 1);
  r->tr.use_graph = graphs;
  for (int i = 0; i < 3; i++) trainer_step(&r->tr, NULL, NULL);
  m->be->sync(m->be);
}

static double train_run_ms(TrainRun *r, int steps) {  // ms per step over `steps` timed steps
  Backend *be = r->tr.model->be;
  double t0 = now_sec();
  for (int i = 0; i < steps; i++) trainer_step(&r->tr, NULL, NULL);
  be->sync(be);
  return (now_sec() - t0) * 1e3 / steps;
}

static void train_run_close(TrainRun *r) {
  trainer_free(&r->tr);
  free(r->ds.x);
}

// Milliseconds per training step of m, `steps` timed after the warm-up. With prof (m's backend,
// made by backend_profile_wrap) the profile covers the timed steps only.
static double train_ms(UNet *m, int batch, int steps, Backend *prof, int graphs) {
  TrainRun r;
  train_run_open(&r, m, batch, graphs);
  if (prof) backend_profile_reset(prof);
  const double ms = train_run_ms(&r, steps);
  train_run_close(&r);
  return ms;
}

// The CPU's training step against PyTorch's in `rounds` turns each of `steps` steps, both
// warmed up first: ours, then theirs, and again. Each side's best round is its figure (what the
// machine gives when it is not slowed by a neighbour); every round is listed. *tms is -1 when
// PyTorch cannot run (*ms is then ours alone).
static void train_turns(UNet *m, const char *config, int batch, int threads, int steps, int rounds, double *ms,
                       double *tms) {
  TrainRun r;
  train_run_open(&r, m, batch, 1);
  TorchProc tp;
  int ok = torch_open(&tp, "train", config, batch, threads, steps, "cpu", unet_nparams(m)) == 0;
  double ours[64], theirs[64];
  int n = 0;
  *ms = *tms = 1e30;
  for (; n < rounds && n < 64; n++) {
    ours[n] = train_run_ms(&r, steps);
    if (ours[n] < *ms) *ms = ours[n];
    if (!ok) continue;
    if ((theirs[n] = torch_turn(&tp)) <= 0) ok = 0;
    else if (theirs[n] < *tms) *tms = theirs[n];
  }
  train_run_close(&r);
  torch_close(&tp);  // also when a turn failed: the process is ended and waited for
  if (!ok) {
    *tms = -1;
    return;
  }
  printf("  rounds, ms/step stepscope | pytorch, taking turns:");
  for (int i = 0; i < n; i++) printf(" %.0f | %.0f%s", ours[i], theirs[i], i + 1 < n ? "," : "\n");
  double lo = 1e30, hi = 0;
  for (int i = 0; i < n; i++) {
    const double q = theirs[i] / ours[i];
    lo = q < lo ? q : lo, hi = q > hi ? q : hi;
  }
  printf("  each round's ratio %.2f-%.2fx; the best against the best below\n", lo, hi);
}

// train_ms of a fresh model of cfg on a new backend of kind `kind` made with o; with profile, the
// backend is wrapped by the profiler and its report printed. -1 when the backend cannot be made.
static double train_ms_fresh(const char *kind, const UNetConfig *cfg, int threads, const BackendOpts *o, int batch,
                             int steps, int profile) {
  Err e;
  Backend *be = backend_create_opts(kind, threads, o, &e);
  if (!be) { fprintf(stderr, "stepscope: %s\n", e.msg); return -1; }
  if (profile) be = backend_profile_wrap(be);
  UNet *m = unet_create(cfg, NULL, be, &e);
  unet_init_params(m, 1);
  double ms = train_ms(m, batch, steps, profile ? be : NULL, 1);
  if (profile) {
    printf("\n");
    backend_profile_report(be, stdout, ms * steps, steps);
  }
  unet_free(m);
  be->destroy(be);
  return ms;
}

// One row of the training table: who, time per step, images/s, GFLOP/s, and what the row is.
static void train_row(const char *who, double ms, int batch, double flops, const char *what) {
  printf("  %-10s %9.1f ms/step %9.1f img/s %8.1f GFLOP/s%s%s\n", who, ms, batch * 1e3 / ms, flops / ms / 1e6,
         what[0] ? "  " : "", what);
}

// The label of a CUDA row: the cuDNN policy, and whether the graph API's engines were searched.
static const char *cuda_row_label(const BackendOpts *o) {
  static const char *const label[2][2] = {
      {"deterministic cuDNN", "deterministic cuDNN, engines searched (--engine-search)"},
      {"fastest cuDNN (--nondeterministic)", "fastest cuDNN, engines searched (--engine-search)"}};
  return label[o->nondeterministic != 0][o->engine_search != 0];
}

// On CUDA the step is timed for each cuDNN policy (deterministic, or the fastest algorithms,
// which PyTorch's cudnn.benchmark picks) with and without the search of cuDNN's graph-API
// engines, each on a backend of its own, so that one run shows every trade-off; the first row
// is what the flags ask for, and is also timed with every op launched instead of a recorded
// graph replayed. --profile adds a last, profiled run of the flags' choice (its syncs slow it
// down, and it runs without graphs: the rows above stay unprofiled).
static int bench_train(const char *config, int batch, int threads, int steps, const char *device, int torch,
                       int profile, int rounds) {
  Backend *be;
  UNet *m;
  int rc = bench_model(config, device, threads, &be, &m);
  if (rc) return rc;
  const UNetConfig cfg = m->cfg;
  const double flops = 3.0 * 2.0 * unet_macs(m) * batch;  // forward + ~2x forward for the backward
  const long nparams = unet_nparams(m);
  const char *kind = be->name;  // a string literal of the backend's: outlives it
  const int cuda = !strcmp(kind, "cuda");
  const BackendOpts o = cli_backend_opts();
  printf("stepscope train step  config %s  batch %d  threads %d  device %s\n", config, batch, threads, kind);
  fflush(stdout);
  // On the CPU with PyTorch beside: rounds taking turns (train_turns); else one timing each.
  double ms, tms = -1;
  const int turns = !cuda && torch && rounds > 1;
  if (turns) train_turns(m, config, batch, threads, steps, rounds, &ms, &tms);
  else ms = train_ms(m, batch, steps, NULL, 1);
  // Where steps replay a recorded graph (CUDA), the same steps issued op by op, same backend.
  double ms_direct = be->capture_begin ? train_ms(m, batch, steps, NULL, 0) : -1;
  bench_note_blas_env(be);
  unet_free(m);
  be->destroy(be);  // one model on the device at a time
  train_row("stepscope", ms, batch, flops, cuda ? cuda_row_label(&o) : turns ? "best round" : "");
  if (ms_direct > 0) train_row("stepscope", ms_direct, batch, flops, "the same without graphs (every op launched)");
  fflush(stdout);
  // ours[nondeterministic][engine_search], ms per step; -1 not measured.
  double ours[2][2] = {{-1, -1}, {-1, -1}};
  ours[o.nondeterministic != 0][o.engine_search != 0] = ms;
  for (int nd = 0; cuda && nd < 2; nd++)
    for (int es = 0; es < 2; es++) {
      if (ours[nd][es] > 0) continue;
      const BackendOpts v = {o.tf32, nd, es};
      if ((ours[nd][es] = train_ms_fresh(kind, &cfg, threads, &v, batch, steps, 0)) > 0)
        train_row("stepscope", ours[nd][es], batch, flops, cuda_row_label(&v));
      fflush(stdout);
    }
  // PyTorch as it runs by default (cudnn.benchmark may pick nondeterministic algorithms) and, on
  // CUDA, restricted to deterministic ones: each of our policies against PyTorch's same policy.
  if (torch && !turns) tms = torch_ms("train", config, batch, threads, steps, cuda ? "cuda" : "cpu", "", nparams);
  double tms_det = tms > 0 && cuda ? torch_ms("train", config, batch, threads, steps, "cuda", "--deterministic", nparams) : -1;
  if (tms > 0) {
    train_row("pytorch", tms, batch, flops,
              cuda ? "cudnn.benchmark, any algorithm (PyTorch's default)" : turns ? "best round" : "");
    if (tms_det > 0) train_row("pytorch", tms_det, batch, flops, "cudnn.benchmark, deterministic algorithms");
    if (!cuda) {
      printf("  stepscope is %.2fx the speed of PyTorch %s\n", tms / ms, torch_version);
    } else {
      const double theirs[2] = {tms_det, tms};
      const char *name[2] = {"deterministic", "fastest"};
      printf("  stepscope's speed over PyTorch %s's, same policy:", torch_version);
      for (int nd = 0; nd < 2; nd++) {
        if (theirs[nd] <= 0 || ours[nd][0] <= 0) continue;
        printf("  %s %.2fx", name[nd], theirs[nd] / ours[nd][0]);
        if (ours[nd][1] > 0) printf(" (%.2fx with engines searched)", theirs[nd] / ours[nd][1]);
      }
      printf("\n");
    }
  } else if (torch) {
    printf("  pytorch: not measured (no python3 with torch, no tests/bench/torch_unet.py, or it failed: see above)\n");
  }
  fflush(stdout);
  if (profile && train_ms_fresh(kind, &cfg, threads, &o, batch, steps, 1) < 0) return 1;
  return 0;
}

// ---- bench sample ----

typedef struct { UNet *m; int stop_after; } BenchModel;

static int bench_begin(void *user, int t, const float *x, int B, Err *e) {
  unet_eps_begin(((BenchModel *)user)->m, t, x, B);
  return 0;
}

static int bench_finish(void *user, float *eps, Err *e) {
  unet_eps_finish(((BenchModel *)user)->m, eps);
  return 0;
}

static const EpsSplit bench_split = {bench_begin, bench_finish};

static int bench_stop(void *user, int step, int nsteps, int t, const float *x, const float *x0, int B) {
  return step + 1 >= ((BenchModel *)user)->stop_after;
}

// Seconds per sampler step (model call plus the update) over `steps` real steps of cfg,
// after two warm-up steps; the run is cancelled there and the rest extrapolated. Two, because
// the first forward at a new batch size outgrows the activation arena and the second replaces
// its chunks by one (arena_reset): timing that step would charge a fresh allocation and its
// page faults to the sampler.
static double sec_per_step(BenchModel *bm, const Schedule *s, SamplerCfg cfg, int B, int steps) {
  const int C = bm->m->cfg.in_ch, S = bm->m->cfg.img;
  float *x = xmalloc(sizeof(float) * B * C * S * S);
  Err e;
  bm->stop_after = 2;
  sample_run_split(s, &cfg, B, C, S, S, &bench_split, bm, bench_stop, bm, x, &e);
  bm->m->be->sync(bm->m->be);
  double t0 = now_sec();
  bm->stop_after = steps;
  sample_run_split(s, &cfg, B, C, S, S, &bench_split, bm, bench_stop, bm, x, &e);
  bm->m->be->sync(bm->m->be);
  free(x);
  return (now_sec() - t0) / steps;
}

static int bench_sample(const char *config, int batch, int threads, int steps, const char *device, int torch) {
  Backend *be;
  UNet *m;
  int rc = bench_model(config, device, threads, &be, &m);
  if (rc) return rc;
  Schedule sched;
  schedule_init(&sched, SCHED_LINEAR, 1000);
  const int batches[2] = {batch > 0 ? batch : 16, 64}, nb = batch > 0 ? 1 : 2;
  SamplerCfg ddim = sampler_cfg_default(), ddpm = ddim;  // DDIM-50, trailing, eta 0
  ddpm.kind = SAMPLER_DDPM;
  int measured = 0;
  const char *tdev = strcmp(be->name, "cuda") ? "cpu" : "cuda";

  bench_note_blas_env(be);
  printf("stepscope sample  config %s (%.1f M MACs/image, random weights)  threads %d  device %s\n", config,
         unet_macs(m) / 1e6, threads, be->name);
  printf("  %d timed steps per row after 2 warm-up, extrapolated per model call to the full run;\n"
         "  DDPM-1000 is timed on %d of its 1000 steps. PyTorch: the model forward alone, same run.\n",
         steps, steps);
  const int graphs = be->capture_begin != NULL;
  if (graphs)
    printf("  Forwards replay a graph recorded per batch size; 'ddpm direct' issues every op instead.\n");
  printf("  %-11s %5s %10s %14s %14s %7s\n", "sampler", "batch", "ms/step", "stepscope/s", "pytorch/s", "ratio");
  for (int i = 0; i < nb; i++) {
    const int B = batches[i];
    BenchModel bm = {m, 0};
    double s_ddim = sec_per_step(&bm, &sched, ddim, B, steps);
    double s_ddpm = sec_per_step(&bm, &sched, ddpm, B, steps);
    // Where forwards are replayed from a recording (CUDA graphs), the same without, in the same run.
    double s_direct = 0;
    if (graphs) {
      m->use_graphs = 0;
      s_direct = sec_per_step(&bm, &sched, ddpm, B, steps);
      m->use_graphs = 1;
    }
    double tms = torch ? torch_ms("sample", config, B, threads, steps, tdev, "", unet_nparams(m)) : -1;
    measured |= tms > 0;
    const struct { const char *name; int nsteps; double sec; } rows[3] = {
      {"ddim-50", 50, s_ddim}, {"ddpm-1000", 1000, s_ddpm}, {"ddpm direct", 1000, s_direct}};
    for (int r = 0; r < (graphs ? 3 : 2); r++) {
      double ips = B / (rows[r].sec * rows[r].nsteps);  // images per second
      printf("  %-11s %5d %10.2f %14.3f", rows[r].name, B, rows[r].sec * 1e3, ips);
      if (tms > 0) {
        double tips = B * 1e3 / (tms * rows[r].nsteps);
        printf(" %14.3f %6.2fx\n", tips, ips / tips);
      } else printf(" %14s %7s\n", "-", "-");
    }
    fflush(stdout);
  }
  if (torch && !measured)
    printf("  pytorch: not measured (no python3 with torch, no tests/bench/torch_unet.py, or it failed: see above)\n");
  else if (torch) printf("  ratio > 1: stepscope draws more images per second than PyTorch %s\n", torch_version);
  schedule_free(&sched);
  unet_free(m);
  be->destroy(be);
  return 0;
}

static const char about[] =
    "train: times a training step of a preset (AdamW, EMA and all); sample: images per second\n"
    "of DDIM-50 and DDPM-1000. Each with the same architecture in PyTorch\n"
    "(tests/bench/torch_unet.py) in the same run.";

int cmd_bench(int argc, char **argv) {
  const char *what = NULL, *config = "default", *device = "auto";
  const char *plan = NULL;
  int batch = 0, threads = 2, steps = 0, no_torch = 0, profile = 0, runs = 2, run_batch = 64, rounds = 3;
  const Opt opts[] = {
    ARG_STR("--config", &config, "NAME", "model preset", .choices = unet_preset_names()),
    ARG_INT("--batch", &batch, "N", "batch size", .def = "train 64; sample 16 and 64", .min = 1, .max = 4096),
    ARG_INT("--threads", &threads, "N", "CPU threads, for us and PyTorch", .min = 0, .max = 4096),
    ARG_INT("--steps", &steps, "N", "timed steps", .def = "train 10 after 3 warm-up; sample 4 after 2; sample --plan 15 rounds after 2",
     .min = 1, .max = 1000000),
    OPT_DEVICE(&device),
    OPT_CUDA_CHOICES,
    ARG_FLAG("--no-torch", &no_torch, "skip the PyTorch reference"),
    ARG_INT("--rounds", &rounds, "N",
            "train on the CPU: rounds of --steps steps, ours and PyTorch's taking turns, the best of each compared",
            .def = "3", .min = 1, .max = 64),
    ARG_FLAG("--profile", &profile,
             "train: as many steps again with every op timed, then a table of where the time goes; "
             "sample --plan: every model's ops timed, against the base's"),
    ARG_STR("--plan", &plan, "PLAN",
            "sample: each group model of PLAN against its base (ms per call at batch 1, 16, 64 or --batch; "
            "speedup against the ideal), then whole DDIM-50 runs of the plan and the base"),
    ARG_INT("--runs", &runs, "N", "sample --plan: whole DDIM-50 runs of each (0: none)", .min = 0, .max = 10000),
    ARG_INT("--run-batch", &run_batch, "N", "sample --plan: batch of those runs", .min = 1, .max = 4096),
  };
  const ArgSpec spec = {"bench", "train|sample [options]", about, ARGS_OPTS(opts),
                        .npos_min = 1, .npos_max = 1, .pos = &what, .pos_name = "train|sample"};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  if (!strcmp(what, "train"))
    return bench_train(config, batch ? batch : 64, threads, steps ? steps : 10, device, !no_torch, profile, rounds);
  if (!strcmp(what, "sample") && plan)
    return bench_plan(plan, batch, threads, steps ? steps : 15, device, run_batch > 0 ? run_batch : 64, runs, profile);
  if (!strcmp(what, "sample")) return bench_sample(config, batch, threads, steps ? steps : 4, device, !no_torch);
  return usage_error(what, "unknown benchmark (train, sample)");
}
