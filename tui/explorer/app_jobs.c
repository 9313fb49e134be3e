// app_jobs.c — worker threads of the explorer (see app_jobs.h).
#include "tui/explorer/app_jobs.h"
#include "engine/common.h"
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { WORKER_NICE = 5 };  // the UI thread stays at 0: keys are answered first

void job_init(Job *j, const char *name, int wake_fd) {
  memset(j, 0, sizeof *j);
  j->name = name;
  j->wake_fd = wake_fd;
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
}

void job_destroy(Job *j) {
  job_stop(j);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
}

void job_lock(Job *j) { pthread_mutex_lock(&j->mu); }
void job_unlock(Job *j) { pthread_mutex_unlock(&j->mu); }

void job_wake(Job *j) {
  if (j->wake_fd < 0) return;
  char c = 1;
  // Non-blocking pipe: when it is full the UI has wake-ups pending anyway.
  while (write(j->wake_fd, &c, 1) < 0 && errno == EINTR) {}
}

static void *trampoline(void *arg) {
  Job *j = arg;
  // Linux nice values are per thread; threads this one starts (OpenMP's) inherit it.
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE);
  j->work(j);
  job_lock(j);
  if (j->state == JOB_RUNNING) {
    j->state = atomic_load(&j->cancel) ? JOB_CANCELLED : JOB_DONE;
    if (j->state == JOB_DONE) j->progress = 1;
  }
  j->t_end = now_sec();
  j->seq++;
  job_unlock(j);
  job_wake(j);
  return NULL;
}

int job_start(Job *j, void (*work)(Job *), void *arg) {
  if (job_running(j)) return -1;
  job_reap(j);
  job_lock(j);
  j->state = JOB_RUNNING;
  j->progress = 0;
  j->status[0] = j->error[0] = 0;
  j->t_start = now_sec();
  j->t_end = 0;
  j->seq++;
  j->work = work;
  j->arg = arg;
  atomic_store(&j->cancel, 0);
  job_unlock(j);
  // Signals (SIGINT, SIGWINCH, ...) belong to the UI thread: block them in the worker.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&j->thread, NULL, trampoline, j);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) {
    job_lock(j);
    j->state = JOB_FAILED;
    snprintf(j->error, sizeof j->error, "cannot start a thread: %s", strerror(rc));
    job_unlock(j);
    return -1;
  }
  j->joinable = 1;
  return 0;
}

void job_cancel(Job *j) {
  atomic_store(&j->cancel, 1);
  job_lock(j);
  pthread_cond_broadcast(&j->cv);
  job_unlock(j);
}

void job_reap(Job *j) {
  if (!j->joinable || job_running(j)) return;
  pthread_join(j->thread, NULL);
  j->joinable = 0;
}

void job_stop(Job *j) {
  if (!j->joinable) return;
  job_cancel(j);
  pthread_join(j->thread, NULL);
  j->joinable = 0;
}

JobState job_state(Job *j) {
  job_lock(j);
  JobState s = j->state;
  job_unlock(j);
  return s;
}

int job_running(Job *j) { return job_state(j) == JOB_RUNNING; }
int job_cancelled(Job *j) { return atomic_load(&j->cancel); }

void job_progress(Job *j, double frac, const char *fmt, ...) {
  job_lock(j);
  j->progress = frac < 0 ? 0 : frac > 1 ? 1 : frac;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->status, sizeof j->status, fmt, ap);
    va_end(ap);
  }
  j->seq++;
  job_unlock(j);
  job_wake(j);
}

void job_fail(Job *j, const char *fmt, ...) {
  job_lock(j);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->error, sizeof j->error, fmt, ap);
  va_end(ap);
  j->state = JOB_FAILED;
  j->seq++;
  job_unlock(j);
  job_wake(j);
}

static int span_cancelled(void *ctx) { return job_cancelled(((JobSpan *)ctx)->job); }

static void span_progress(void *ctx, double frac) {
  JobSpan *sp = ctx;
  job_progress(sp->job, sp->p0 + (sp->p1 - sp->p0) * frac, NULL);
}

Watch job_watch(JobSpan *span) { return (Watch){span_cancelled, span_progress, span}; }
