// cmd_snr.c — `stepscope snr`: the noise schedule's SNR curve and how a split cuts it.
// Also the --groups/--bounds/--split handling that `stepscope plan` shares.
#include "engine/sat/plan.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_number_list(const char *s, double *out, int max) {
  int n = 0;
  while (*s) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || errno || n == max || (*end && *end != ',')) return -1;
    out[n++] = x;
    s = *end ? end + 1 : end;
    if (*end && !*s) return -1;  // a trailing comma
  }
  return n;
}

int cli_plan_groups(Plan *p, const Schedule *s, int groups, const char *bounds, const char *split) {
  SplitKind kind = SPLIT_T;
  int b[PLAN_MAX_GROUPS];
  if (bounds) {
    if (split) return usage_error("--bounds", "sets the split by hand; drop --split");
    double v[PLAN_MAX_GROUPS];
    int n = cli_number_list(bounds, v, PLAN_MAX_GROUPS - 1);
    if (n < 1) return usage_error("--bounds", "wants 1..%d comma-separated timesteps, like 200,400", PLAN_MAX_GROUPS - 1);
    if (groups > 0 && groups != n + 1)
      return usage_error("--bounds", "%d boundaries make %d groups, not --groups %d", n, n + 1, groups);
    for (int i = 0; i < n; i++) {
      if (v[i] != (int)v[i]) return usage_error("--bounds", "boundary %g is not a timestep", v[i]);
      b[i] = (int)v[i];
    }
    kind = SPLIT_MANUAL;
    groups = n + 1;
  } else if (split) {
    split_parse(split, &kind);  // t or snr: the option table allows no other
  }
  Err e;
  if (plan_split(p, s, kind, groups > 0 ? groups : 1, b, &e)) return usage_error(bounds ? "--bounds" : "--groups", "%s", e.msg);
  return 0;
}

// SNR_dB(t) as a W x H character plot, with the group boundaries as ':' columns and the
// 0 dB line (signal as strong as noise) as '-'. Columns sample t evenly over [0, T-1]; the
// curve is drawn continuous, so its steep start shows as a vertical run.
static void plot_snr(const Schedule *s, const Plan *p, int W, int H) {
  const int T = s->T;
  const double hi = s->snr_db[0], lo = s->snr_db[T - 1];
  char grid[24][128];
  for (int r = 0; r < H; r++) memset(grid[r], ' ', W);
  int zero = (int)(hi / (hi - lo) * (H - 1) + 0.5);
  if (hi > 0 && lo < 0) memset(grid[zero], '-', W);
  for (int j = 1; p && j < p->ngroups; j++) {
    int c = (int)((double)p->g[j].t0 / (T - 1) * (W - 1) + 0.5);
    for (int r = 0; r < H; r++) grid[r][c] = ':';
  }
  int prev = -1;
  for (int c = 0; c < W; c++) {
    int t = (int)((double)c * (T - 1) / (W - 1) + 0.5);
    int row = (int)((hi - s->snr_db[t]) / (hi - lo) * (H - 1) + 0.5);
    int from = prev < 0 ? row : prev < row ? prev + 1 : row;
    for (int r = from; r <= row; r++) grid[r][c] = '*';
    prev = row;
  }
  printf("\n  SNR_dB\n");
  for (int r = 0; r < H; r++) {
    char label[16] = "";
    if (r == 0) snprintf(label, sizeof label, "%.1f", hi);
    else if (r == H - 1) snprintf(label, sizeof label, "%.1f", lo);
    else if (r == zero && hi > 0 && lo < 0) snprintf(label, sizeof label, "0");
    int n = W;
    while (n > 0 && grid[r][n - 1] == ' ') n--;
    printf("%8s |%.*s\n", label, n, grid[r]);
  }
  printf("%8s +", "");
  for (int c = 0; c < W; c++) putchar('-');
  printf("\n%9s0%*d  t\n", "", W - 1, T - 1);
}

// The first t with SNR_dB below 0: where noise starts to outweigh signal.
static int zero_db_t(const Schedule *s) {
  for (int t = 0; t < s->T; t++) if (s->snr_db[t] < 0) return t;
  return -1;
}

static const char about[] =
    "Shows a noise schedule's signal-to-noise ratio, SNR_dB(t) = 10 log10(abar_t / (1 - abar_t)),\n"
    "and, with --groups or --bounds, the timestep groups a plan would use: their t, SNR_dB\n"
    "and abar ranges. On a terminal it also draws SNR_dB(t) with the group boundaries.";

int cmd_snr(int argc, char **argv) {
  const char *sched_name = "linear", *bounds = NULL, *split = NULL;
  int T = 1000, groups = 0, csv = 0, plot = 0;
  const Opt opts[] = {
    ARG_STR("--schedule", &sched_name, "NAME", "noise schedule", .choices = "linear, cosine"),
    ARG_INT("--T", &T, "N", "number of timesteps", .min = 2, .max = 100000),
    ARG_INT("--groups", &groups, "N", "split into N groups", .def = "no split", .min = 1, .max = PLAN_MAX_GROUPS),
    ARG_STR("--bounds", &bounds, "T1,T2,...", "split at these timesteps instead"),
    OPT_SPLIT(&split),
    ARG_FLAG("--csv", &csv, "print t,beta,abar,snr,snr_db[,group] for every t"),
    ARG_FLAG("--plot", &plot, "draw the text plot even when stdout is not a terminal"),
  };
  const ArgSpec spec = {"snr", "[options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  SchedKind sk;
  schedule_parse(sched_name, &sk);  // a name the option table allows

  Schedule s;
  schedule_init(&s, sk, T);
  Plan p;
  plan_init(&p, sk, T);
  int grouped = groups > 0 || bounds;
  if (grouped && (rc = cli_plan_groups(&p, &s, groups, bounds, split))) { schedule_free(&s); return rc; }

  if (csv) {
    printf("t,beta,abar,snr,snr_db%s\n", grouped ? ",group" : "");
    for (int t = 0; t < T; t++) {
      printf("%d,%.17g,%.17g,%.17g,%.17g", t, s.beta[t], s.abar[t], s.snr[t], s.snr_db[t]);
      if (grouped) printf(",%d", plan_group_of(&p, t));
      putchar('\n');
    }
    schedule_free(&s);
    return 0;
  }

  printf("schedule  %s, T = %d, beta %.4g .. %.4g\n", schedule_name(sk), T, s.beta[0], s.beta[T - 1]);
  printf("SNR_dB    %.2f at t = 0 .. %.2f at t = %d", s.snr_db[0], s.snr_db[T - 1], T - 1);
  int z = zero_db_t(&s);
  if (z > 0) printf("; below 0 dB from t = %d", z);
  printf("\n");
  if (grouped) {
    printf("split     %s, %d group%s\n\n", split_name(p.split), p.ngroups, p.ngroups > 1 ? "s" : "");
    printf("group  i   t range         SNR_dB                  abar\n");
    for (int j = 0; j < p.ngroups; j++) {
      const PlanGroup *g = &p.g[j];
      printf("g%-4d %2d   [%4d, %4d)    %6.2f .. %6.2f   %9.4g .. %.4g\n", j, p.ngroups - j, g->t0, g->t1,
             s.snr_db[g->t0], s.snr_db[g->t1 - 1], s.abar[g->t0], s.abar[g->t1 - 1]);
    }
    printf("i: the paper's number, in sampling order (i = 1 holds the noisiest steps and runs first)\n");
  }
  if (plot || isatty(1)) plot_snr(&s, grouped ? &p : NULL, 72, 16);
  schedule_free(&s);
  return 0;
}
