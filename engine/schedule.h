// schedule.h — the diffusion noise schedule: beta, alpha, alpha-bar, SNR arrays over T steps.
#pragma once

typedef enum { SCHED_LINEAR, SCHED_COSINE } SchedKind;

typedef struct {
  SchedKind kind;
  int T;
  double *beta, *alpha, *abar;  // abar[t] = prod_{s<=t} alpha[s]
  double *snr, *snr_db;         // snr = abar / (1 - abar); snr_db = 10 log10(snr)
} Schedule;

// linear: DDPM's beta from 1e-4 to 0.02; cosine: Improved DDPM (s = 0.008, beta <= 0.999).
void schedule_init(Schedule *s, SchedKind kind, int T);
void schedule_free(Schedule *s);
const char *schedule_name(SchedKind k);
int schedule_parse(const char *name, SchedKind *out);  // 0 ok, -1 unknown
