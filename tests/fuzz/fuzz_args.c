// fuzz_args.c — the command line's option parser (tui/cli/args.c): the input is argv, split
// at NUL bytes, against a table with every option type. Numbers that parse must be in range:
// an int is never wrapped and stays in its declared range, a u64 never comes from a negative
// number, a float is finite and in its range, a string is one of its choices.
#include "tests/fuzz/fuzz.h"
#include "tui/cli/args.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

int fuzz_one(const uint8_t *data, size_t n) {
  if (n > 4096) return 0;
  char *buf = malloc(n + 1), *argv[64];
  memcpy(buf, data, n);
  buf[n] = 0;
  int argc = 0;
  for (size_t i = 0; i <= n && argc < 64;) {
    argv[argc++] = buf + i;
    i += strlen(buf + i) + 1;
  }
  int steps = 7, count = 1, flag = 0;
  uint64_t seed = 0;
  float lr = 0, eta = 0;
  const char *out = NULL, *mode = "a", *pos[2];
  OptList y = {0};
  const Opt opts[] = {
    ARG_INT("--steps", &steps, "N", "an int"),
    ARG_INT("--n", &count, "N", "an int in a range", .min = 1, .max = 4096),
    ARG_U64("--seed", &seed, "N", "a u64"),
    ARG_FLOAT("--lr", &lr, "X", "a float"),
    ARG_FLOAT("--eta", &eta, "X", "a float in a range", .min = 0, .max = 1),
    ARG_STR("--out", &out, "FILE", "a string"),
    ARG_STR("--mode", &mode, "M", "one of three words", .choices = "a, bb, ccc"),
    ARG_FLAG("--quiet", &flag, "a flag"),
    ARG_LIST("--y", &y, "NAME", "a list"),
  };
  const ArgSpec s = {.cmd = "fuzz", .usage = "[options]", .about = "fuzzing", ARGS_OPTS(opts), .npos_max = 2, .pos = pos};
  // the parser prints its complaints and --help: keep them out of the fuzzer's output
  static int null_fd = -1;
  if (null_fd < 0) null_fd = open("/dev/null", O_WRONLY);
  fflush(stdout);
  fflush(stderr);
  int out1 = dup(1), out2 = dup(2);
  dup2(null_fd, 1);
  dup2(null_fd, 2);
  int rc = args_parse(&s, argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(out1, 1);
  dup2(out2, 2);
  close(out1);
  close(out2);
  if (rc == ARGS_OK && (!isfinite(lr) || count < 1 || count > 4096 || !(eta >= 0 && eta <= 1))) abort();
  if (rc == ARGS_OK && strcmp(mode, "a") && strcmp(mode, "bb") && strcmp(mode, "ccc")) abort();
  if (rc != ARGS_OK && rc != 0 && rc != 2) abort();
  free(buf);
  return 0;
}
