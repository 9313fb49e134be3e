// cmd_sample.c — `stepscope sample`: draws images from a checkpoint into a PNG grid and,
// with --show, in the terminal; with --every K you watch noise turn into images.
//
// Image i of a run comes from the noise stream seed + i (engine/sampler.h), so the grid does
// not depend on --batch, and any cell can be drawn again alone with --seed SEED+i --n 1.
//
// The live view is drawn inline, below the command line, not on an alternate screen: the
// rows it needs are reserved once by printing newlines (which scrolls the terminal if it
// must), and every frame is then drawn relative to the cursor, which rests on the status
// line under the image (so a key echoed by the terminal, ^C say, lands there and not on
// the picture). Each frame is one write: synchronized output on, cursor saved, up to the
// image's corner, the image, cursor restored, the status line, synchronized output off.
#include "engine/checkpoint.h"
#include "engine/image.h"
#include "engine/png_io.h"
#include "engine/sampler.h"
#include "engine/sat/plan_models.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/progress.h"
#include "tui/termgfx/term_image.h"
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

// ---- the model as the sampler's EpsSplit, timed ----

typedef struct {
  UNet *m;
  PlanModels *pm; // with --plan: the model of the group holding t runs at t
  long calls;     // forward passes (each over one batch)
  double sec;     // time the sampler spent in them (waiting included, the overlap not)
} Model;

static int model_begin(void *user, int t, const float *x, int B, Err *e) {
  Model *md = user;
  double t0 = now_sec();
  if (md->pm) plan_models_split.begin(md->pm, t, x, B, e);
  else unet_eps_begin(md->m, t, x, B);
  md->sec += now_sec() - t0;
  md->calls++;
  return 0;
}

static int model_finish(void *user, float *eps, Err *e) {
  Model *md = user;
  double t0 = now_sec();
  if (md->pm) plan_models_split.finish(md->pm, eps, e);
  else unet_eps_finish(md->m, eps);
  md->sec += now_sec() - t0;
  return 0;
}

static const EpsSplit model_split = {model_begin, model_finish};

// ---- the terminal view ----

typedef struct {
  TermCaps caps;
  int n, c, h, w;        // the images of the whole run
  int shown;             // how many of them fit on screen (the first `shown`)
  int cols, pool, pad;   // grid columns, downscale factor (1, 2, 4) and gap for the screen
  int max_cols, max_rows;
  int reserved;          // rows of the image area, once reserved (0 before the first frame)
} View;

// Picks the screen layout: the least downscale (1, 2, 4) at which the grid fits, then the
// grid columns (the user's --cols, else any) that give the largest upscale; if even 8x8
// tiles do not fit, the first images that do. The PNG keeps its own layout, which the
// screen shares whenever that costs no size.
static void view_layout(View *v, int want_cols) {
  for (v->shown = v->n; v->shown >= 1; v->shown--)
    for (int pool = 1; pool <= 4 && v->h / pool >= 8 && v->w / pool >= 8 && v->h % pool == 0 && v->w % pool == 0;
         pool *= 2) {
      const int pad = pool == 1 ? 2 : 1, tw = v->w / pool, th = v->h / pool;
      const int png_cols = (int)ceil(sqrt((double)v->shown));  // image_grid's default
      int c0 = want_cols > 0 ? want_cols : 1, c1 = want_cols > 0 ? want_cols : v->shown;
      if (c0 > v->shown) c0 = c1 = v->shown;
      int best = 0, best_empty = 0;
      for (int cols = c0; cols <= c1; cols++) {
        int rows = (v->shown + cols - 1) / cols, empty = rows * cols - v->shown;
        int gw = cols * tw + (cols - 1) * pad, gh = rows * th + (rows - 1) * pad;
        int s = term_fit_scale(&v->caps, gw, gh, v->max_cols, v->max_rows);
        // Ties go to the PNG's layout, else to the fewest empty cells.
        int better = s > best || (s > 0 && s == best && v->cols != png_cols &&
                                  (cols == png_cols || empty < best_empty));
        if (better) best = s, best_empty = empty, v->cols = cols, v->pool = pool, v->pad = pad;
      }
      if (best > 0) return;
    }
  v->shown = 1, v->cols = 1, v->pool = 4, v->pad = 1;  // a tiny terminal: one image, cropped
}

static int view_begin(View *v, GfxMode want, int want_cols, int n, int c, int h, int w) {
  *v = (View){.n = n, .c = c, .h = h, .w = w};
  term_detect(STDOUT_FILENO, want, &v->caps);
  if (v->caps.gfx == GFX_NONE) return -1;
  v->max_cols = v->caps.cols > 0 ? v->caps.cols : 80;
  // The image, a status line, and a free row under both: a sixel must never reach the last row.
  v->max_rows = (v->caps.rows > 0 ? v->caps.rows : 24) - 3;
  if (v->max_rows < 4) v->max_rows = 4;
  view_layout(v, want_cols);
  return 0;
}

// x holds all n images (n,c,h,w); the first v->shown are drawn, `pool`-times smaller: the
// grid is laid out with gaps `pool` times wider and shrunk as a whole.
static int view_draw(View *v, const float *x, const char *status) {
  uint8_t *px, *small;
  int gw, gh, sw, sh;
  image_grid(x, v->shown, v->c, v->h, v->w, v->cols, v->pad * v->pool, &px, &gw, &gh);
  small = v->pool > 1 ? term_shrink(px, gw, gh, v->c, v->pool, &sw, &sh) : NULL;
  TermImage im;
  Err e;
  int rc = term_image_render(&v->caps, small ? small : px, small ? sw : gw, small ? sh : gh, v->c, v->max_cols,
                             v->max_rows, &im, &e);
  free(px);
  free(small);
  if (rc) { fprintf(stderr, "stepscope: %s\n", e.msg); return -1; }

  Bytes b = {0};
  if (!v->reserved) {  // rows for the image, the status line and one spare, once
    v->reserved = im.rows;
    bytes_puts(&b, "\x1b[?25l\r");
    for (int i = 0; i < v->reserved + 1; i++) bytes_puts(&b, "\n");
    bytes_puts(&b, "\x1b[1A");  // onto the status line
  }
  bytes_puts(&b, TERM_SYNC_BEGIN);
  term_image_place_up(&im, v->reserved, &b);  // the rows are reserved, so nothing scrolls
  bytes_puts(&b, "\r\x1b[2K");
  bytes_puts(&b, status);
  bytes_puts(&b, TERM_SYNC_END);
  term_image_free(&im);

  fflush(stdout);  // nothing printed before may land inside the frame
  rc = bytes_write(STDOUT_FILENO, &b);
  bytes_free(&b);
  return rc;
}

// Leaves the cursor at the start of the emptied status line (the summary goes there), visible.
static void view_end(View *v) {
  if (!v->reserved) return;
  printf("\r\x1b[2K\x1b[?25h");
  fflush(stdout);
}

// ---- the run ----

typedef struct {
  int i0, batch, nbatches;  // the batch being drawn: its first image, index, and how many
  int n, per_image;
  float *grid;              // all n images as the view shows them (n,c,h,w)
  View *view;               // NULL: no live view
  int every, show_x0;
  double t_frame;           // when the last frame was drawn
  int step_frame;           // at which step
  Progress *pg;
} Run;

static int on_step(void *user, int step, int nsteps, int t, const float *x, const float *x0, int B) {
  Run *r = user;
  if (stop_requested) return 1;
  if (r->pg) progress_update(r->pg, (long)r->batch * nsteps + step + 1, "t %d", t);
  if (!r->view || ((step + 1) % r->every && step + 1 < nsteps)) return 0;
  memcpy(r->grid + (long)r->i0 * r->per_image, r->show_x0 ? x0 : x, sizeof(float) * B * r->per_image);
  double now = now_sec();
  char status[160];
  int k = snprintf(status, sizeof status, "step %d/%d  t %3d  %.1f ms/step  %s", step + 1, nsteps, t,
                   (now - r->t_frame) * 1e3 / (step + 1 - r->step_frame), r->show_x0 ? "x0-hat" : "x_t");
  if (r->nbatches > 1) k += snprintf(status + k, sizeof status - k, "  batch %d/%d", r->batch + 1, r->nbatches);
  if (r->view->shown < r->n) snprintf(status + k, sizeof status - k, "  (first %d of %d images)", r->view->shown, r->n);
  r->t_frame = now;
  r->step_frame = step + 1;
  view_draw(r->view, r->grid, status);
  return 0;
}

// ---- the command, in steps ----

typedef struct {
  const char *plan, *model, *out, *sampler, *spacing, *graphics, *device;
  int n, steps, cols, show, every, show_x0, threads, batch, raw;
  float eta;
  uint64_t seed;
} Args;

// What a run holds, opened by sample_open() and released, whatever happened, by sample_close().
typedef struct {
  Backend *be;
  PlanModels pm;  // with --plan
  UNet *m;        // the model, or the plan's base (pm owns it then)
  SchedKind sk;
  int T;
  SamplerCfg sc;
  GfxMode gfx;
  Schedule sched;
  float *x, *grid;  // the images (n,c,h,w): as sampled, and as the live view shows them
  View view;
  int show;         // a view is up (--show on a terminal)
  Model md;
  double wall;
} Sampling;

// The checks that need no model. Returns 0, or 2 (bad usage, printed).
static int check_args(const Args *a, Sampling *s) {
  if (!a->model == !a->plan) return usage_error("--model, --plan", "give one of them");
  sampler_parse(a->sampler, &s->sc.kind);  // the option table allows only the known names
  spacing_parse(a->spacing, &s->sc.spacing);
  gfx_parse(a->graphics, &s->gfx);
  return 0;
}

// Opens the backend and the model (or the plan's models) with the schedule they were
// trained with. Returns 0, or 1 (bad data, printed).
static int sample_open(const Args *a, Sampling *s) {
  Err e;
  if (!(s->be = cli_backend(a->device, a->threads))) return 1;
  const char *model = a->model;
  CkptInfo info = {0};
  if (a->plan) {
    if (plan_models_load(&s->pm, a->plan, s->be, !a->raw, 0, &e)) return data_error(e.msg);
    s->m = s->pm.base;
    model = s->pm.plan.base;
    // the base model's file holds the schedule the plan was made for
    char *sv = ckpt_meta(model, "schedule", &e), *tv = ckpt_meta(model, "T", &e);
    snprintf(info.schedule, sizeof info.schedule, "%s", sv ? sv : "linear");
    info.T = tv ? atoi(tv) : 1000;
    free(sv);
    free(tv);
  } else if (!(s->m = ckpt_load_model(model, s->be, !a->raw, &info, &e))) {
    return data_error(e.msg);
  }
  if (schedule_parse(info.schedule, &s->sk)) {
    fprintf(stderr, "stepscope: %s: unknown schedule '%s'\n", model, info.schedule);
    return 1;
  }
  s->T = info.T;
  return 0;
}

// The steps the sampler takes, now that T is known. Returns 0, or 2 (bad usage, printed).
static int choose_steps(const Args *a, Sampling *s) {
  if (s->sc.kind == SAMPLER_DDPM && a->steps != -1 && a->steps != s->T)
    return usage_error("--steps", "ddpm runs all T = %d steps; --steps is for ddim", s->T);
  if (a->steps > s->T) return usage_error("--steps", "%d is more than the model's T = %d timesteps", a->steps, s->T);
  s->sc.steps = s->sc.kind == SAMPLER_DDPM ? s->T : a->steps > 0 ? a->steps : (s->T < 50 ? s->T : 50);
  s->sc.eta = a->eta;
  schedule_init(&s->sched, s->sk, s->T);
  return 0;
}

// Samples all n images, batch by batch, with the live view when there is one. Returns 0, or 1
// (a failure or an interruption, printed).
static int sample_draw(const Args *a, Sampling *s) {
  const int C = s->m->cfg.in_ch, S = s->m->cfg.img, per_image = C * S * S, n = a->n;
  const int B = a->batch < n ? a->batch : n, nbatches = (n + B - 1) / B;
  s->x = xcalloc((size_t)n * per_image, sizeof(float));
  s->grid = xcalloc((size_t)n * per_image, sizeof(float));

  int live = 0;
  if (a->show || a->every > 0) {
    s->show = view_begin(&s->view, s->gfx, a->cols, n, C, S, S) == 0;
    if (s->show) live = a->every > 0;
    else if (s->gfx == GFX_AUTO)
      fprintf(stderr, "stepscope: --show: stdout is not a terminal, nothing drawn (--graphics blocks forces it)\n");
  }
  Progress pg;
  progress_begin(&pg, "sample", 0, (long)nbatches * s->sc.steps, live || !isatty(STDERR_FILENO));

  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  s->md = (Model){.m = s->m, .pm = a->plan ? &s->pm : NULL};
  Run run = {.nbatches = nbatches, .n = n, .per_image = per_image, .grid = s->grid, .view = live ? &s->view : NULL,
             .every = a->every, .show_x0 = a->show_x0, .pg = pg.quiet ? NULL : &pg};
  double t0 = now_sec();
  int status = 0;
  for (int b = 0; b < nbatches && status == 0; b++) {
    run.i0 = b * B, run.batch = b, run.t_frame = now_sec(), run.step_frame = 0;
    SamplerCfg bc = s->sc;
    bc.seed = a->seed + (uint64_t)run.i0;  // image i: stream seed + i, whatever the batching
    int nb = n - run.i0 < B ? n - run.i0 : B;
    Err e;
    int rc = sample_run_split(&s->sched, &bc, nb, C, S, S, &model_split, &s->md, on_step, &run,
                              s->x + (long)run.i0 * per_image, &e);
    if (rc < 0) status = data_error(e.msg);
    else if (rc == SAMPLE_CANCELLED) status = 1;
  }
  s->wall = now_sec() - t0;
  progress_end(&pg);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);

  if (status == 0 && s->show && view_draw(&s->view, s->x, "") != 0) status = 1;
  if (s->show) view_end(&s->view);
  if (s->show && status == 0 && s->view.shown < n)
    printf("(the terminal had room for the first %d of the %d images)\n", s->view.shown, n);
  if (stop_requested) fprintf(stderr, "stepscope: interrupted; nothing written\n");
  return status;
}

// The PNG grid, with the seed, model and sampler in its text chunks. Returns 0, or 1.
static int write_png(const Args *a, const Sampling *s) {
  const SamplerCfg *sc = &s->sc;
  const int C = s->m->cfg.in_ch, S = s->m->cfg.img;
  uint8_t *px;
  int gw, gh;
  image_grid(s->x, a->n, C, S, S, a->cols, 2, &px, &gw, &gh);
  char seed_s[24], steps_s[16], eta_s[24];
  snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)a->seed);
  snprintf(steps_s, sizeof steps_s, "%d", sc->steps);
  snprintf(eta_s, sizeof eta_s, "%g", (double)sc->eta);
  const char *text[20] = {"seed", seed_s, "model", a->plan ? a->plan : a->model, "weights", a->raw ? "raw" : "ema",
                          "sampler", sampler_name(sc->kind), "steps", steps_s, "software", "stepscope"};
  int k = 12;
  if (sc->kind == SAMPLER_DDIM) {  // DDPM walks every t with its posterior variance: no eta, no spacing
    text[k++] = "eta", text[k++] = eta_s;
    text[k++] = "spacing", text[k++] = spacing_name(sc->spacing);
  }
  text[k] = NULL;
  Err e;
  int status = png_write(a->out, px, gw, gh, C, text, &e) ? data_error(e.msg) : 0;
  free(px);
  return status;
}

// The summary: what was drawn, how fast, and at what cost in MACs.
static void report(const Args *a, const Sampling *s) {
  const SamplerCfg *sc = &s->sc;
  const int B = a->batch < a->n ? a->batch : a->n, nbatches = (a->n + B - 1) / B;
  const PlanModels *pm = &s->pm;
  if (a->plan)
    printf("plan %s: %.2f G MACs/image, %.1f %% of the base model's %.2f G for the same sampler\n", a->plan,
           pm->macs / nbatches / 1e9, 100 * pm->macs / pm->base_macs, pm->base_macs / nbatches / 1e9);
  double macs = a->plan ? pm->macs / nbatches / sc->steps : unet_macs(s->m);  // per image and model call
  char how[64];
  if (sc->kind == SAMPLER_DDIM)
    snprintf(how, sizeof how, "ddim %d steps, eta %g, %s", sc->steps, (double)sc->eta, spacing_name(sc->spacing));
  else snprintf(how, sizeof how, "ddpm %d steps", sc->steps);
  printf("%d images -> %s: %s, %.2f s, %.1f ms/call (batch %d, %s), %.2f G MACs/image (%.1f M x %d)\n", a->n, a->out,
         how, s->wall, s->md.sec * 1e3 / (s->md.calls ? s->md.calls : 1), B, s->be->name, macs * sc->steps / 1e9,
         macs / 1e6, sc->steps);
}

static void sample_close(const Args *a, Sampling *s) {
  free(s->x);
  free(s->grid);
  schedule_free(&s->sched);
  if (a->plan) plan_models_free(&s->pm);
  else unet_free(s->m);
  if (s->be) s->be->destroy(s->be);
}

static const char about[] =
    "Draws images with DDIM or DDPM from a checkpoint's EMA weights and writes them as a\n"
    "PNG grid, with the seed, model and sampler in its text chunks.";

int cmd_sample(int argc, char **argv) {
  Args a = {.out = "samples.png", .sampler = "ddim", .spacing = "trailing", .graphics = "auto", .device = "auto",
            .n = 16, .steps = -1, .batch = 64};
  const Opt opts[] = {
    ARG_STR("--model", &a.model, "FILE", "checkpoint to sample from (safetensors)"),
    ARG_STR("--plan", &a.plan, "PLAN", "sample with a SAT plan: at each t the model of its group"),
    ARG_INT("--n", &a.n, "N", "images to draw", .min = 1, .max = 4096),
    ARG_STR("--sampler", &a.sampler, "NAME", "ddim, or ddpm: ancestral, all T steps", .choices = "ddim, ddpm"),
    ARG_INT("--steps", &a.steps, "S", "DDIM steps, up to the model's T", .def = "50", .min = 1, .max = 1000000),
    ARG_FLOAT("--eta", &a.eta, "X", "DDIM noise: 0 deterministic, 1 DDPM-like", .min = 0, .max = 1e6),
    ARG_STR("--spacing", &a.spacing, "NAME", "DDIM timesteps", .choices = "trailing, leading, linspace"),
    ARG_U64("--seed", &a.seed, "N", "image i uses noise seed N+i"),
    ARG_STR("--out", &a.out, "FILE", "PNG grid to write"),
    ARG_INT("--cols", &a.cols, "C", "grid columns", .def = "about square", .min = 0, .max = 4096),
    ARG_FLAG("--raw", &a.raw, "use the raw weights, not the EMA ones"),
    ARG_FLAG("--show", &a.show, "draw the grid in the terminal"),
    ARG_INT("--every", &a.every, "K", "redraw the images as they form every K steps (implies --show)",
     .def = "only the end", .min = 0, .max = 1000000),
    ARG_FLAG("--show-x0", &a.show_x0, "with --every: show the predicted x0, not x_t"),
    OPT_GRAPHICS(&a.graphics),
    ARG_INT("--batch", &a.batch, "B", "images per model call", .min = 1, .max = 4096),
    OPT_COMPUTE(&a.device, &a.threads),
  };
  const ArgSpec spec = {"sample", "(--model FILE | --plan PLAN) [options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;

  Sampling s = {.sc = sampler_cfg_default()};
  if ((rc = check_args(&a, &s))) return rc;
  if (!(rc = sample_open(&a, &s)) && !(rc = choose_steps(&a, &s)) && !(rc = sample_draw(&a, &s)) &&
      !(rc = write_png(&a, &s)))
    report(&a, &s);
  sample_close(&a, &s);
  return rc;
}
