// util.c — the scratch folder of the fuzz targets (fuzz.h).
#include "tests/fuzz/fuzz.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void cleanup(void) {
  if (!dir[0]) return;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) {}
}

const char *fuzz_dir(void) {
  if (!dir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/stepscope-fuzz.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) { perror("fuzz: mkdtemp"); exit(2); }
    atexit(cleanup);
  }
  return dir;
}

const char *fuzz_file(const char *name, const void *data, size_t n) {
  static char path[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", fuzz_dir(), name);
  char *slash = strrchr(path[k], '/');
  if (slash > path[k] + strlen(dir)) { *slash = 0; mkdir(path[k], 0755); *slash = '/'; }
  FILE *f = fopen(path[k], "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) { perror(path[k]); exit(2); }
  return path[k];
}
