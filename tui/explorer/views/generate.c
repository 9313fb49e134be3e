// generate.c — view 3: watch the denoiser at work. Two samplers run from the same seed,
// one with the base model at every step, one with the plan's group models (the model of
// the group holding t), each on its own worker thread with its own backend. The UI is
// their clock: a worker may run step i only once the UI has raised `target` above i, which
// it does for both together (lockstep), at the chosen speed, or one step at a time. Here:
// the clock, the screen and the keys; the samplers are generate_worker.c.
#include "engine/image.h"
#include "engine/png_io.h"
#include "tui/explorer/views/generate.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int delays_ms[] = {0, 10, 30, 60, 120, 250, 500, 1000};
enum { NDELAYS = sizeof delays_ms / sizeof delays_ms[0], DEFAULT_DELAY = 2 };
static const int ddim_choices[] = {10, 20, 25, 50, 100, 250, 500, 1000};
enum { NDDIM = sizeof ddim_choices / sizeof ddim_choices[0] };
static const int batch_choices[] = {1, 4, 9, 16};

static Gen *st(App *a) {
  Gen *g = a->state[VIEW_GENERATE];
  if (g) return g;
  g = calloc(1, sizeof *g);
  g->kind = SAMPLER_DDIM;
  g->ddim_steps = 50;
  g->delay = DEFAULT_DELAY;
  g->batch_idx = 1;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  static const char *const names[NSIDES] = {"base sampler", "SAT sampler"};
  for (int s = 0; s < NSIDES; s++) {
    g->w[s] = (Worker){g, s, {0}};
    job_init(&g->w[s].job, names[s], a->wake[1]);
    app_track_job(a, &g->w[s].job);
  }
  a->state[VIEW_GENERATE] = g;
  return g;
}

// ---- control (UI thread) ----

static void stop(Gen *g) {
  for (int s = 0; s < NSIDES; s++) job_cancel(&g->w[s].job);
  pthread_mutex_lock(&g->mu);
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
  for (int s = 0; s < NSIDES; s++) job_stop(&g->w[s].job);
}

static void start(App *a) {
  Gen *g = st(a);
  stop(g);
  if (!a->base.ok) return;
  g->plan = a->ex.plan;
  snprintf(g->base_path, sizeof g->base_path, "%s", a->base.path);
  for (int j = 0; j < PLAN_MAX_GROUPS; j++)
    snprintf(g->group_path[j], sizeof g->group_path[j], "%s", j < g->plan.ngroups && a->group[j].ok ? a->group[j].path : "");
  snprintf(g->device, sizeof g->device, "%s", a->device);
  g->threads = a->threads;
  g->B = batch_choices[g->batch_idx];
  g->C = a->base.cfg.in_ch, g->H = g->W = a->base.cfg.img;
  // The sampler must use the noise schedule the model was trained with.
  if (schedule_parse(a->base.info.schedule, &g->sched)) g->sched = g->plan.schedule;
  const size_t n = (size_t)g->B * g->C * g->H * g->W;
  pthread_mutex_lock(&g->mu);
  for (int s = 0; s < NSIDES; s++) {
    Frame *f = &g->f[s];
    free(f->x), free(f->x0);
    *f = (Frame){.x = xcalloc(n, sizeof(float)), .x0 = xcalloc(n, sizeof(float)), .group = -1, .seq = 1};
    for (size_t k = 0; k < n; k++) f->x0[k] = -1;
    f->nsteps = g->kind == SAMPLER_DDPM ? g->plan.T : g->ddim_steps;
    g->shown[s] = 0;
  }
  g->target = g->paused ? 0 : 1;
  pthread_mutex_unlock(&g->mu);
  g->last_advance = now_sec();
  g->plan_gen = a->plan_gen;
  g->started = 1;
  for (int s = 0; s < NSIDES; s++) job_start(&g->w[s].job, gen_work, &g->w[s]);
}

// Raises target when both samplers have caught up with it and the step delay has passed.
static void tick(App *a) {
  Gen *g = a->state[VIEW_GENERATE];
  if (!g) return;
  for (int s = 0; s < NSIDES; s++) job_reap(&g->w[s].job);
  if (!g->started) return;
  pthread_mutex_lock(&g->mu);
  int done = g->f[BASE].step < g->f[SAT].step ? g->f[BASE].step : g->f[SAT].step;
  for (int s = 0; s < NSIDES; s++)  // a sampler that stopped does not hold the other back
    if (job_state(&g->w[s].job) != JOB_RUNNING) done = g->f[1 - s].step;
  int changed = g->f[BASE].seq != g->shown[BASE] || g->f[SAT].seq != g->shown[SAT];
  double now = now_sec();
  if (!g->paused && done >= g->target && (now - g->last_advance) * 1000 >= delays_ms[g->delay]) {
    g->target = done + 1;
    g->last_advance = now;
    pthread_cond_broadcast(&g->cv);
  }
  pthread_mutex_unlock(&g->mu);
  if (changed && a->view == VIEW_GENERATE) a->dirty = 1;
  // a plan edit (undo, load) while watching: run again with the new plan
  if (a->view == VIEW_GENERATE && g->plan_gen != a->plan_gen) start(a);
}

static void enter(App *a) {
  Gen *g = st(a);
  if (a->base.ok && (!g->started || g->plan_gen != a->plan_gen)) start(a);
}

static void single_step(App *a) {
  Gen *g = st(a);
  g->paused = 1;
  pthread_mutex_lock(&g->mu);
  int done = g->f[BASE].step < g->f[SAT].step ? g->f[BASE].step : g->f[SAT].step;
  g->target = done + 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

// ---- drawing ----

// Copies the latest frames and turns them into 8-bit grids (only when they changed).
static void refresh_pixels(Gen *g) {
  const size_t n = (size_t)g->B * g->C * g->H * g->W;
  float *x = xmalloc(sizeof(float) * n), *x0 = xmalloc(sizeof(float) * n);
  for (int s = 0; s < NSIDES; s++) {
    pthread_mutex_lock(&g->mu);
    int fresh = g->f[s].seq != g->shown[s] && g->f[s].x;
    if (fresh) {
      memcpy(x, g->f[s].x, sizeof(float) * n);
      memcpy(x0, g->f[s].x0, sizeof(float) * n);
      g->shown[s] = g->f[s].seq;
    }
    pthread_mutex_unlock(&g->mu);
    if (!fresh) continue;
    for (int k = 0; k < 2; k++) {
      free(g->px[s][k]);
      image_grid(k ? x0 : x, g->B, g->C, g->H, g->W, 0, 2, &g->px[s][k], &g->gw, &g->gh);
      g->key[s][k] = ++g->key_seq;
    }
  }
  free(x);
  free(x0);
}

// The run's path from t = T-1 (left) to 0 (right): groups in their colours, the part
// already sampled bright, the current t marked.
static void draw_timeline(App *a, Gen *g, int y, int x, int w, int t_now, int started) {
  const Plan *p = &g->plan;
  for (int c = 0; c < w; c++) {
    int t = (int)((double)(w - 1 - c) / (w > 1 ? w - 1 : 1) * (p->T - 1) + 0.5);
    int j = plan_group_of(p, t);
    int past = started && t >= t_now;
    ui_text(y, x + c, 1, ui_group_attr(j) | (past ? A_BOLD : A_DIM), "%s", past ? "━" : "─");
  }
  if (started) {
    int c = (int)lround((double)(p->T - 1 - t_now) / (p->T - 1) * (w - 1));
    ui_text(y, x + c, 1, ui_attr(UI_TITLE), "●");
  }
}

static void draw_side(App *a, Gen *g, int s, Rect box) {
  pthread_mutex_lock(&g->mu);
  Frame f = g->f[s];
  pthread_mutex_unlock(&g->mu);
  char title[160];
  if (s == BASE) snprintf(title, sizeof title, "base model · %s", app_basename(g->base_path));
  else snprintf(title, sizeof title, "SAT · %d groups · %s", g->plan.ngroups, a->plan_path[0] ? app_basename(a->plan_path) : "built-in plan");
  Rect in = ui_box(box, title, 1);
  if (in.h < 6) return;
  Job *job = &g->w[s].job;
  JobState js = job_state(job);
  // status lines at the bottom
  int y = in.y + in.h - 2;
  if (f.step == f.nsteps && f.nsteps > 0)
    ui_text(y, in.x + 1, in.w - 2, ui_attr(UI_TEXT), "done: %d steps · last t = %d · %.1f ms/step", f.nsteps, f.t, f.ms);
  else
    ui_text(y, in.x + 1, in.w - 2, ui_attr(UI_TEXT), "step %d/%d · t = %d · %.1f ms/step", f.step, f.nsteps, f.t, f.ms);
  if (s == SAT) {
    int j = f.group >= 0 ? f.group : plan_group_of(&g->plan, f.t);
    double ratio = a->base.macs > 0 && f.macs > 0 ? f.macs / a->base.macs : 1;
    if (g->group_path[j][0])
      ui_text(y + 1, in.x + 1, in.w - 2, ui_group_attr(j) | A_BOLD, "group i=%d · %s · %.2f× MACs", g->plan.ngroups - j,
              f.model[0] ? f.model : "…", ratio);
    else
      ui_text(y + 1, in.x + 1, in.w - 2, ui_group_attr(j) | A_BOLD, "group i=%d · no group model yet: the base runs", g->plan.ngroups - j);
  } else {
    ui_text(y + 1, in.x + 1, in.w - 2, ui_attr(UI_DIM), "%s · every step", f.model[0] ? f.model : "…");
  }
  if (js == JOB_FAILED) {
    job_lock(job);
    ui_text(in.y + 1, in.x + 1, in.w - 2, ui_attr(UI_ERR), "%s", job->error);
    job_unlock(job);
    return;
  }
  // the two grids side by side: x_t and x0-hat
  int iw = (in.w - 3) / 2, ih = in.h - 4;
  const char *lab[2] = {"x_t", "x̂₀ (predicted)"};
  for (int k = 0; k < 2; k++) {
    Rect r = {in.y + 1, in.x + 1 + k * (iw + 1), ih, iw};
    if (!g->px[s][k]) continue;
    Rect at = app_image(a, s * 2 + k, r, g->px[s][k], g->gw, g->gh, g->C, g->key[s][k]);
    if (at.h && at.h < r.h - 2) {  // a third of the free height above the pictures
      int y = r.y + (r.h - at.h) / 3;
      at = app_image_move(a, s * 2 + k, y, at.x);
      ui_text(y - 1, r.x + (iw - ui_cols(lab[k])) / 2, iw, ui_attr(UI_DIM), "%s", lab[k]);
    }
    if (!at.h) ui_text(in.y, r.x + (iw - ui_cols(lab[k])) / 2, iw, ui_attr(UI_DIM), "%s", lab[k]);
    if (at.h && at.h >= r.h - 2) ui_text(in.y, r.x + (iw - ui_cols(lab[k])) / 2, iw, ui_attr(UI_DIM), "%s", lab[k]);
    if (!at.h && !app_images_on(a))
      ui_text(r.y + r.h / 2, r.x, r.w, ui_attr(UI_DIM), "%*s", (r.w + 22) / 2, "(--graphics none)");
    else if (!at.h && !a->help_open && !a->dlg.kind)
      ui_text(r.y + r.h / 2, r.x, r.w, ui_attr(UI_DIM), "%*s", (r.w + 10) / 2, "(no room)");
  }
}

static void draw(App *a, Rect r) {
  Gen *g = st(a);
  refresh_pixels(g);
  const int bottom = 4;
  int w0 = r.w / 2;
  draw_side(a, g, BASE, (Rect){r.y, r.x, r.h - bottom, w0});
  draw_side(a, g, SAT, (Rect){r.y, r.x + w0, r.h - bottom, r.w - w0});
  // the run
  Rect in = ui_box((Rect){r.y + r.h - bottom, r.x, bottom, r.w}, "run", 0);
  pthread_mutex_lock(&g->mu);
  int t_now = g->f[SAT].t, step = g->f[SAT].step < g->f[BASE].step ? g->f[SAT].step : g->f[BASE].step;
  int nsteps = g->f[BASE].nsteps;
  pthread_mutex_unlock(&g->mu);
  int running = job_running(&g->w[BASE].job) || job_running(&g->w[SAT].job);
  char speed[32];
  if (delays_ms[g->delay]) snprintf(speed, sizeof speed, "%d ms/step", delays_ms[g->delay]);
  else snprintf(speed, sizeof speed, "full speed");
  const char *state = !running ? (step >= nsteps && nsteps > 0 ? "done" : "stopped") : g->paused ? "paused" : "playing";
  int x = in.x + 1;
  x += ui_text(in.y, x, in.w - 2, ui_attr(UI_TITLE), "%s ", state);
  x += ui_text(in.y, x, in.x + in.w - x, ui_attr(UI_TEXT), "· %s %d steps%s · seed %llu · %d images · %s",
               sampler_name(g->kind), g->kind == SAMPLER_DDPM ? g->plan.T : g->ddim_steps,
               g->kind == SAMPLER_DDIM ? " (trailing, η 0)" : "", (unsigned long long)g->seed, batch_choices[g->batch_idx], speed);
  ui_text(in.y + 1, in.x + 1, 9, ui_attr(UI_DIM), "t = %4d", t_now);
  draw_timeline(a, g, in.y + 1, in.x + 11, in.w - 13, t_now, step > 0);
}

// ---- input ----

static void save_answer(App *a, const char *path) {
  Gen *g = st(a);
  if (!path[0] || !g->started) return;
  // rows: the base model's samples, then the plan's (the current x: x0 once done)
  const size_t n = (size_t)g->B * g->C * g->H * g->W;
  float *x = xmalloc(sizeof(float) * 2 * n);
  pthread_mutex_lock(&g->mu);
  memcpy(x, g->f[BASE].x, sizeof(float) * n);
  memcpy(x + n, g->f[SAT].x, sizeof(float) * n);
  int step = g->f[BASE].step, nsteps = g->f[BASE].nsteps;
  pthread_mutex_unlock(&g->mu);
  uint8_t *px;
  int w, h;
  image_grid(x, 2 * g->B, g->C, g->H, g->W, g->B, 2, &px, &w, &h);
  char seed[32], steps[32], sampler[64], at[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)g->seed);
  snprintf(steps, sizeof steps, "%d", nsteps);
  snprintf(sampler, sizeof sampler, "%s%s", sampler_name(g->kind), g->kind == SAMPLER_DDIM ? " trailing eta=0" : "");
  snprintf(at, sizeof at, "%d/%d", step, nsteps);
  const char *text[] = {"seed", seed, "model", g->base_path, "plan", a->plan_path[0] ? a->plan_path : "built-in",
                        "sampler", sampler, "steps", steps, "step", at, "rows", "base model; SAT plan", NULL};
  Err e;
  if (png_write(path, px, w, h, g->C, text, &e)) app_msg(a, UI_ERR, "%s", e.msg);
  else app_msg(a, UI_OK, "saved %s (%dx%d: base model above, SAT plan below, step %d/%d)", path, w, h, step, nsteps);
  free(px);
  free(x);
}

static int key(App *a, int ch) {
  if (!a->base.ok) return 0;
  Gen *g = st(a);
  switch (ch) {
    case ' ': case 'p':
      g->paused = !g->paused;
      if (!g->paused) g->last_advance = 0;
      if (!job_running(&g->w[BASE].job) && !g->paused) start(a);
      return 1;
    case 'n': case KEY_RIGHT: case '.':
      if (!job_running(&g->w[BASE].job)) { g->paused = 1; start(a); }
      single_step(a);
      return 1;
    case '+': case '=': if (g->delay > 0) g->delay--; return 1;
    case '-': case '_': if (g->delay < NDELAYS - 1) g->delay++; return 1;
    case 'r': start(a); return 1;
    case 'N': g->seed += (uint64_t)batch_choices[g->batch_idx]; start(a); return 1;
    case 'd': g->kind = g->kind == SAMPLER_DDIM ? SAMPLER_DDPM : SAMPLER_DDIM; start(a); return 1;
    case '[': case ']': {
      int k = 0;
      while (k < NDDIM - 1 && ddim_choices[k] < g->ddim_steps) k++;
      k += ch == ']' ? 1 : -1;
      g->ddim_steps = ddim_choices[k < 0 ? 0 : k >= NDDIM ? NDDIM - 1 : k];
      if (g->kind == SAMPLER_DDPM) g->kind = SAMPLER_DDIM;
      start(a);
      return 1;
    }
    case 'b': g->batch_idx = (g->batch_idx + 1) % 4; start(a); app_wipe(a); return 1;
    case 's': {
      char name[96];
      snprintf(name, sizeof name, "stepscope-seed%llu-%s.png", (unsigned long long)g->seed, sampler_name(g->kind));
      app_input(a, "save grid", "Save the grid (base model above, SAT plan below) as PNG:", name, save_answer);
      return 1;
    }
  }
  return 0;
}

static const KeyHint keys[] = {
  {"space", "play/pause", ' '}, {"n", "step", 'n'}, {"+-", "speed", 0}, {"r", "restart", 'r'},
  {"N", "new seed", 'N'}, {"d", "ddpm/ddim", 'd'}, {"[]", "steps", 0}, {"b", "batch", 'b'}, {"s", "save png", 's'},
  {NULL, NULL, 0},
};

static void destroy(App *a, void *state) {
  Gen *g = state;
  stop(g);
  for (int s = 0; s < NSIDES; s++) {
    job_destroy(&g->w[s].job);
    free(g->f[s].x), free(g->f[s].x0);
    free(g->px[s][0]), free(g->px[s][1]);
  }
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
}

static const char *const help[] = {
  "space  p\tplay, pause",
  "n  →  .\tone step (pauses)",
  "+  -\tfaster, slower (full speed .. 1 s per step)",
  "r\trestart from the same seed;  N: the next seed",
  "d\tsampler: DDIM or DDPM (all T steps)",
  "[  ]\tfewer, more DDIM steps",
  "b\timages per grid: 1, 4, 9, 16",
  "s\tsave both grids as one PNG (seed, model, sampler in its text chunks)",
  "\tLeft the base model at every step, right the plan: the model of the group holding t.",
  "\tBoth start from the same noise (same seed), so any difference is the group models'.",
  NULL,
};

const View view_generate = {
  .name = "Generate", .enter = enter, .draw = draw, .key = key, .keys = keys, .help = help,
  .tick = tick, .destroy = destroy,
  .no_model = (const char *const[]){
    "Generate", "No base model to sample from.",
    "This view samples the base model and the plan (its group models) side by side.",
    NULL},
};
