// cmd_bench.c — `stepscope bench train`: speed of a training step, with PyTorch running the
// same architecture in the same run (when python3 and torch are installed) for a fair ratio.
#include "../engine/train.h"
#include "args.h"
#include "commands.h"
#include <string.h>
#include <unistd.h>

// Runs tests/bench/torch_unet.py and returns its ms per step, or -1 when unavailable.
static double torch_ms(const char *mode, const char *config, int batch, int threads, int steps, const char *device) {
  const char *script = "tests/bench/torch_unet.py";
  if (access(script, R_OK) != 0) return -1;
  // The first interpreter that has torch: $STEPSCOPE_PYTHON, python3, Debian's /usr/bin/python3.
  char cmd[768];
  snprintf(cmd, sizeof cmd,
           "for py in $STEPSCOPE_PYTHON python3 /usr/bin/python3; do $py -c 'import torch' 2>/dev/null && "
           "exec $py %s --mode %s --config %s --batch %d --threads %d --steps %d --device %s 2>&1; done",
           script, mode, config, batch, threads, steps, device);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[512];
  double ms = -1;
  while (fgets(line, sizeof line, p)) {
    if (sscanf(line, "ms_per_step %lf", &ms) == 1) continue;
    if (strstr(line, "Error") || strstr(line, "error")) fprintf(stderr, "  torch: %s", line);
  }
  pclose(p);
  return ms;
}

static int bench_train(const char *config, int batch, int threads, int steps, const char *device, int torch) {
  UNetConfig cfg;
  if (unet_preset(config, 1, &cfg)) { fprintf(stderr, "stepscope: bench: unknown --config '%s'\n", config); return 2; }
  Backend *be = cli_backend(device, threads);
  if (!be) return 1;
  Err e;
  UNet *m = unet_create(&cfg, NULL, be, &e);
  unet_init_params(m, 1);
  // Synthetic data: speed does not depend on the pixels.
  Dataset ds = {.n = 4 * batch, .c = 1, .h = cfg.img, .w = cfg.img};
  ds.x = xmalloc(sizeof(float) * ds.n * cfg.img * cfg.img);
  Rng r;
  rng_seed(&r, 7);
  for (long i = 0; i < (long)ds.n * cfg.img * cfg.img; i++) ds.x[i] = 2 * rng_uniform(&r) - 1;
  OptimCfg oc = optim_defaults();
  Trainer tr;
  trainer_init(&tr, m, &ds, &oc, SCHED_LINEAR, 1000, batch, 0, 1000, 1);
  for (int i = 0; i < 3; i++) trainer_step(&tr, NULL, NULL);  // warm-up: arena sizing, caches
  be->sync(be);
  double t0 = now_sec();
  for (int i = 0; i < steps; i++) trainer_step(&tr, NULL, NULL);
  be->sync(be);
  double ms = (now_sec() - t0) * 1e3 / steps;
  double flops = 3.0 * 2.0 * unet_macs(m) * batch;  // forward + ~2x forward for the backward
  printf("stepscope train step  config %s  batch %d  threads %d  device %s\n", config, batch, threads, be->name);
  printf("  %-10s %9.1f ms/step %9.1f img/s %8.1f GFLOP/s\n", "stepscope", ms, batch * 1e3 / ms, flops / ms / 1e6);
  double tms = torch ? torch_ms("train", config, batch, threads, steps, strcmp(be->name, "cuda") ? "cpu" : "cuda") : -1;
  if (tms > 0) {
    printf("  %-10s %9.1f ms/step %9.1f img/s %8.1f GFLOP/s\n", "pytorch", tms, batch * 1e3 / tms, flops / tms / 1e6);
    printf("  stepscope is %.2fx the speed of PyTorch\n", tms / ms);
  } else if (torch) {
    printf("  pytorch: not measured (python3 with torch not found, or tests/bench/torch_unet.py missing)\n");
  }
  trainer_free(&tr);
  free(ds.x);
  unet_free(m);
  be->destroy(be);
  return 0;
}

int cmd_bench(int argc, char **argv) {
  const char *what = NULL, *config = "default", *device = "auto";
  int batch = 64, threads = 2, steps = 10, no_torch = 0;
  Opt opts[] = {
    {"--config", OPT_STR, &config, "NAME", "model preset (default: default)"},
    {"--batch", OPT_INT, &batch, "N", "batch size (default 64)"},
    {"--threads", OPT_INT, &threads, "N", "CPU threads, for us and PyTorch (default 2)"},
    {"--steps", OPT_INT, &steps, "N", "timed steps after 3 warm-up steps (default 10)"},
    {"--device", OPT_STR, &device, "DEV", "auto (default) | cpu | cuda"},
    {"--no-torch", OPT_FLAG, &no_torch, NULL, "skip the PyTorch reference"},
  };
  ArgSpec spec = {"bench", "train [options]",
                  "Times a training step of a preset (AdamW, EMA and all) and the same architecture in\n"
                  "PyTorch (tests/bench/torch_unet.py) in the same run.",
                  opts, sizeof opts / sizeof opts[0], 1, 1, &what};
  int rc = args_parse(&spec, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;
  if (batch < 1 || steps < 1) { fprintf(stderr, "stepscope: bench: --batch and --steps must be positive\n"); return 2; }
  if (!strcmp(what, "train")) return bench_train(config, batch, threads, steps, device, !no_torch);
  fprintf(stderr, "stepscope: bench: unknown benchmark '%s' (train)\n", what);
  return 2;
}
