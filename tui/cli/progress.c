#include "tui/cli/progress.h"
#include "engine/common.h"
#include <stdarg.h>
#include <unistd.h>

void progress_begin(Progress *p, const char *label, long start_step, long total, int quiet) {
  *p = (Progress){.label = label, .total = total, .start_step = start_step, .quiet = quiet};
  p->tty = isatty(2);
  p->t0 = p->last_print = now_sec();
}

static void fmt_eta(double s, char *buf, int cap) {
  if (s < 0 || s > 1e7) snprintf(buf, cap, "--");
  else if (s >= 3600) snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
  else snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

void progress_update(Progress *p, long step, const char *fmt, ...) {
  if (p->quiet) return;
  double now = now_sec();
  int last = step >= p->total;
  // A terminal is redrawn at most 10 times a second; a pipe gets a line every 10 s.
  if (!last && now - p->last_print < (p->tty ? 0.1 : 10.0)) return;
  p->last_print = now;
  double rate = (step - p->start_step) / (now - p->t0 + 1e-9);
  char eta[32], extra[160] = "";
  fmt_eta((p->total - step) / (rate + 1e-12), eta, sizeof eta);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(extra, sizeof extra, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s%s %ld/%ld %s  %.2f it/s  ETA %s%s", p->tty ? "\r\033[K" : "", p->label, step,
          p->total, extra, rate, eta, p->tty ? "" : "\n");
  fflush(stderr);
}

void progress_end(Progress *p) {
  if (!p->quiet && p->tty) fputc('\n', stderr);
}
