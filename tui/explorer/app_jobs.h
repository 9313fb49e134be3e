// app_jobs.h — background work of the explorer: one pthread per job, its progress and
// results behind the job's mutex, and a self-pipe that wakes the UI loop whenever a job
// has something new to show. The UI thread never waits on a job except when it stops one
// (quit, restart), and the worker checks job_cancelled() often enough for that to be quick.
//
// Lifecycle: job_start() -> worker runs work(job) -> state becomes DONE, FAILED or
// CANCELLED -> the UI sees it in job_snapshot()/job_state() and calls job_reap() (joins the
// finished thread) before starting the job again.
#pragma once
#include "engine/sat/importance.h"  // Watch
#include <pthread.h>
#include <stdatomic.h>

typedef enum { JOB_IDLE, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED } JobState;

typedef struct Job {
  const char *name;           // "loss", "generate", ...
  pthread_mutex_t mu;         // guards everything below, and the kind's results
  pthread_cond_t cv;          // for gates inside work (e.g. the Generate view's stepping)
  JobState state;
  double progress;            // 0..1
  char status[160];           // what the worker is doing, one line
  char error[512];            // FAILED: why
  unsigned seq;               // bumped by every job_progress()/job_finish(): "something new"
  double t_start, t_end;      // now_sec() at start and finish
  atomic_int cancel;          // set by the UI, polled by the worker
  // private
  pthread_t thread;
  int joinable;
  void (*work)(struct Job *);
  void *arg;
  int wake_fd;
} Job;

void job_init(Job *j, const char *name, int wake_fd);  // wake_fd: write end of the UI's pipe
void job_destroy(Job *j);                               // stops a running job first

// Starts work(j) on a new thread (signals blocked there; the thread runs at a lower
// priority than the UI). A previous, finished run is reaped first. -1 if still running.
int job_start(Job *j, void (*work)(Job *), void *arg);
void job_cancel(Job *j);            // asks; returns at once
void job_stop(Job *j);              // cancels and waits for the thread
void job_reap(Job *j);              // joins a finished thread (no-op otherwise)
JobState job_state(Job *j);
int job_running(Job *j);

// Worker side.
int job_cancelled(Job *j);
// Progress and a status line (fmt may be NULL to keep it); wakes the UI.
void job_progress(Job *j, double frac, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void job_fail(Job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void job_wake(Job *j);              // wakes the UI without changing anything
void job_lock(Job *j);
void job_unlock(Job *j);

// An engine Watch that reports into a job: progress mapped onto [p0, p1] of the job's bar,
// cancel when the job is cancelled. The span must outlive the computation.
typedef struct { Job *job; double p0, p1; } JobSpan;
Watch job_watch(JobSpan *span);
