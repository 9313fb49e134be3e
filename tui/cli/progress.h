// progress.h — the live progress line of long work: a \r-updated line on a terminal
// (step, loss, rate, ETA), plain periodic log lines in a pipe, nothing when quiet.
#pragma once

typedef struct {
  const char *label;
  long total, start_step;
  double t0, last_print;
  int tty, quiet;
} Progress;

void progress_begin(Progress *p, const char *label, long start_step, long total, int quiet);
void progress_update(Progress *p, long step, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void progress_end(Progress *p);
