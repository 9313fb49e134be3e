// fuzz_args.c — the command line's option parser (tui/args.c): the input is argv, split at
// NUL bytes, against a table with every option type. Numbers that parse must be in range:
// an int is never wrapped, a u64 never comes from a negative number, a float is finite.
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
  int steps = 7, flag = 0;
  uint64_t seed = 0;
  float lr = 0;
  const char *out = NULL, *pos[2];
  OptList y = {0};
  Opt opts[] = {
    {"--steps", OPT_INT, &steps, "N", "an int"},
    {"--seed", OPT_U64, &seed, "N", "a u64"},
    {"--lr", OPT_FLOAT, &lr, "X", "a float"},
    {"--out", OPT_STR, &out, "FILE", "a string"},
    {"--quiet", OPT_FLAG, &flag, NULL, "a flag"},
    {"--y", OPT_LIST, &y, "NAME", "a list"},
  };
  ArgSpec s = {"fuzz", "[options]", "fuzzing", opts, 6, 0, 2, pos};
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
  if (rc == 0 && !isfinite(lr)) abort();
  if (rc < 0 || rc > 2) abort();
  free(buf);
  return 0;
}
