// proposer.c — the built-in proposer and the external-command protocol.
#include "proposer.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void propose_uniform(const Bank *b, double *keep) {
  // MACs are roughly quadratic in a uniform width ratio; the Pruner makes it exact.
  for (int g = 0; g < b->ngroups; g++) keep[g] = fmin(1.0, sqrt(b->target));
}

void propose_builtin(const Bank *b, Rng *r, double *keep) {
  if (b->best < 0) { propose_uniform(b, keep); return; }
  int G = b->ngroups;
  memcpy(keep, b->e[b->best].realized, sizeof(double) * G);
  int moves = 1 + rng_int(r, 2), *ok = xmalloc(sizeof(int) * G);
  for (int mv = 0; mv < moves; mv++) {
    // donor: any group with room to shrink; receiver: another one with room to grow
    int n = 0, a, c;
    for (int g = 0; g < G; g++) if (b->share[g] > 0 && keep[g] * b->width[g] > 1.5) ok[n++] = g;
    if (!n) break;
    a = ok[rng_int(r, n)];
    n = 0;
    for (int g = 0; g < G; g++) if (g != a && b->share[g] > 0 && keep[g] < 1) ok[n++] = g;
    if (!n) break;
    c = ok[rng_int(r, n)];
    double delta = keep[a] * (0.1 + 0.2 * rng_uniform(r));
    keep[a] -= delta;
    keep[c] = fmin(1.0, keep[c] + delta * b->share[a] / b->share[c]);
  }
  free(ok);
}

int proposal_parse(const Bank *b, const char *text, size_t len, double *keep, Err *e) {
  Json j;
  Err je;
  if (json_parse(text, len, &j, &je)) return err_set(e, "reply is not JSON (%s)", je.msg);
  const Json *k = json_get(&j, "keep");
  int rc = 0;
  for (int g = 0; g < b->ngroups; g++) keep[g] = 1.0;
  if (!k || k->type != JSON_OBJ) rc = err_set(e, "reply has no \"keep\" object");
  for (int i = 0; !rc && i < k->n; i++) {
    int g = 0;
    while (g < b->ngroups && strcmp(b->name[g], k->keys[i])) g++;
    if (g == b->ngroups) { rc = err_set(e, "unknown group '%.64s'", k->keys[i]); break; }
    double v = json_num(&k->kids[i], NAN);
    if (!(v > 0 && v <= 1)) { rc = err_set(e, "keep ratio of '%s' must be a number in (0, 1]", b->name[g]); break; }
    keep[g] = v;
  }
  json_free(&j);
  return rc;
}

#define REPLY_MAX (1 << 20)

// Runs `sh -c program` in a process group of its own, feeds it `in` and collects its
// stdout, both through non-blocking pipes so that neither side can stall the other, until
// it closes stdout or the deadline passes (then the group is killed).
static int run_program(const char *program, const char *in, size_t in_len, int timeout_s, char **out,
                       size_t *out_len, Err *e) {
  int pin[2], pout[2];
  if (pipe(pin)) return err_set(e, "pipe: %s", strerror(errno));
  if (pipe(pout)) { close(pin[0]); close(pin[1]); return err_set(e, "pipe: %s", strerror(errno)); }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(pin[0]); close(pin[1]); close(pout[0]); close(pout[1]);
    return err_set(e, "fork: %s", strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(pin[0], 0);
    dup2(pout[1], 1);
    close(pin[0]); close(pin[1]); close(pout[0]); close(pout[1]);
    execl("/bin/sh", "sh", "-c", program, (char *)NULL);
    _exit(127);
  }
  setpgid(pid, pid);  // also here: whichever runs first
  close(pin[0]);
  close(pout[1]);
  int wfd = pin[1], rfd = pout[0];
  fcntl(wfd, F_SETFL, O_NONBLOCK);
  fcntl(rfd, F_SETFL, O_NONBLOCK);
  struct sigaction ign = {0}, old;
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old);  // a program that never reads its input is fine

  size_t woff = 0, len = 0;
  char *buf = xmalloc(REPLY_MAX + 1);
  double deadline = now_sec() + timeout_s;
  int rc = 0, timed_out = 0;
  while (rfd >= 0) {
    double left = deadline - now_sec();
    if (left <= 0) { timed_out = 1; break; }
    struct pollfd fds[2];
    int n = 0, wi = -1;
    if (wfd >= 0) { wi = n; fds[n++] = (struct pollfd){wfd, POLLOUT, 0}; }
    int ri = n;
    fds[n++] = (struct pollfd){rfd, POLLIN, 0};
    if (poll(fds, n, (int)(left * 1000) + 1) < 0) {
      if (errno == EINTR) continue;
      rc = err_set(e, "poll: %s", strerror(errno));
      break;
    }
    if (wi >= 0 && fds[wi].revents) {
      ssize_t k = write(wfd, in + woff, in_len - woff);
      if (k > 0) woff += k;
      if ((k < 0 && errno != EAGAIN && errno != EINTR) || woff == in_len) { close(wfd); wfd = -1; }
    }
    if (fds[ri].revents) {
      ssize_t k = read(rfd, buf + len, REPLY_MAX - len);
      if (k == 0) { close(rfd); rfd = -1; }
      else if (k > 0 && (len += k) == REPLY_MAX) { rc = err_set(e, "reply longer than %d bytes", REPLY_MAX); break; }
      else if (k < 0 && errno != EAGAIN && errno != EINTR) { rc = err_set(e, "read: %s", strerror(errno)); break; }
    }
  }
  if (wfd >= 0) close(wfd);
  if (rfd >= 0) close(rfd);
  // stdout is closed; give the program the rest of its time to exit
  int status = 0;
  pid_t w;
  while ((w = waitpid(pid, &status, WNOHANG)) == 0 && !timed_out && !rc) {
    if (now_sec() >= deadline) { timed_out = 1; break; }
    usleep(2000);
  }
  if (w == 0) {
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  sigaction(SIGPIPE, &old, NULL);
  if (timed_out) rc = err_set(e, "no reply within %d s", timeout_s);
  else if (!rc && WIFEXITED(status) && WEXITSTATUS(status)) rc = err_set(e, "exited with status %d", WEXITSTATUS(status));
  else if (!rc && WIFSIGNALED(status)) rc = err_set(e, "killed by signal %d", WTERMSIG(status));
  if (rc) { free(buf); return -1; }
  buf[len] = 0;
  *out = buf;
  *out_len = len;
  return 0;
}

int propose_cmd(const char *program, const Bank *b, int round, int timeout_s, double *keep, Err *e) {
  JsonBuf in;
  jb_init(&in);
  bank_json(b, round, &in);
  jb_raw(&in, "\n", 1);
  char *reply = NULL;
  size_t len = 0;
  int rc = run_program(program, in.s, in.len, timeout_s > 0 ? timeout_s : 60, &reply, &len, e);
  jb_free(&in);
  if (rc) return -1;
  rc = proposal_parse(b, reply, len, keep, e);
  free(reply);
  return rc;
}
