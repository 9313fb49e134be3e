// torch_ref.c — see torch_ref.h.
#include "tui/cli/torch_ref.h"
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char torch_version[32] = "?";

static const char script[] = "tests/bench/torch_unet.py";

// The shell command that runs the script on the first interpreter that has torch:
// $STEPSCOPE_PYTHON, python3, Debian's /usr/bin/python3.
static void script_cmd(char *cmd, size_t n, const char *mode, const char *config, int batch, int threads, int steps,
                       const char *device, const char *extra) {
  snprintf(cmd, n,
           "for py in $STEPSCOPE_PYTHON python3 /usr/bin/python3; do $py -c 'import torch' 2>/dev/null && "
           "exec $py %s --mode %s --config %s --batch %d --threads %d --steps %d --device %s %s 2>&1; done",
           script, mode, config, batch, threads, steps, device, extra);
}

// Reads the script's lines until one with its ms per step (returned) or, with until_ready, its
// "ready" (returns 0); -1 at the end of its output. Parameters and version lines are noted,
// errors passed on.
static double read_lines(FILE *from, long *theirs, int until_ready) {
  char line[512];
  double ms;
  while (fgets(line, sizeof line, from)) {
    if (sscanf(line, "ms_per_step %lf", &ms) == 1) return ms;
    if (until_ready && !strncmp(line, "ready", 5)) return 0;
    if (sscanf(line, "params %ld", theirs) == 1) continue;
    if (sscanf(line, "torch_version %31s", torch_version) == 1) continue;
    if (strstr(line, "Error") || strstr(line, "error")) fprintf(stderr, "  torch: %s", line);
  }
  return -1;
}

static int same_model(long theirs, long params) {
  if (theirs == params) return 1;
  fprintf(stderr, "stepscope: bench: the PyTorch model has %ld parameters, ours %ld: not compared\n", theirs, params);
  return 0;
}

double torch_ms(const char *mode, const char *config, int batch, int threads, int steps, const char *device,
                const char *extra, long params) {
  if (access(script, R_OK) != 0) return -1;
  char cmd[768];
  script_cmd(cmd, sizeof cmd, mode, config, batch, threads, steps, device, extra);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  long theirs = -1;
  double ms = read_lines(p, &theirs, 0);
  while (read_lines(p, &theirs, 0) >= 0) {}  // the rest (a profile, errors)
  pclose(p);
  return ms > 0 && same_model(theirs, params) ? ms : -1;
}

int torch_open(TorchProc *tp, const char *mode, const char *config, int batch, int threads, int steps,
               const char *device, long params) {
  memset(tp, 0, sizeof *tp);
  tp->pid = -1;
  if (access(script, R_OK) != 0) return -1;
  char cmd[768];
  script_cmd(cmd, sizeof cmd, mode, config, batch, threads, steps, device, "--turns");
  int in[2], out[2];
  if (pipe(in) != 0) return -1;
  if (pipe(out) != 0) {
    close(in[0]), close(in[1]);
    return -1;
  }
  fflush(stdout);
  tp->pid = fork();
  if (tp->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(in[0]), close(out[1]);
  if (tp->pid < 0) {
    close(in[1]), close(out[0]);
    return -1;
  }
  tp->to = fdopen(in[1], "w");
  tp->from = fdopen(out[0], "r");
  long theirs = -1;
  if (read_lines(tp->from, &theirs, 1) != 0 || !same_model(theirs, params)) {
    torch_close(tp);
    return -1;
  }
  return 0;
}

double torch_turn(TorchProc *tp) {
  void (*old)(int) = signal(SIGPIPE, SIG_IGN);  // a script that died must not take us along
  const int sent = fputs("go\n", tp->to) >= 0 && fflush(tp->to) == 0;
  signal(SIGPIPE, old);
  long theirs;
  return sent ? read_lines(tp->from, &theirs, 0) : -1;
}

void torch_close(TorchProc *tp) {
  if (tp->to) fclose(tp->to);  // end of its input: the script stops
  if (tp->from) {
    long theirs;
    while (read_lines(tp->from, &theirs, 0) >= 0) {}
    fclose(tp->from);
  }
  if (tp->pid > 0) waitpid(tp->pid, NULL, 0);
  memset(tp, 0, sizeof *tp);
  tp->pid = -1;
}
