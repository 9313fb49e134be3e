// cli_run.h — the stepscope binary run from a test as a user runs it: through the shell, with
// stdout and stderr captured to files and read back (tests of the command line share it).
#pragma once
#include <stddef.h>

typedef struct {
  int status;         // exit status, or 128 + signal
  char out[1 << 18];  // the first 256 KiB of stdout (half-block images take room)
  char err[1 << 14];  // the first 16 KiB of stderr
} CliResult;

// The program NAME ("stepscope", "stepscope-emu") built beside this test runner.
const char *cli_bin(const char *name);
// 1 when that program is built; else marks the test skipped and returns 0.
int cli_have(const char *name);
// Runs `bin ARGS` (ARGS a printf format) with NO_COLOR unset, stdin empty, and the feature
// cache of `eval --fid` under the run's scratch folder, not the user's home; fills r.
void cli_run(CliResult *r, const char *bin, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// The first cap - 1 bytes of a file into buf, NUL-terminated (empty when it cannot be read).
void cli_slurp(const char *path, char *buf, size_t cap);
