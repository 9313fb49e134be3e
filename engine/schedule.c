#include "schedule.h"
#include "common.h"
#include <math.h>
#include <string.h>

void schedule_init(Schedule *s, SchedKind kind, int T) {
  s->kind = kind;
  s->T = T;
  s->beta = xmalloc(sizeof(double) * T);
  s->alpha = xmalloc(sizeof(double) * T);
  s->abar = xmalloc(sizeof(double) * T);
  s->snr = xmalloc(sizeof(double) * T);
  s->snr_db = xmalloc(sizeof(double) * T);
  if (kind == SCHED_LINEAR) {
    for (int t = 0; t < T; t++) s->beta[t] = 1e-4 + (0.02 - 1e-4) * (T > 1 ? (double)t / (T - 1) : 0);
  } else {
    // Nichol & Dhariwal: abar(t) = f(t)/f(0), f(t) = cos^2(((t/T)+s)/(1+s) * pi/2)
    const double off = 0.008;
    for (int t = 0; t < T; t++) {
      double f0 = cos(((double)t / T + off) / (1 + off) * M_PI / 2);
      double f1 = cos(((double)(t + 1) / T + off) / (1 + off) * M_PI / 2);
      double b = 1 - (f1 * f1) / (f0 * f0);
      s->beta[t] = b < 0.999 ? b : 0.999;
    }
  }
  double a = 1;
  for (int t = 0; t < T; t++) {
    s->alpha[t] = 1 - s->beta[t];
    a *= s->alpha[t];
    s->abar[t] = a;
    s->snr[t] = a / (1 - a);
    s->snr_db[t] = 10 * log10(s->snr[t]);
  }
}

void schedule_free(Schedule *s) {
  free(s->beta); free(s->alpha); free(s->abar); free(s->snr); free(s->snr_db);
  memset(s, 0, sizeof *s);
}

const char *schedule_name(SchedKind k) { return k == SCHED_COSINE ? "cosine" : "linear"; }

int schedule_parse(const char *name, SchedKind *out) {
  if (!strcmp(name, "linear")) { *out = SCHED_LINEAR; return 0; }
  if (!strcmp(name, "cosine")) { *out = SCHED_COSINE; return 0; }
  return -1;
}
