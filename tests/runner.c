// runner.c — runs every registered test; the last line is "N passed, N failed".
//
//   run_tests                      every test
//   run_tests cuda tui             the tests whose names contain "cuda" or "tui"
//   run_tests cuda -cuda_emu       ... and not "cuda_emu"
#include "test.h"
#include <stdarg.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 1024
static TestCase tests[MAX_TESTS];
static int ntests, cur_failed, cur_skipped;
static char skip_reason[256], tmpdir[256];

void test_register(const char *name, void (*fn)(void)) {
  if (ntests < MAX_TESTS) tests[ntests++] = (TestCase){name, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stdout, "    %s:%d: ", file, line);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  cur_failed = 1;
}

void test_skip(const char *reason) {
  cur_skipped = 1;
  snprintf(skip_reason, sizeof skip_reason, "%s", reason);
}

int test_failed(void) { return cur_failed; }
const char *test_tmpdir(void) { return tmpdir; }

int test_in_child(void (*fn)(void), int timeout_s, char *err, size_t cap) {
  int fd[2];
  err[0] = 0;
  if (pipe(fd) != 0) return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) { close(fd[0]); close(fd[1]); return -1; }
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // the crash is expected: no core file
    dup2(fd[1], 2);
    close(fd[0]);
    alarm(timeout_s);  // a hang ends here
    fn();
    _exit(0);
  }
  close(fd[1]);
  size_t len = 0;
  ssize_t got;
  while (len + 1 < cap && (got = read(fd[0], err + len, cap - 1 - len)) > 0) len += (size_t)got;
  err[len] = 0;
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const TestCase *)a)->name, ((const TestCase *)b)->name);
}

// A name is selected by the arguments when it contains one of those without a leading '-' (or
// there are none) and none of those with one.
static int selected(const char *name, int argc, char **argv) {
  int any_wanted = 0, wanted = 0;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') {
      if (argv[i][1] && strstr(name, argv[i] + 1)) return 0;
    } else {
      any_wanted = 1;
      wanted |= strstr(name, argv[i]) != NULL;
    }
  }
  return !any_wanted || wanted;
}

int main(int argc, char **argv) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/stepscope-test-XXXXXX");
  if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
  setvbuf(stdout, NULL, _IOLBF, 0);
  qsort(tests, ntests, sizeof tests[0], by_name);
  int pass = 0, fail = 0, skip = 0;
  for (int i = 0; i < ntests; i++) {
    if (!selected(tests[i].name, argc, argv)) continue;
    cur_failed = cur_skipped = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tests[i].fn();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6;
    if (cur_failed) { fail++; printf("FAIL %s (%.0f ms)\n", tests[i].name, ms); }
    else if (cur_skipped) { skip++; printf("skip %s: %s\n", tests[i].name, skip_reason); }
    else { pass++; printf("ok   %s (%.0f ms)\n", tests[i].name, ms); }
  }
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  if (skip) printf("%d skipped (reasons above)\n", skip);
  printf("%d passed, %d failed\n", pass, fail);
  return fail ? 1 : 0;
}
