// importance.c — view 2: per-channel importance of every width group (a structural
// dependency group: the channels pruning removes together) for the selected timestep
// group, and which channels the group's ratio would prune. Scores come from the engine
// (importance.h) on a worker thread; the channels marked as pruned are what the pruner
// keeps for a uniform proposal at the group's MACs ratio — round 1 of `stepscope prune`.
// Results are cached per (criterion, timestep range, calibration), so flipping between
// groups and criteria is instant once computed.
#include "engine/sat/search.h"
#include "tui/explorer/app.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CACHE = 8 };

typedef struct {
  int used;
  unsigned stamp;       // last use (LRU)
  char key[PATH_MAX + 128];
  Importance imp;
  char (*name)[64];     // width group names (the base model's order)
  double ratio;         // the ratio the keep masks were made for (-1: none yet)
  int *units;           // kept units per width group at that ratio
  double macs_ratio;    // what those widths cost, over the base
} Entry;

typedef struct {
  Job job;
  Entry cache[CACHE];
  unsigned clock;
  int sorted, scroll, sel;  // rows: width groups
  // the running job's inputs and output (worker only until it finishes)
  struct {
    char key[PATH_MAX + 128], base[PATH_MAX], data[256], device[16];
    int threads, calib_n, t0, t1;
    uint64_t seed;
    Criterion crit;
    SchedKind sched;
    int T;
    double ratio;
    Entry *reuse;       // cached scores to make masks for (NULL: compute the scores)
    Entry out;          // result
  } in;
  Rect rows;            // where the rows were drawn (mouse)
} Imp;

static Imp *st(App *a) {
  Imp *s = a->state[VIEW_IMPORTANCE];
  if (s) return s;
  s = calloc(1, sizeof *s);
  s->sorted = 1;
  job_init(&s->job, "importance", a->wake[1]);
  app_track_job(a, &s->job);
  a->state[VIEW_IMPORTANCE] = s;
  return s;
}

static void entry_free(Entry *e) {
  if (e->used) importance_free(&e->imp);
  free(e->name);
  free(e->units);
  memset(e, 0, sizeof *e);
}

// ---- the worker ----

static void work(Job *job) {
  Imp *s = job->arg;
  Err e;
  Entry *out = &s->in.out;
  Backend *be = backend_create(s->in.device, s->in.threads, &e);
  if (!be) { job_fail(job, "%s", e.msg); return; }
  UNet *base = ckpt_load_model(s->in.base, be, 1, NULL, &e);
  if (!base) { job_fail(job, "%s", e.msg); be->destroy(be); return; }
  const Importance *imp = s->in.reuse ? &s->in.reuse->imp : NULL;
  if (!imp) {
    Dataset d;
    job_progress(job, 0.05, "loading %s", s->in.data);
    if (data_load(s->in.data, DATA_TEST, &d, &e)) goto fail;
    Calib c;
    calib_init(&c, &d, s->in.calib_n, s->in.seed);
    Schedule sc;
    schedule_init(&sc, s->in.sched, s->in.T);
    ImpCfg cfg = imp_defaults(s->in.crit, s->in.t0, s->in.t1);
    cfg.seed = s->in.seed;
    JobSpan span = {job, 0.1, 0.9};
    cfg.watch = job_watch(&span);
    job_progress(job, 0.1, "%s scores over t in [%d, %d) on %d images", criterion_name(s->in.crit), s->in.t0, s->in.t1, c.n);
    int rc = importance_compute(base, &sc, &c, &cfg, &out->imp, &e);
    schedule_free(&sc);
    calib_free(&c);
    data_free(&d);
    if (rc) goto fail;
    out->used = 1;
    out->name = xmalloc(sizeof *out->name * (size_t)base->widths.n);
    for (int g = 0; g < base->widths.n; g++) snprintf(out->name[g], sizeof out->name[g], "%s", base->widths.name[g]);
    snprintf(out->key, sizeof out->key, "%s", s->in.key);
    imp = &out->imp;
  }
  if (!job_cancelled(job)) {  // which units the ratio keeps: the pruner on a uniform proposal
    job_progress(job, 0.9, "fitting ratio %.2f", s->in.ratio);
    Pruner p;
    if (pruner_init(&p, base, imp, &e)) goto fail;
    double *uniform = xmalloc(sizeof(double) * (size_t)imp->ngroups);
    for (int g = 0; g < imp->ngroups; g++) uniform[g] = 1;
    out->units = xmalloc(sizeof(int) * (size_t)imp->ngroups);
    int rc = pruner_fit(&p, uniform, s->in.ratio, 0.02, out->units, &out->macs_ratio, &e);
    free(uniform);
    pruner_free(&p);
    if (rc) goto fail;
    out->ratio = s->in.ratio;
  }
  unet_free(base);
  be->destroy(be);
  return;
fail:
  if (!job_cancelled(job)) job_fail(job, "%s", e.msg);  // a cancel ends the job as cancelled
  unet_free(base);
  be->destroy(be);
}

// ---- control ----

static Criterion crit_of(App *a) {
  Criterion c;
  return criterion_parse(a->ex.plan.criterion, &c) ? CRIT_TAYLOR : c;
}

static void make_key(App *a, char *key, size_t cap) {
  const Plan *p = &a->ex.plan;
  const PlanGroup *g = &p->g[a->ex.sel_group];
  snprintf(key, cap, "%s|%s|%d|%d|%d|%llu|%s", a->base.path, p->criterion, g->t0, g->t1, p->calib_n,
           (unsigned long long)p->seed, schedule_name(p->schedule));
}

static Entry *lookup(Imp *s, const char *key) {
  for (int i = 0; i < CACHE; i++)
    if (s->cache[i].used && !strcmp(s->cache[i].key, key)) return &s->cache[i];
  return NULL;
}

// Starts the job when the selected group's scores (or its keep masks) are missing.
static void request(App *a) {
  Imp *s = st(a);
  if (!a->base.ok || job_running(&s->job)) return;
  char key[sizeof s->in.key];
  make_key(a, key, sizeof key);
  const PlanGroup *g = &a->ex.plan.g[a->ex.sel_group];
  Entry *hit = lookup(s, key);
  if (hit && hit->units && fabs(hit->ratio - g->ratio) < 1e-12) return;
  // a failed or cancelled run for this very key is not retried until r
  JobState js = job_state(&s->job);
  if ((js == JOB_FAILED || js == JOB_CANCELLED) && !strcmp(s->in.key, key) && fabs(s->in.ratio - g->ratio) < 1e-12) return;
  job_reap(&s->job);
  memset(&s->in, 0, sizeof s->in);
  snprintf(s->in.key, sizeof s->in.key, "%s", key);
  snprintf(s->in.base, sizeof s->in.base, "%s", a->base.path);
  snprintf(s->in.data, sizeof s->in.data, "%s",
           a->data_arg[0] ? a->data_arg : a->base.info.data[0] ? a->base.info.data : "fashion-mnist");
  snprintf(s->in.device, sizeof s->in.device, "%s", a->device);
  s->in.threads = a->threads;
  s->in.calib_n = a->ex.plan.calib_n;
  s->in.seed = a->ex.plan.seed;
  s->in.t0 = g->t0, s->in.t1 = g->t1;
  s->in.crit = crit_of(a);
  s->in.sched = a->ex.plan.schedule;
  s->in.T = a->ex.plan.T;
  s->in.ratio = g->ratio;
  s->in.reuse = hit;
  job_start(&s->job, work, s);
}

// Moves a finished job's result into the cache.
static void tick(App *a) {
  Imp *s = a->state[VIEW_IMPORTANCE];
  if (!s) return;
  JobState js = job_state(&s->job);
  if (js == JOB_DONE) {
    job_reap(&s->job);
    Entry *dst = s->in.reuse;
    if (dst) {  // new masks for cached scores
      free(dst->units);
      dst->units = s->in.out.units, dst->ratio = s->in.out.ratio, dst->macs_ratio = s->in.out.macs_ratio;
      s->in.out.units = NULL;
    } else {
      int victim = 0;
      for (int i = 0; i < CACHE; i++) {
        if (!s->cache[i].used) { victim = i; break; }
        if (s->cache[i].stamp < s->cache[victim].stamp) victim = i;
      }
      entry_free(&s->cache[victim]);
      s->cache[victim] = s->in.out;
      memset(&s->in.out, 0, sizeof s->in.out);
      dst = &s->cache[victim];
    }
    dst->stamp = ++s->clock;
    job_lock(&s->job);
    s->job.state = JOB_IDLE;
    job_unlock(&s->job);
    a->dirty = 1;
  } else if (js == JOB_CANCELLED || js == JOB_FAILED) {
    job_reap(&s->job);
    entry_free(&s->in.out);
  }
  if (a->view == VIEW_IMPORTANCE) {
    request(a);  // the selection or the ratio may have changed
    if (job_running(&s->job)) a->dirty = 1;
  }
}

static void enter(App *a) { request(a); }

// ---- drawing ----

// Up to seven eighths, so that neighbouring rows never touch.
static const char *const LEVELS[7] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇"};

typedef struct { float score; int ch; int kept; } Chan;
static int by_score(const void *x, const void *y) {
  const Chan *a = x, *b = y;
  return a->score < b->score ? 1 : a->score > b->score ? -1 : a->ch - b->ch;
}

// One width group as a row of bars, one per channel (or per bucket of channels when
// they do not fit): height = score, pruned channels dim red.
static void draw_strip(const Entry *e, int g, int y, int x, int w, int sorted, attr_t kept_attr) {
  const Importance *imp = &e->imp;
  const int width = imp->width[g];
  Chan *c = xmalloc(sizeof(Chan) * (size_t)width);
  int *keep = xmalloc(sizeof(int) * (size_t)width);
  int nk = e->units ? importance_keep(imp, g, e->units[g], keep) : width;
  for (int k = 0; k < width; k++) c[k] = (Chan){imp->score[g][k], k, !e->units};
  for (int k = 0; e->units && k < nk; k++) c[keep[k]].kept = 1;
  if (sorted) qsort(c, (size_t)width, sizeof *c, by_score);
  // channels per cell when they do not fit, else cells per channel (up to 3, so that a
  // narrow layer is still easy to read)
  int per = (width + w - 1) / w, rep = per > 1 ? 1 : w / width > 3 ? 3 : w / width;
  for (int cell = 0; cell * per < width; cell++) {
    float best = 0;
    int any_kept = 0;
    for (int k = cell * per; k < width && k < (cell + 1) * per; k++) {
      if (c[k].score > best) best = c[k].score;
      any_kept |= c[k].kept;
    }
    int lv = (int)lroundf(best * 6);
    for (int r = 0; r < rep; r++)
      ui_text(y, x + cell * rep + r, 1, any_kept ? kept_attr : ui_attr(UI_ERR) | A_DIM, "%s", LEVELS[lv < 0 ? 0 : lv > 6 ? 6 : lv]);
  }
  free(c);
  free(keep);
}

static void draw(App *a, Rect r) {
  Imp *s = st(a);
  const Explorer *ex = &a->ex;
  const int j = ex->sel_group;
  const GroupRow *gr = &ex->row[j];
  char key[sizeof s->in.key];
  make_key(a, key, sizeof key);
  Entry *e = lookup(s, key);
  if (e) e->stamp = ++s->clock;
  char title[160];
  snprintf(title, sizeof title, "importance · group i=%d (t %d–%d) · %s", gr->index, gr->t0, gr->t1 - 1, ex->plan.criterion);
  Rect in = ui_box((Rect){r.y, r.x, r.h - 3, r.w}, title, 1);
  if (e && e->units)
    ui_box_note((Rect){r.y, r.x, r.h - 3, r.w}, ui_group_attr(j) | A_BOLD, "ratio %.2f keeps %.3f× MACs", gr->ratio, e->macs_ratio);
  // status line: progress, error, or what is shown
  JobState js = job_state(&s->job);
  job_lock(&s->job);
  double prog = s->job.progress, elapsed = now_sec() - s->job.t_start;
  char status[200], err[512];
  snprintf(status, sizeof status, "%s · %.1f s", s->job.status, elapsed);
  snprintf(err, sizeof err, "%s", s->job.error);
  job_unlock(&s->job);
  if (js == JOB_RUNNING) ui_progress(in.y, in.x + 1, in.w - 2, prog, status);
  else if (js == JOB_FAILED) ui_text(in.y, in.x + 1, in.w - 2, ui_attr(UI_ERR), "%s (r tries again)", err);
  else ui_text(in.y, in.x + 1, in.w - 2, ui_attr(UI_DIM), "bar height: score (the group's best channel = full) · %s · dim red: pruned at the ratio",
               s->sorted ? "sorted, best first" : "in channel order");
  if (!e) {
    ui_text(in.y + 2, in.x + 2, in.w - 4, ui_attr(UI_DIM), "%s", js == JOB_RUNNING ? "computing…" : "nothing computed for this group yet (r)");
    return;
  }
  const Importance *imp = &e->imp;
  const int rows = in.h - 2;
  if (s->sel >= imp->ngroups) s->sel = imp->ngroups - 1;
  if (s->sel < 0) s->sel = 0;
  if (s->sel < s->scroll) s->scroll = s->sel;
  if (s->sel >= s->scroll + rows) s->scroll = s->sel - rows + 1;
  const int name_w = 22, num_w = 12, sx = in.x + 1 + name_w + num_w;
  ui_text(in.y + 1, in.x + 1, in.w - 2, ui_attr(UI_DIM) | A_UNDERLINE, "%-*s%*s  %s", name_w, "width group", num_w - 2,
          "keep/ch", "scores");
  s->rows = (Rect){in.y + 2, in.x, rows, in.w};
  for (int k = 0; k < rows && s->scroll + k < imp->ngroups; k++) {
    int g = s->scroll + k, y = in.y + 2 + k;
    int kept = e->units ? e->units[g] * imp->unit[g] : imp->width[g];
    attr_t ta = g == s->sel ? ui_attr(UI_SEL) : ui_attr(UI_TEXT);
    if (g == s->sel) ui_hline(y, in.x, sx - in.x, ta, " ");
    ui_text(y, in.x + 1, name_w, ta, "%s", e->name[g]);
    ui_text_right(y, sx - 2, num_w, kept < imp->width[g] ? ta | A_BOLD : ta, "%d/%d", kept, imp->width[g]);
    draw_strip(e, g, y, sx, in.x + in.w - 1 - sx, s->sorted, ui_group_attr(j));
  }
  // the selected width group in words
  Rect d = ui_box((Rect){r.y + r.h - 3, r.x, 3, r.w}, e->name[s->sel], 0);
  int g = s->sel, kept = e->units ? e->units[g] * imp->unit[g] : imp->width[g];
  float lo = 1;
  for (int k = 0; k < imp->width[g]; k++) lo = fminf(lo, imp->score[g][k]);
  ui_text(d.y, d.x + 1, d.w - 2, ui_attr(UI_TEXT),
          "%d channels in %d units of %d · keeps %d (%.0f %%) · scores %.3f…1 (raw best %.3g)", imp->width[g],
          importance_units(imp, g), imp->unit[g], kept, 100.0 * kept / imp->width[g], lo, imp->scale[g]);
  if (imp->crit == CRIT_DIFF_PRUNING && imp->dp_last_t >= 0)
    ui_text_right(d.y, d.x + d.w - 1, 40, ui_attr(UI_DIM), "gradients accumulated up to t = %d", imp->dp_last_t);
}

// ---- input ----

static int key(App *a, int ch) {
  if (!a->base.ok) return 0;
  Imp *s = st(a);
  Explorer *ex = &a->ex;
  switch (ch) {
    case KEY_UP: case 'k': s->sel--; return 1;
    case KEY_DOWN: case 'j': s->sel++; return 1;
    case KEY_PPAGE: s->sel -= 10; return 1;
    case KEY_NPAGE: s->sel += 10; return 1;
    case KEY_HOME: s->sel = 0; return 1;
    case KEY_END: s->sel = 1 << 20; return 1;
    case KEY_LEFT: case '[': case 'h': explorer_select_group(ex, ex->sel_group - 1); explorer_select_bound(ex, ex->sel_group); request(a); return 1;
    case KEY_RIGHT: case ']': case 'l': explorer_select_group(ex, ex->sel_group + 1); explorer_select_bound(ex, ex->sel_group); request(a); return 1;
    case 'o': s->sorted = !s->sorted; return 1;
    case 'c': {
      static const char *const next[] = {"magnitude", "taylor", "diff-pruning", "random"};
      int i = 0;
      while (i < 4 && strcmp(next[i], ex->plan.criterion)) i++;
      app_edited(a, explorer_set_criterion(ex, next[(i + 1) % 4]));
      request(a);
      return 1;
    }
    case 'r': {  // drop this group's cached scores and compute them again
      if (job_running(&s->job)) { app_msg(a, UI_WARN, "still computing (Esc cancels)"); return 1; }
      char key[sizeof s->in.key];
      make_key(a, key, sizeof key);
      Entry *e = lookup(s, key);
      if (e) entry_free(e);
      s->in.key[0] = 0;
      job_reap(&s->job);
      job_lock(&s->job);
      s->job.state = JOB_IDLE;
      job_unlock(&s->job);
      request(a);
      return 1;
    }
    case 27:
      if (job_running(&s->job)) { job_cancel(&s->job); app_msg(a, UI_WARN, "cancelling: the scores in progress are dropped"); }
      return 1;
  }
  return 0;
}

static int mouse(App *a, const MEVENT *m) {
  Imp *s = st(a);
  if ((m->bstate & BUTTON1_PRESSED) && rect_has(s->rows, m->y, m->x)) { s->sel = s->scroll + m->y - s->rows.y; return 1; }
  if (m->bstate & BUTTON4_PRESSED) { s->sel -= 3; return 1; }
  if (m->bstate & BUTTON5_PRESSED) { s->sel += 3; return 1; }
  return 0;
}

static const KeyHint keys[] = {
  {"←→", "group", 0}, {"↑↓", "layer", 0}, {"c", "criterion", 'c'}, {"o", "sorted/order", 'o'}, {"r", "recompute", 'r'},
  {"Esc", "cancel", 27},
  {NULL, NULL, 0},
};

static void destroy(App *a, void *state) {
  Imp *s = state;
  job_destroy(&s->job);
  entry_free(&s->in.out);
  for (int i = 0; i < CACHE; i++) entry_free(&s->cache[i]);
}

static const char *const help[] = {
  "←→  [ ]\tthe timestep group (the same selection as in the Schedule view)",
  "↑↓  PgUp PgDn\tscroll the width groups",
  "c\tcriterion: magnitude, taylor, diff-pruning, random (saved in the plan)",
  "o\tchannels sorted by score, or in channel order",
  "r\tcompute the scores again;  Esc cancels",
  "\tA width group is a set of channels pruned together everywhere they appear.",
  "\tRed: what the group's MACs ratio prunes with a uniform proposal (prune's round 1).",
  NULL,
};

const View view_importance = {
  .name = "Importance", .enter = enter, .draw = draw, .key = key, .mouse = mouse, .keys = keys, .help = help,
  .tick = tick, .destroy = destroy,
  .no_model = (const char *const[]){
    "Importance", "No base model to score.",
    "This view scores every channel of the model for the selected timestep group and",
    "marks the ones its ratio would prune.",
    NULL},
};
