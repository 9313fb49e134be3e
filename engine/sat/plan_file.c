// plan_file.c — plans as small commented text files (format: man/stepscope-plan.5).
//
// One setting per line, "keyword value...", '#' starts a comment line. Paths and the
// proposer command take the rest of the line, so they may hold spaces without quoting.
// Every error names the file and line: "plan.txt:7: ratio must be in (0, 1], not 1.2".
#include "plan.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const criteria[] = {"magnitude", "taylor", "diff-pruning", "random"};

int plan_criterion_known(const char *name) {
  for (size_t i = 0; i < sizeof criteria / sizeof criteria[0]; i++) if (!strcmp(name, criteria[i])) return 1;
  return 0;
}

// A path (or command) survives a save/load round trip when it is one line without
// leading or trailing blanks and is not "-" (which stands for "none").
static int writable_text(const char *s) {
  size_t n = strlen(s);
  return !strchr(s, '\n') && !strchr(s, '\r') && strcmp(s, "-") &&
         !(n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'));
}

int plan_validate(const Plan *p, Err *e) {
  if (p->T < 1) return err_set(e, "T must be positive, not %d", p->T);
  if (p->ngroups < 1 || p->ngroups > PLAN_MAX_GROUPS) return err_set(e, "%d groups; 1..%d allowed", p->ngroups, PLAN_MAX_GROUPS);
  if ((unsigned)p->schedule > SCHED_COSINE || (unsigned)p->split > SPLIT_MANUAL || (unsigned)p->order > ORDER_MANUAL)
    return err_set(e, "bad schedule, split or order kind");
  if (p->order != ORDER_MANUAL && !(p->k > 0 && p->k <= 1)) return err_set(e, "k must be in (0, 1], not %g", p->k);
  for (int j = 0; j < p->ngroups; j++) {
    const PlanGroup *g = &p->g[j];
    if (g->t0 != (j ? p->g[j - 1].t1 : 0) || g->t1 <= g->t0)
      return err_set(e, "group %d is [%d, %d); groups must be non-empty and follow each other from 0", j, g->t0, g->t1);
    if (!(g->ratio > 0 && g->ratio <= 1)) return err_set(e, "group %d: ratio must be in (0, 1], not %g", j, g->ratio);
    if (g->model[0] && !writable_text(g->model)) return err_set(e, "group %d: model path '%s' cannot be written in a plan", j, g->model);
  }
  if (p->g[p->ngroups - 1].t1 != p->T) return err_set(e, "the groups end at %d, not at T = %d", p->g[p->ngroups - 1].t1, p->T);
  if (p->base[0] && !writable_text(p->base)) return err_set(e, "base path '%s' cannot be written in a plan", p->base);
  if (!plan_criterion_known(p->criterion))
    return err_set(e, "unknown criterion '%s' (magnitude | taylor | diff-pruning | random)", p->criterion);
  if (strcmp(p->proposer, "builtin") && (strncmp(p->proposer, "cmd:", 4) || !p->proposer[4] || !writable_text(p->proposer)))
    return err_set(e, "proposer must be builtin or cmd:COMMAND, not '%s'", p->proposer);
  if (p->rounds < 0 || p->calib_n < 1 || p->finetune_steps < 0)
    return err_set(e, "need rounds >= 0, calib >= 1 and finetune >= 0");
  return 0;
}

// ---------------------------------------------------------------------------------------
// Saving.

// The shortest text that reads back as exactly x, preferring the format first (ratios are
// written "%.3f" so that they line up: 1.000, 0.600).
static void fmt_exact(char *buf, size_t cap, const char *first, double x) {
  snprintf(buf, cap, first, x);
  for (int prec = 1; strtod(buf, NULL) != x && prec <= 17; prec++) snprintf(buf, cap, "%.*g", prec, x);
}

// Best effort: makes the rename durable; some file systems cannot fsync a directory.
static void fsync_dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096] = ".";
  if (slash) snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) { fsync(fd); close(fd); }
}

static void write_plan(FILE *f, const Plan *p) {
  char num[32];
  fprintf(f, "# stepscope plan (format: man 5 stepscope-plan)\n"
             "# Groups are in t order: g0 holds the cleanest timesteps and runs last when sampling.\n");
  fprintf(f, "base      %s\n", p->base[0] ? p->base : "-");
  fprintf(f, "schedule  %s %d\n", schedule_name(p->schedule), p->T);
  fprintf(f, "split     %s\n", split_name(p->split));
  fmt_exact(num, sizeof num, "%g", p->k);
  if (p->order == ORDER_MANUAL) fprintf(f, "order     manual\n");
  else fprintf(f, "order     %s %s\n", order_name(p->order), num);
  fprintf(f, "criterion %s\nrounds    %d\nproposer  %s\ncalib     %d\nseed      %llu\nfinetune  %d\n\n",
          p->criterion, p->rounds, p->proposer, p->calib_n, (unsigned long long)p->seed, p->finetune_steps);
  fprintf(f, "#         t0     t1     ratio    model\n");
  for (int j = 0; j < p->ngroups; j++) {
    const PlanGroup *g = &p->g[j];
    fmt_exact(num, sizeof num, "%.3f", g->ratio);
    fprintf(f, "group     %-6d %-6d %-8s %s\n", g->t0, g->t1, num, g->model[0] ? g->model : "-");
  }
}

int plan_save(const char *path, const Plan *p, Err *e) {
  Err why;
  if (plan_validate(p, &why)) return err_set(e, "%s: not saved: %s", path, why.msg);
  remove_stale_temporaries(path);  // left by a writer that was killed mid-save
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return err_set(e, "%s: path too long", path);
  const char *what = "cannot create temporary file";
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) goto fail;
  what = "write failed";
  write_plan(f, p);
  if (ferror(f) || fflush(f) || fsync(fd)) goto fail;
  fd = -1;
  if (fclose(f)) { f = NULL; goto fail; }
  f = NULL;
  what = "cannot replace the file";
  if (rename(tmp, path)) goto fail;
  fsync_dir_of(path);
  return 0;
fail:;
  int errnum = errno;
  if (f) fclose(f);
  else if (fd >= 0) close(fd);
  unlink(tmp);
  return err_set(e, "%s: %s: %s", path, what, strerror(errnum));
}

// ---------------------------------------------------------------------------------------
// Loading.

typedef struct {
  const char *path;
  int line;
  Err *e;
} Cursor;

static int bad(Cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(Cursor *c, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return err_set(c->e, "%s:%d: %s", c->path, c->line, msg);
}

static int blank(char ch) { return ch == ' ' || ch == '\t'; }

// The next blank-separated word of *s (NUL-terminated in place), or NULL at the end.
static char *word(char **s) {
  char *p = *s;
  while (blank(*p)) p++;
  if (!*p) { *s = p; return NULL; }
  char *w = p;
  while (*p && !blank(*p)) p++;
  if (*p) *p++ = 0;
  *s = p;
  return w;
}

// The rest of the line without surrounding blanks ("" when there is nothing).
static char *rest(char **s) {
  char *p = *s;
  while (blank(*p)) p++;
  size_t n = strlen(p);
  while (n && blank(p[n - 1])) p[--n] = 0;
  *s = p + n;
  return p;
}

static int get_int(Cursor *c, const char *w, const char *what, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long x = w ? strtol(w, &end, 10) : 0;
  if (!w || !*w || *end || errno) return bad(c, "%s: expected an integer, got '%s'", what, w ? w : "");
  if (x < lo || x > hi) return bad(c, "%s must be in [%ld, %ld], not %ld", what, lo, hi, x);
  *out = x;
  return 0;
}

static int get_real(Cursor *c, const char *w, const char *what, double *out) {
  char *end;
  errno = 0;
  double x = w ? strtod(w, &end) : 0;
  if (!w || !*w || *end || errno || !isfinite(x)) return bad(c, "%s: expected a number, got '%s'", what, w ? w : "");
  *out = x;
  return 0;
}

static int get_path(Cursor *c, char *s, const char *what, char *dst, size_t cap) {
  if (!*s) return bad(c, "%s: missing (use - for none)", what);
  if (strlen(s) >= cap) return bad(c, "%s: longer than %zu bytes", what, cap - 1);
  strcpy(dst, strcmp(s, "-") ? s : "");
  return 0;
}

enum { K_BASE, K_SCHEDULE, K_SPLIT, K_ORDER, K_CRITERION, K_ROUNDS, K_PROPOSER, K_CALIB, K_SEED, K_FINETUNE, K_GROUP, NKEYS };
static const char *const keywords[NKEYS] = {"base", "schedule", "split", "order", "criterion", "rounds",
                                            "proposer", "calib", "seed", "finetune", "group"};

// One line's keyword and values into p. seen[] counts each keyword, group_line[] records
// where each group was defined so that the final coverage check can point at it.
static int parse_line(Cursor *c, char *s, Plan *p, int *seen, int *group_line) {
  char *kw = word(&s);
  if (!kw || kw[0] == '#') return 0;  // blank line or comment
  int key = 0;
  while (key < NKEYS && strcmp(kw, keywords[key])) key++;
  if (key == NKEYS) return bad(c, "unknown keyword '%s'", kw);
  if (key != K_GROUP && seen[key]) return bad(c, "'%s' given twice", kw);
  seen[key]++;
  long x;
  char *w;
  switch (key) {
    case K_BASE: return get_path(c, rest(&s), "base", p->base, sizeof p->base);
    case K_SCHEDULE:
      if (!(w = word(&s)) || schedule_parse(w, &p->schedule)) return bad(c, "schedule must be linear or cosine, not '%s'", w ? w : "");
      if (get_int(c, word(&s), "T", 1, 1000000, &x)) return -1;
      p->T = (int)x;
      break;
    case K_SPLIT:
      if (!(w = word(&s)) || split_parse(w, &p->split)) return bad(c, "split must be t, snr or manual, not '%s'", w ? w : "");
      break;
    case K_ORDER:
      if (!(w = word(&s)) || order_parse(w, &p->order))
        return bad(c, "order must be progressive, regressive, uniform, loss or manual, not '%s'", w ? w : "");
      if (p->order != ORDER_MANUAL) {
        if (get_real(c, word(&s), "k", &p->k)) return -1;
        if (!(p->k > 0 && p->k <= 1)) return bad(c, "k must be in (0, 1], not %g", p->k);
      }
      break;
    case K_CRITERION:
      w = word(&s);
      if (!w || !plan_criterion_known(w)) return bad(c, "criterion must be magnitude, taylor, diff-pruning or random, not '%s'", w ? w : "");
      strcpy(p->criterion, w);
      break;
    case K_ROUNDS: if (get_int(c, word(&s), "rounds", 0, 1000000, &x)) return -1; p->rounds = (int)x; break;
    case K_CALIB: if (get_int(c, word(&s), "calib", 1, 1000000, &x)) return -1; p->calib_n = (int)x; break;
    case K_FINETUNE: if (get_int(c, word(&s), "finetune", 0, 1000000000, &x)) return -1; p->finetune_steps = (int)x; break;
    case K_SEED: {
      char *end;
      errno = 0;
      w = word(&s);
      unsigned long long v = w ? strtoull(w, &end, 10) : 0;
      if (!w || !*w || *end || errno || *w == '-') return bad(c, "seed: expected an unsigned integer, got '%s'", w ? w : "");
      p->seed = v;
      break;
    }
    case K_PROPOSER: {
      char *v = rest(&s);
      if (strcmp(v, "builtin") && (strncmp(v, "cmd:", 4) || !v[4])) return bad(c, "proposer must be builtin or cmd:COMMAND, not '%s'", v);
      return get_path(c, v, "proposer", p->proposer, sizeof p->proposer);
    }
    case K_GROUP: {
      int j = seen[K_GROUP] - 1;
      if (j >= PLAN_MAX_GROUPS) return bad(c, "more than %d groups", PLAN_MAX_GROUPS);
      PlanGroup *g = &p->g[j];
      memset(g, 0, sizeof *g);
      long t0, t1;
      if (get_int(c, word(&s), "t0", 0, 1000000, &t0) || get_int(c, word(&s), "t1", 0, 1000000, &t1) ||
          get_real(c, word(&s), "ratio", &g->ratio)) return -1;
      int want = j ? p->g[j - 1].t1 : 0;
      if (t0 != want)
        return j ? bad(c, "group starts at %ld, not at %d where the previous one ends", t0, want)
                 : bad(c, "the first group starts at %ld, not at 0", t0);
      if (t1 <= t0) return bad(c, "group [%ld, %ld) is empty", t0, t1);
      if (!(g->ratio > 0 && g->ratio <= 1)) return bad(c, "ratio must be in (0, 1], not %g", g->ratio);
      g->t0 = (int)t0;
      g->t1 = (int)t1;
      group_line[j] = c->line;
      p->ngroups = j + 1;
      char *m = rest(&s);
      return *m ? get_path(c, m, "model", g->model, sizeof g->model) : 0;
    }
  }
  if ((w = word(&s))) return bad(c, "unexpected '%s' after %s", w, kw);
  return 0;
}

// A relative path that names no file from the working directory but does from the plan
// file's folder is taken from there, so a plan and its models move (or install) together.
static void resolve_one(char *name, size_t cap, const char *plan_path) {
  if (!name[0] || name[0] == '/' || access(name, F_OK) == 0) return;
  const char *slash = strrchr(plan_path, '/');
  if (!slash) return;  // the plan is in the working directory: nothing else to try
  char joined[1024];
  int n = snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - plan_path), plan_path, name);
  if (n > 0 && (size_t)n < cap && access(joined, F_OK) == 0) memcpy(name, joined, (size_t)n + 1);
}

static void resolve_paths(Plan *p, const char *plan_path) {
  resolve_one(p->base, sizeof p->base, plan_path);
  for (int g = 0; g < p->ngroups; g++) resolve_one(p->g[g].model, sizeof p->g[g].model, plan_path);
}

int plan_load(const char *path, Plan *p, Err *e) {
  FILE *f = fopen(path, "r");
  if (!f) return err_set(e, "%s: %s", path, strerror(errno));
  Plan q;
  plan_init(&q, SCHED_LINEAR, 1000);
  q.ngroups = 0;
  int seen[NKEYS] = {0}, group_line[PLAN_MAX_GROUPS] = {0};
  Cursor c = {path, 0, e};
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0;
  while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
    c.line++;
    if ((size_t)len != strlen(line)) { rc = bad(&c, "binary data: not a plan file"); break; }
    if (len && line[len - 1] == '\n') line[--len] = 0;
    if (len && line[len - 1] == '\r') line[--len] = 0;
    rc = parse_line(&c, line, &q, seen, group_line);
  }
  if (rc == 0 && ferror(f)) rc = err_set(e, "%s: read error: %s", path, strerror(errno));
  free(line);
  fclose(f);
  if (rc) return -1;
  if (!seen[K_SCHEDULE]) return err_set(e, "%s: no 'schedule' line (e.g. 'schedule linear 1000')", path);
  if (!q.ngroups) return err_set(e, "%s: no 'group' lines", path);
  c.line = group_line[q.ngroups - 1];
  if (q.g[q.ngroups - 1].t1 != q.T)
    return bad(&c, "the groups end at %d; they must cover [0, T) with T = %d", q.g[q.ngroups - 1].t1, q.T);
  resolve_paths(&q, path);
  *p = q;
  return 0;
}
