// loss.c — view 5: per-timestep validation loss of the base model, of the plan (each t
// predicted by its group's model) and, on request, of every group model over all t.
// Measured in the background, bin by bin (explorer_loss_bin: the same images, t and noise
// for every curve), so the curves grow while you watch and a cancel is quick.
#include "tui/explorer/app.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int n_choices[] = {32, 64, 128, 256, 512};
enum { NBINS = 40, NCHOICES = sizeof n_choices / sizeof n_choices[0], DEFAULT_N = 1, BATCH = 64 };
static const uint64_t LOSS_SEED = 1234;

typedef struct {
  Job job;
  int n_idx, log_y, show_groups;
  // results (under job.mu): NaN until measured
  double base[NBINS], sat[NBINS], group[PLAN_MAX_GROUPS][NBINS];
  // what they were measured with
  char base_key[PATH_MAX + 64];  // base model and images per bin
  Plan sat_plan;                 // plan of the sat and group curves (valid when sat_ok)
  int sat_ok, groups_ok, base_ok;
  // the running job's inputs (read by the worker only)
  struct {
    int do_base, do_sat, do_groups, n;
    char device[16], data[256], base[PATH_MAX], group[PLAN_MAX_GROUPS][PATH_MAX];
    int threads;
    Plan plan;
  } in;
  int published;  // base curve handed to the explorer (loss order)
} Loss;

static void set_nan(double *v, int n) {
  for (int i = 0; i < n; i++) v[i] = NAN;
}

static Loss *st(App *a) {
  Loss *l = a->state[VIEW_LOSS];
  if (l) return l;
  l = calloc(1, sizeof *l);
  l->n_idx = DEFAULT_N;
  l->log_y = 1;
  set_nan(l->base, NBINS), set_nan(l->sat, NBINS);
  for (int j = 0; j < PLAN_MAX_GROUPS; j++) set_nan(l->group[j], NBINS);
  job_init(&l->job, "loss", a->wake[1]);
  app_track_job(a, &l->job);
  a->state[VIEW_LOSS] = l;
  return l;
}

// ---- the worker ----

typedef struct { UNet *base, *group[PLAN_MAX_GROUPS]; const Plan *plan; int only; } Models;

static UNet *base_for(void *u, int t) { return ((Models *)u)->base; }
static UNet *sat_for(void *u, int t) {
  Models *m = u;
  UNet *g = m->group[plan_group_of(m->plan, t)];
  return g ? g : m->base;
}
static UNet *one_for(void *u, int t) { return ((Models *)u)->group[((Models *)u)->only]; }

static void work(Job *job) {
  Loss *l = job->arg;
  Err e;
  Dataset d;
  job_progress(job, 0, "loading %s", l->in.data);
  if (data_load(l->in.data, DATA_TEST, &d, &e)) { job_fail(job, "%s", e.msg); return; }
  Backend *be = backend_create(l->in.device, l->in.threads, &e);
  if (!be) { job_fail(job, "%s", e.msg); data_free(&d); return; }
  Models m = {.plan = &l->in.plan};
  m.base = ckpt_load_model(l->in.base, be, 1, NULL, &e);
  if (!m.base) goto fail;
  if (d.c != m.base->cfg.in_ch || d.h != m.base->cfg.img) {
    err_set(&e, "%s: images are %dx%dx%d, the model takes %dx%dx%d", l->in.data, d.c, d.h, d.w, m.base->cfg.in_ch,
            m.base->cfg.img, m.base->cfg.img);
    goto fail;
  }
  for (int j = 0; j < l->in.plan.ngroups; j++) {
    if (!l->in.group[j][0]) continue;
    if (!(m.group[j] = ckpt_load_model(l->in.group[j], be, 1, NULL, &e))) goto fail;
    unet_share_arena(m.group[j], m.base);  // they run in turn: one arena, warmed up once
  }
  Schedule s;
  schedule_init(&s, l->in.plan.schedule, l->in.plan.T);
  // the curves to measure, in order: base, SAT, each group model
  int ngm = 0;
  for (int j = 0; j < l->in.plan.ngroups; j++) ngm += m.group[j] != NULL;
  const int total = NBINS * (l->in.do_base + l->in.do_sat + (l->in.do_groups ? ngm : 0));
  int done = 0;
  for (int c = 0; c < 2 + PLAN_MAX_GROUPS && !job_cancelled(job); c++) {
    ModelForT fn;
    double *out;
    const char *what;
    char name[64];
    if (c == 0) { if (!l->in.do_base) continue; fn = base_for, out = l->base, what = "base model"; }
    else if (c == 1) { if (!l->in.do_sat) continue; fn = sat_for, out = l->sat, what = "SAT plan"; }
    else {
      int j = c - 2;
      if (!l->in.do_groups || j >= l->in.plan.ngroups || !m.group[j]) continue;
      m.only = j, fn = one_for, out = l->group[j];
      snprintf(name, sizeof name, "group i=%d's model", l->in.plan.ngroups - j);
      what = name;
    }
    for (int b = 0; b < NBINS && !job_cancelled(job); b++) {
      double v = explorer_loss_bin(fn, &m, &s, &d, l->in.n, b, NBINS, LOSS_SEED, BATCH);
      job_lock(job);
      out[b] = v;
      job_unlock(job);
      done++;
      job_progress(job, (double)done / total, "%s: t bin %d/%d", what, b + 1, NBINS);
    }
  }
  schedule_free(&s);
  goto out;
fail:
  job_fail(job, "%s", e.msg);
out:
  for (int j = 0; j < PLAN_MAX_GROUPS; j++) unet_free(m.group[j]);
  unet_free(m.base);
  be->destroy(be);
  data_free(&d);
}

// ---- control ----

static int any_group_model(App *a) {
  for (int j = 0; j < a->ex.plan.ngroups; j++)
    if (a->group[j].ok) return 1;
  return 0;
}

static int same_groups(const Plan *x, const Plan *y) {
  if (x->ngroups != y->ngroups || x->T != y->T || x->schedule != y->schedule) return 0;
  for (int j = 0; j < x->ngroups; j++)
    if (x->g[j].t0 != y->g[j].t0 || x->g[j].t1 != y->g[j].t1 || strcmp(x->g[j].model, y->g[j].model)) return 0;
  return 1;
}

static void make_key(App *a, Loss *l, char *key, size_t cap) {
  snprintf(key, cap, "%s|%d|%s", a->base.path, n_choices[l->n_idx], schedule_name(a->ex.plan.schedule));
}

// Starts what is missing (force: everything again).
static void measure(App *a, int force) {
  Loss *l = st(a);
  if (!a->base.ok || job_running(&l->job)) return;
  char key[sizeof l->base_key];
  make_key(a, l, key, sizeof key);
  int do_base = force || !l->base_ok || strcmp(key, l->base_key);
  int groups = any_group_model(a);
  int do_sat = groups && (force || do_base || !l->sat_ok || !same_groups(&l->sat_plan, &a->ex.plan));
  int do_groups = groups && l->show_groups && (force || do_base || do_sat || !l->groups_ok);
  if (!do_base && !do_sat && !do_groups) return;
  job_reap(&l->job);
  job_lock(&l->job);
  if (do_base) set_nan(l->base, NBINS);
  if (do_sat || !groups) set_nan(l->sat, NBINS);
  if (do_groups || do_sat || !groups)
    for (int j = 0; j < PLAN_MAX_GROUPS; j++) set_nan(l->group[j], NBINS);
  job_unlock(&l->job);
  l->in.do_base = do_base, l->in.do_sat = do_sat, l->in.do_groups = do_groups;
  l->in.n = n_choices[l->n_idx];
  snprintf(l->in.device, sizeof l->in.device, "%s", a->device);
  snprintf(l->in.data, sizeof l->in.data, "%s",
           a->data_arg[0] ? a->data_arg : a->base.info.data[0] ? a->base.info.data : "fashion-mnist");
  snprintf(l->in.base, sizeof l->in.base, "%s", a->base.path);
  l->in.threads = a->threads;
  l->in.plan = a->ex.plan;
  for (int j = 0; j < PLAN_MAX_GROUPS; j++)
    snprintf(l->in.group[j], sizeof l->in.group[j], "%s", j < a->ex.plan.ngroups && a->group[j].ok ? a->group[j].path : "");
  snprintf(l->base_key, sizeof l->base_key, "%s", key);
  l->sat_plan = a->ex.plan;
  if (do_base) l->base_ok = 0, l->published = 0;
  if (do_sat) l->sat_ok = 0;
  if (do_groups) l->groups_ok = 0;
  job_start(&l->job, work, l);
}

static void enter(App *a) { measure(a, 0); }

static void tick(App *a) {
  Loss *l = a->state[VIEW_LOSS];
  if (!l) return;
  JobState s = job_state(&l->job);
  if (s == JOB_DONE) {
    job_reap(&l->job);
    l->base_ok = 1;
    l->sat_ok = l->in.do_sat || l->sat_ok;
    l->groups_ok = l->in.do_groups || l->groups_ok;
    job_lock(&l->job);
    l->job.state = JOB_IDLE;  // handled
    job_unlock(&l->job);
    a->dirty = 1;
  }
  // the base curve feeds the "loss" ratio order of the Schedule view
  if (l->base_ok && !l->published) {
    const int T = a->ex.plan.T;
    if (!a->loss_per_t) a->loss_per_t = xmalloc(sizeof(double) * (size_t)T);
    for (int t = 0; t < T; t++) a->loss_per_t[t] = l->base[(long)t * NBINS / T];
    a->ex.loss_per_t = a->loss_per_t;
    l->published = 1;
  }
  if (a->view == VIEW_LOSS && s == JOB_RUNNING) a->dirty = 1;
}

// ---- drawing ----

static void bins_x(double *x, int T) {
  for (int b = 0; b < NBINS; b++) x[b] = ((double)b + 0.5) * T / NBINS - 0.5;
}

// Mean of the bins whose centre lies in [t0, t1).
static double mean_in(const double *v, int T, int t0, int t1) {
  double s = 0;
  int n = 0;
  for (int b = 0; b < NBINS; b++) {
    double c = ((double)b + 0.5) * T / NBINS;
    if (c >= t0 && c < t1 && isfinite(v[b])) s += v[b], n++;
  }
  return n ? s / n : NAN;
}

static void draw(App *a, Rect r) {
  Loss *l = st(a);
  const Plan *p = &a->ex.plan;
  const int T = p->T;
  double base[NBINS], sat[NBINS], grp[PLAN_MAX_GROUPS][NBINS];
  job_lock(&l->job);
  memcpy(base, l->base, sizeof base);
  memcpy(sat, l->sat, sizeof sat);
  memcpy(grp, l->group, sizeof grp);
  JobState js = l->job.state;
  double prog = l->job.progress;
  char status[160], error[512];
  snprintf(status, sizeof status, "%s", l->job.status);
  snprintf(error, sizeof error, "%s", l->job.error);
  job_unlock(&l->job);
  const int groups = any_group_model(a);
  const int stale = l->sat_ok && groups && !same_groups(&l->sat_plan, p);

  const int table_h = p->ngroups + 4 < r.h / 3 ? p->ngroups + 4 : r.h / 3;
  Rect box = {r.y, r.x, r.h - table_h, r.w};
  char title[400];
  snprintf(title, sizeof title, "validation loss per timestep · %d images × %d bins · %s", n_choices[l->n_idx], NBINS,
           l->in.data[0] ? l->in.data : "held-out set");
  Rect in = ui_box(box, title, 1);
  // legend (and progress) on the first line
  int x = in.x + 1;
  x += ui_text(in.y, x, in.w - 2, ui_attr(UI_TITLE), "━━ base model  ");
  if (groups) {
    x += ui_text(in.y, x, in.x + in.w - x, ui_attr(UI_ACCENT), "━━ SAT plan%s  ", stale ? " (plan edited: r re-measures)" : "");
    if (l->show_groups) x += ui_text(in.y, x, in.x + in.w - x, ui_attr(UI_DIM), "── each group model over all t  ");
  } else {
    x += ui_text(in.y, x, in.x + in.w - x, ui_attr(UI_DIM), "no group models in the plan yet (view 4 makes them)  ");
  }
  if (js == JOB_RUNNING) ui_progress(in.y + 1, in.x + 1, in.w - 2, prog, status);
  else if (js == JOB_FAILED) ui_text(in.y + 1, in.x + 1, in.w - 2, ui_attr(UI_ERR), "%s", error);
  else if (js == JOB_CANCELLED) ui_text(in.y + 1, in.x + 1, in.w - 2, ui_attr(UI_WARN), "cancelled — r measures again");
  else ui_text(in.y + 1, in.x + 1, in.w - 2, ui_attr(UI_DIM), "eps-MSE on held-out images, the same images, t and noise for every curve · %s y axis",
               l->log_y ? "log" : "linear");
  // y range over everything measured
  double lo = INFINITY, hi = -INFINITY;
  for (int b = 0; b < NBINS; b++) {
    const double *v[2] = {base, sat};
    for (int k = 0; k < 2; k++)
      if (isfinite(v[k][b]) && v[k][b] > 0) lo = fmin(lo, v[k][b]), hi = fmax(hi, v[k][b]);
    if (l->show_groups)
      for (int j = 0; j < p->ngroups; j++)
        if (isfinite(grp[j][b]) && grp[j][b] > 0) lo = fmin(lo, grp[j][b]), hi = fmax(hi, grp[j][b]);
  }
  Rect pr = {in.y + 2, in.x, in.h - 2, in.w - 1};
  if (!isfinite(lo)) {
    ui_text(pr.y + pr.h / 2, in.x + 2, in.w - 4, ui_attr(UI_DIM), "%s",
            js == JOB_RUNNING ? "measuring…" : "nothing measured yet: r measures");
  } else {
    Plot pl;
    double y0, y1;
    // log axis: whole decades when the curves span one or more, labelled 1e-03 and so on
    int ny = pr.h / 3 > 2 ? pr.h / 3 : 2;
    const char *yfmt = "%.3g";
    if (l->log_y) {
      y0 = floor(log10(lo) * 4) / 4, y1 = ceil(log10(hi) * 4) / 4;
      if (floor(log10(lo)) < floor(log10(hi))) {
        y0 = floor(log10(lo)), y1 = ceil(log10(hi));
        int dec = (int)(y1 - y0), step = 1;
        while (dec / step + 1 > (pr.h - 2) / 2 + 1) step++;
        y1 = y0 + ceil((double)dec / step) * step;
        ny = (int)((y1 - y0) / step) + 1;
        yfmt = "%.0e";
      }
    } else {
      y0 = 0, y1 = hi * 1.05;
    }
    if (y1 <= y0) y1 = y0 + (l->log_y ? 0.25 : 1);
    plot_begin(&pl, pr, 0, T - 1, y0, y1, yfmt, l->log_y, ny, in.w >= 90 ? 100 : 200, "%.0f");
    if (pl.area.w) {
      double xs[NBINS], ys[NBINS];
      bins_x(xs, T);
      for (int j = 0; j + 1 < p->ngroups; j++) plot_vline(&pl, p->g[j].t1 - 0.5, 1, ui_attr(UI_DIM));
#define TRANSFORM(src) for (int b = 0; b < NBINS; b++) ys[b] = l->log_y ? (src[b] > 0 ? log10(src[b]) : NAN) : src[b]
      if (l->show_groups)
        for (int j = 0; j < p->ngroups; j++) { TRANSFORM(grp[j]); plot_curve(&pl, xs, ys, NBINS, ui_group_attr(j) | A_DIM); }
      TRANSFORM(base);
      plot_curve(&pl, xs, ys, NBINS, ui_attr(UI_TITLE));
      if (groups) { TRANSFORM(sat); plot_curve(&pl, xs, ys, NBINS, ui_attr(UI_ACCENT)); }
#undef TRANSFORM
      plot_end(&pl);
      for (int j = 0; j < p->ngroups; j++) {  // group numbers along the top
        int c0 = pl.area.x + plot_px(&pl, p->g[j].t0) / 2, c1 = pl.area.x + plot_px(&pl, p->g[j].t1 - 1) / 2;
        char lab[16];
        snprintf(lab, sizeof lab, c1 - c0 >= 5 ? "i=%d" : "%d", p->ngroups - j);
        int w = ui_cols(lab);
        if (c1 - c0 + 1 >= w) ui_text(pl.area.y, (c0 + c1 + 1 - w) / 2, w, ui_group_attr(j), "%s", lab);
      }
      ui_text_right(pl.area.y + pl.area.h + 1, in.x + in.w, 3, ui_attr(UI_DIM), " t");
    }
  }
  // per group: mean loss of base and plan on the group's own timesteps
  Rect tb = ui_box((Rect){r.y + r.h - table_h, r.x, table_h, r.w}, "mean loss on each group's own timesteps", 0);
  Col cols[] = {{"i", 3, 1}, {"t range", 9, 0}, {"base", 9, 1}, {"SAT", 9, 1}, {"change", 8, 1}, {"group model", 30, 0}};
  ui_row(tb.y, tb.x + 1, cols, 6, NULL, ui_attr(UI_DIM) | A_UNDERLINE);
  for (int j = 0, row = 0; j < p->ngroups && row < tb.h - 1; j++, row++) {
    const GroupRow *g = &a->ex.row[j];
    double mb = mean_in(base, T, g->t0, g->t1), ms = mean_in(sat, T, g->t0, g->t1);
    char c[6][64];
    snprintf(c[0], 64, "%d", g->index);
    snprintf(c[1], 64, "%d–%d", g->t0, g->t1 - 1);
    snprintf(c[2], 64, isfinite(mb) ? "%.4f" : "—", mb);
    snprintf(c[3], 64, groups && isfinite(ms) ? "%.4f" : "—", ms);
    snprintf(c[4], 64, groups && isfinite(ms) && isfinite(mb) && mb > 0 ? "%+.1f %%" : "", 100 * (ms / mb - 1));
    snprintf(c[5], 64, "%s", a->group[j].ok ? app_basename(a->group[j].path) : "— (base)");
    const char *cells[6] = {c[0], c[1], c[2], c[3], c[4], c[5]};
    ui_text(tb.y + 1 + row, tb.x, 1, ui_group_attr(j), "▌");
    ui_row(tb.y + 1 + row, tb.x + 1, cols, 6, cells, ui_attr(UI_TEXT));
  }
}

// ---- input ----

static int key(App *a, int ch) {
  if (!a->base.ok) return 0;
  Loss *l = st(a);
  switch (ch) {
    case 'r': job_stop(&l->job); measure(a, 1); return 1;
    case 'c': case 27:
      if (job_running(&l->job)) { job_cancel(&l->job); app_msg(a, UI_WARN, "loss measurement cancelled"); }
      return 1;
    case 'l': l->log_y = !l->log_y; return 1;
    case 'a':
      l->show_groups = !l->show_groups;
      if (l->show_groups && !any_group_model(a)) app_msg(a, UI_WARN, "the plan has no group models yet: view 4 makes them");
      else if (l->show_groups) measure(a, 0);
      return 1;
    case 'n':
      job_stop(&l->job);
      l->n_idx = (l->n_idx + 1) % NCHOICES;
      app_msg(a, UI_OK, "%d images per timestep bin", n_choices[l->n_idx]);
      measure(a, 0);
      return 1;
  }
  return 0;
}

static const KeyHint keys[] = {
  {"r", "measure", 'r'}, {"c", "cancel", 'c'}, {"a", "group curves", 'a'}, {"l", "log/linear", 'l'}, {"n", "images/bin", 'n'},
  {NULL, NULL, 0},
};

static void destroy(App *a, void *state) { job_destroy(&((Loss *)state)->job); }

static const char *const help[] = {
  "r\tmeasure again (everything)",
  "c  Esc\tcancel the measurement",
  "a\talso plot each group model over all t (dim, in its group's colour)",
  "l\tlog or linear loss axis",
  "n\timages per timestep bin: 32 .. 512 (more: smoother, slower)",
  "\tThe base curve also drives the 'loss' ratio order of the Schedule view (o).",
  "\tA plan edit makes the SAT curve stale: entering the view or r measures it again.",
  NULL,
};

const View view_loss = {
  .name = "Loss", .enter = enter, .draw = draw, .key = key, .keys = keys, .help = help,
  .tick = tick, .destroy = destroy,
  .no_model = (const char *const[]){
    "Loss", "No base model to measure.",
    "This view plots each model's denoising loss per timestep on held-out images.",
    NULL},
};
