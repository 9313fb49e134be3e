// test_cli_bench.c — `stepscope bench train` as a user meets it: the profiled step and the
// turns taken with PyTorch (a stand-in interpreter). bench sample --plan is checked in
// test_cli.c, on the plan its end-to-end test makes.
#include "test.h"
#include "cli_run.h"
#include "kernels/backend_ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef CliResult Result;
#define BIN cli_bin("stepscope")
#define run(r, ...) cli_run(r, BIN, __VA_ARGS__)
static int have_binary(void) { return cli_have("stepscope"); }

// The profiled training benchmark on the CPU: the plain row, then the op table (every op a
// step of this model runs), the sum against the measured step, and the conv shapes. No cuDNN
// algorithm table on the CPU. --nondeterministic is accepted (it only changes CUDA).
TEST(cli_bench_train_profile) {
  if (!have_binary()) return;
  Result r;
  run(&r, "bench train --device cpu --config tiny --batch 2 --steps 1 --no-torch --profile --threads 1 "
          "--nondeterministic");
  ASSERTF(r.status == 0, "status %d, stderr: %s", r.status, r.err);
  const char *want[] = {"stepscope train step", "ms/step", "profile: 1 step on cpu", "calls/step", "conv2d_fwd",
                        "conv2d_bwd_data", "conv2d_bwd_filter", "gemm", "groupnorm_bwd", "mse_loss", "adamw", "ema",
                        "sumsq", "sum of ops", "measured step", "convolutions by shape", "x32->8,k3,s1"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ASSERTF(strstr(r.out, want[i]), "no '%s' in:\n%s", want[i], r.out);
  // The op table: one row per op of the vtable (backend_ops.h) that the step ran, most of them.
  int rows = 0;
  const char *line = strstr(r.out, "calls/step");
  while (line && (line = strchr(line, '\n')) && strncmp(++line, "  sum of ops", 12)) {
    char name[32] = "";
    sscanf(line, "%31s", name);
    int known = 0;
#define IS_OP(op, kind) known |= !strcmp(name, #op);
    BACKEND_OPS(IS_OP)
#undef IS_OP
    ASSERTF(known, "'%s' in the op table is not an op of the vtable:\n%s", name, r.out);
    rows++;
  }
  ASSERTF(rows >= 20, "%d rows in the op table:\n%s", rows, r.out);
  ASSERTF(!strstr(r.out, "cuDNN"), "CUDA-only lines on the CPU:\n%s", r.out);
  ASSERT(strstr(r.out, "profile:") > strstr(r.out, "stepscope train step"));  // after the plain timing
  run(&r, "bench --help");
  ASSERT(strstr(r.out, "--profile") && strstr(r.out, "--nondeterministic"));
}

// bench train beside PyTorch, with a stand-in for the interpreter ($STEPSCOPE_PYTHON, a shell
// script that speaks tests/bench/torch_unet.py's lines; its turns take 1000, 2000, ... ms per
// step): a model of another size is refused by name; with --rounds 2 the two take turns, each
// round is listed and the best of each compared; --rounds 1 runs the script once, as before.
TEST(cli_bench_train_takes_turns_with_pytorch) {
  if (!have_binary()) return;
  char py[512];
  snprintf(py, sizeof py, "%s/fake_python", test_tmpdir());
  FILE *f = fopen(py, "w");
  ASSERT(f);
  fputs("#!/bin/sh\n"
        "[ \"$1\" = -c ] && exit 0\n"
        "echo \"params $FAKE_PARAMS\"; echo 'torch_version 9.9-fake'\n"
        "case \"$*\" in\n"
        "*--turns*) echo ready; n=0; while read -r line; do n=$((n + 1)); echo \"ms_per_step ${n}000\"; done ;;\n"
        "*) echo 'ms_per_step 1000' ;;\n"
        "esac\n", f);
  fclose(f);
  ASSERT(chmod(py, 0755) == 0);
  setenv("STEPSCOPE_PYTHON", py, 1);
  setenv("FAKE_PARAMS", "1", 1);
  const char *args = "bench train --device cpu --config tiny --batch 2 --steps 1 --threads 1";
  Result r;
  run(&r, "%s --rounds 2", args);
  ASSERTF(r.status == 0, "status %d, stderr: %s", r.status, r.err);
  long ours = 0;
  const char *why = strstr(r.err, "the PyTorch model has 1 parameters, ours ");
  ASSERTF(why && sscanf(why, "the PyTorch model has 1 parameters, ours %ld", &ours) == 1 && ours > 1000,
          "no refusal naming both sizes:\n%s", r.err);
  ASSERTF(strstr(r.out, "pytorch: not measured") && !strstr(r.out, "speed of PyTorch"), "%s", r.out);
  char n[32];
  snprintf(n, sizeof n, "%ld", ours);
  setenv("FAKE_PARAMS", n, 1);
  run(&r, "%s --rounds 2", args);
  ASSERTF(r.status == 0, "status %d, stderr: %s", r.status, r.err);
  const char *rounds = strstr(r.out, "rounds, ms/step stepscope | pytorch, taking turns:");
  ASSERTF(rounds && strstr(rounds, " | 1000,") && strstr(rounds, " | 2000\n"), "%s", r.out);
  double ms = 0, theirs = 0, ratio = 0;
  const char *row = strstr(r.out, "  stepscope "), *trow = strstr(r.out, "  pytorch "), *sp = strstr(r.out, "is ");
  ASSERTF(row && trow && sp && strstr(row, "best round") && strstr(trow, "best round"), "%s", r.out);
  ASSERT(sscanf(row, " stepscope %lf", &ms) == 1 && sscanf(trow, " pytorch %lf", &theirs) == 1);
  ASSERTF(theirs == 1000.0, "PyTorch's best round is its first (1000 ms), not %g:\n%s", theirs, r.out);
  sp = strstr(r.out, "stepscope is ");
  ASSERTF(sp && sscanf(sp, "stepscope is %lfx the speed of PyTorch 9.9-fake", &ratio) == 1, "%s", r.out);
  // ms is printed to 0.1 ms: at a few ms per step that alone moves 1000 / ms by a few percent.
  const double slack = 1000.0 / (ms - 0.05) - 1000.0 / (ms + 0.05);
  ASSERTF(fabs(ratio - 1000.0 / ms) < slack + 0.01 * ratio + 0.01, "ratio %g for %g ms against 1000", ratio, ms);
  run(&r, "%s --rounds 1", args);
  ASSERTF(r.status == 0 && !strstr(r.out, "taking turns") && strstr(r.out, "speed of PyTorch 9.9-fake"), "%s",
          r.out);
  unsetenv("STEPSCOPE_PYTHON");
  unsetenv("FAKE_PARAMS");
}

