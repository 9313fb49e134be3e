// commands.h — the subcommands of the stepscope binary, one file each (tui/cmd_*.c).
// Each returns the process exit status: 0 success, 1 failure, 2 bad usage.
#pragma once
#include "engine/sat/plan.h"
#include "engine/unet.h"
#include "kernels/backend.h"
#include "tui/cli/args.h"

int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tui(int argc, char **argv);
int cmd_snr(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_importance(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_plot(int argc, char **argv);

// --tf32, --nondeterministic and --engine-search (every command that computes on a GPU takes
// them: OPT_CUDA_CHOICES): allow TF32 math in cuBLAS and cuDNN; let cuDNN take its fastest
// algorithms, deterministic or not; time cuDNN's graph-API engines beside its legacy algorithms.
extern int cli_tf32, cli_nondeterministic, cli_engine_search;
#define OPT_CUDA_CHOICES                                                                                     \
  ARG_FLAG("--tf32", &cli_tf32, "CUDA: allow TF32 tensor-core math (default: exact fp32)"),                  \
  ARG_FLAG("--nondeterministic", &cli_nondeterministic,                                                      \
           "CUDA: let cuDNN use its fastest algorithms even where results vary run to run (default: deterministic)"), \
  ARG_FLAG("--engine-search", &cli_engine_search,                                                            \
           "CUDA: also time cuDNN's graph-API engines per convolution and run the fastest (slower first steps)")
// What every command that computes takes (man/stepscope.1, COMMANDS): --device, --threads and
// the CUDA choices.
#define OPT_COMPUTE(device, threads) OPT_DEVICE(device), OPT_THREADS(threads), OPT_CUDA_CHOICES
BackendOpts cli_backend_opts(void);  // what those flags ask for
// Opens the backend named by --device (auto|cpu|cuda) with those options; prints the error and
// returns NULL.
Backend *cli_backend(const char *device, int threads);
// One model call as a sampler makes it (unet_eps_host: B images x on the host, every one at t,
// eps out), in ms: what `eval` and `bench sample --plan` time.
double cli_call_ms(UNet *m, int t, const float *x, int B, float *eps);

// --groups / --bounds / --split as `snr` and `plan` take them (cmd_snr.c): sets p's groups,
// or prints the usage error and returns 2. groups <= 0 means one group unless bounds given.
int cli_plan_groups(Plan *p, const Schedule *s, int groups, const char *bounds, const char *split);
#define OPT_SPLIT(d)                                                                                  \
  ARG_STR("--split", d, "KIND", "t: equal t ranges, snr: equal SNR_dB ranges; by hand: --bounds", .def = "t", \
          .choices = "t, snr")
// "1,0.9,0.8" into out (at most max numbers); returns the count, or -1 when malformed.
int cli_number_list(const char *s, double *out, int max);
