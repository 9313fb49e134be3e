#include "cli_run.h"
#include "test.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// Each name's path is worked out once and stays put: callers keep the pointer.
const char *cli_bin(const char *name) {
  static struct { char name[64], path[4200]; } known[4];
  int i = 0;
  while (i < 4 && known[i].name[0] && strcmp(known[i].name, name)) i++;
  if (i == 4) abort();  // more programs than a test run builds
  if (!known[i].name[0]) {
    char self[4096] = {0};
    snprintf(known[i].name, sizeof known[i].name, "%s", name);
    if (readlink("/proc/self/exe", self, sizeof self - 1) > 0 && strrchr(self, '/')) {
      *strrchr(self, '/') = 0;
      snprintf(known[i].path, sizeof known[i].path, "%s/%s", self, name);
    } else {
      snprintf(known[i].path, sizeof known[i].path, "./build/%s", name);
    }
  }
  return known[i].path;
}

int cli_have(const char *name) {
  if (access(cli_bin(name), X_OK) == 0) return 1;
  char why[200];
  snprintf(why, sizeof why, "%s is not built beside the test runner (make test builds it)", name);
  test_skip(why);
  return 0;
}

void cli_slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
  buf[n] = 0;
  if (f) fclose(f);
}

void cli_run(CliResult *r, const char *bin, const char *fmt, ...) {
  char args[2000], cmd[9000], out[300], err[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(out, sizeof out, "%s/cli.out", test_tmpdir());
  snprintf(err, sizeof err, "%s/cli.err", test_tmpdir());
  snprintf(cmd, sizeof cmd, "env -u NO_COLOR XDG_CACHE_HOME=%s/xdg-cache %s %s >%s 2>%s </dev/null", test_tmpdir(), bin,
           args, out, err);
  int st = system(cmd);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  cli_slurp(out, r->out, sizeof r->out);
  cli_slurp(err, r->err, sizeof r->err);
}
