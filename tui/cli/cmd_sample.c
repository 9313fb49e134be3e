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
#include <errno.h>
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

int cmd_sample(int argc, char **argv) {
  const char *plan = NULL, *model = NULL, *out = "samples.png", *sampler = "ddim", *spacing = "trailing";
  const char *graphics = "auto", *device = "auto";
  int n = 16, steps = -1, cols = 0, show = 0, every = 0, show_x0 = 0, threads = 0, batch = 64, raw = 0;
  float eta = 0;
  uint64_t seed = 0;
  Opt opts[] = {
    {"--model", OPT_STR, &model, "FILE", "checkpoint to sample from (safetensors)"},
    {"--plan", OPT_STR, &plan, "PLAN", "sample with a SAT plan: at each t the model of its group"},
    {"--n", OPT_INT, &n, "N", "images to draw (default 16)"},
    {"--sampler", OPT_STR, &sampler, "NAME", "ddim (default) | ddpm (ancestral, all T steps)"},
    {"--steps", OPT_INT, &steps, "S", "DDIM steps, 1..T (default 50)"},
    {"--eta", OPT_FLOAT, &eta, "X", "DDIM noise: 0 deterministic (default), 1 DDPM-like"},
    {"--spacing", OPT_STR, &spacing, "NAME", "DDIM timesteps: trailing (default) | leading | linspace"},
    {"--seed", OPT_U64, &seed, "N", "image i uses noise seed N+i (default 0)"},
    {"--out", OPT_STR, &out, "FILE", "PNG grid to write (default samples.png)"},
    {"--cols", OPT_INT, &cols, "C", "grid columns (default: about square)"},
    {"--raw", OPT_FLAG, &raw, NULL, "use the raw weights, not the EMA ones"},
    {"--show", OPT_FLAG, &show, NULL, "draw the grid in the terminal"},
    {"--every", OPT_INT, &every, "K", "with --show: redraw the images as they form every K steps"},
    {"--show-x0", OPT_FLAG, &show_x0, NULL, "with --every: show the predicted x0, not x_t"},
    {"--graphics", OPT_STR, &graphics, "MODE", "auto (default) | sixel | blocks | none"},
    {"--batch", OPT_INT, &batch, "B", "images per model call (default 64)"},
    {"--threads", OPT_INT, &threads, "N", "CPU threads (default: all cores)"},
    {"--device", OPT_STR, &device, "DEV", "auto (default) | cpu | cuda"},
    OPT_CUDA_CHOICES,
  };
  ArgSpec spec = {"sample", "(--model FILE | --plan PLAN) [options]",
                  "Draws images with DDIM or DDPM from a checkpoint's EMA weights and writes them as a\n"
                  "PNG grid, with the seed, model and sampler in its text chunks.",
                  opts, sizeof opts / sizeof opts[0], 0, 0, NULL};
  int rc = args_parse(&spec, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;

#define USAGE(...) do { fprintf(stderr, "stepscope: sample: " __VA_ARGS__); fputc('\n', stderr); return 2; } while (0)
  SamplerCfg sc = sampler_cfg_default();
  GfxMode gfx;
  if (!model == !plan) USAGE("give either --model FILE or --plan PLAN");
  if (n < 1 || n > 4096) USAGE("--n must be 1..4096, got %d", n);
  if (sampler_parse(sampler, &sc.kind)) USAGE("unknown sampler '%s' (ddim, ddpm)", sampler);
  if (spacing_parse(spacing, &sc.spacing)) USAGE("unknown spacing '%s' (trailing, leading, linspace)", spacing);
  if (gfx_parse(graphics, &gfx)) USAGE("unknown graphics mode '%s' (auto, sixel, blocks, none)", graphics);
  if (steps != -1 && steps < 1) USAGE("--steps must be at least 1, got %d", steps);
  if (!(eta >= 0 && eta < 1e6)) USAGE("--eta must be >= 0, got %g", (double)eta);
  if (batch < 1 || every < 0 || cols < 0) USAGE("--batch must be >= 1, --every and --cols >= 0");
  if (every > 0) show = 1;

  Err e;
  Backend *be = cli_backend(device, threads);
  if (!be) return 1;
  CkptInfo info;
  PlanModels pm = {0};
  if (plan) {
    if (plan_models_load(&pm, plan, be, !raw, 0, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); be->destroy(be); return 1; }
    model = pm.plan.base;
  }
  UNet *m = plan ? pm.base : ckpt_load_model(model, be, !raw, &info, &e);
  if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); be->destroy(be); return 1; }
  if (plan) {  // the base model's file holds the schedule the plan was made for
    Err e2;
    char *sv = ckpt_meta(model, "schedule", &e2), *tv = ckpt_meta(model, "T", &e2);
    memset(&info, 0, sizeof info);
    snprintf(info.schedule, sizeof info.schedule, "%s", sv ? sv : "linear");
    info.T = tv ? atoi(tv) : 1000;
    free(sv);
    free(tv);
  }
  SchedKind sk;
  if (schedule_parse(info.schedule, &sk)) {
    fprintf(stderr, "stepscope: %s: unknown schedule '%s'\n", model, info.schedule);
    if (plan) plan_models_free(&pm); else unet_free(m);
    be->destroy(be);
    return 1;
  }
  const int T = info.T;
  if (sc.kind == SAMPLER_DDPM && steps != -1 && steps != T) {
    fprintf(stderr, "stepscope: sample: ddpm runs all T = %d steps; --steps is for ddim\n", T);
    if (plan) plan_models_free(&pm); else unet_free(m);
    be->destroy(be);
    return 2;
  }
  if (steps > T) {
    fprintf(stderr, "stepscope: sample: --steps %d is more than the model's T = %d timesteps\n", steps, T);
    if (plan) plan_models_free(&pm); else unet_free(m);
    be->destroy(be);
    return 2;
  }
#undef USAGE
  sc.steps = sc.kind == SAMPLER_DDPM ? T : steps > 0 ? steps : (T < 50 ? T : 50);
  sc.eta = eta;
  Schedule sched;
  schedule_init(&sched, sk, T);

  const int C = m->cfg.in_ch, S = m->cfg.img, per_image = C * S * S;
  const int B = batch < n ? batch : n, nbatches = (n + B - 1) / B;
  float *x = xcalloc((size_t)n * per_image, sizeof(float));
  float *grid = xcalloc((size_t)n * per_image, sizeof(float));

  View view;
  int live = 0;
  if (show) {
    if (view_begin(&view, gfx, cols, n, C, S, S) == 0) live = every > 0;
    else if (gfx == GFX_AUTO) {
      fprintf(stderr, "stepscope: --show: stdout is not a terminal, nothing drawn (--graphics blocks forces it)\n");
      show = 0;
    } else show = 0;
  }
  Progress pg;
  progress_begin(&pg, "sample", 0, (long)nbatches * sc.steps, live || !isatty(STDERR_FILENO));

  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  Model md = {.m = m, .pm = plan ? &pm : NULL};
  Run run = {.nbatches = nbatches, .n = n, .per_image = per_image, .grid = grid, .view = live ? &view : NULL,
             .every = every, .show_x0 = show_x0, .pg = pg.quiet ? NULL : &pg};
  double t0 = now_sec();
  int status = 0;
  for (int b = 0; b < nbatches && status == 0; b++) {
    run.i0 = b * B, run.batch = b, run.t_frame = now_sec(), run.step_frame = 0;
    SamplerCfg bc = sc;
    bc.seed = seed + (uint64_t)run.i0;  // image i: stream seed + i, whatever the batching
    int nb = n - run.i0 < B ? n - run.i0 : B;
    rc = sample_run_split(&sched, &bc, nb, C, S, S, &model_split, &md, on_step, &run, x + (long)run.i0 * per_image,
                          &e);
    if (rc < 0) { fprintf(stderr, "stepscope: %s\n", e.msg); status = 1; }
    else if (rc == SAMPLE_CANCELLED) status = 1;
  }
  double wall = now_sec() - t0;
  progress_end(&pg);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);

  if (status == 0 && show && view_draw(&view, x, "") != 0) status = 1;
  if (show) view_end(&view);
  if (show && status == 0 && view.shown < n)
    printf("(the terminal had room for the first %d of the %d images)\n", view.shown, n);
  if (stop_requested) fprintf(stderr, "stepscope: interrupted; nothing written\n");

  if (status == 0) {
    uint8_t *px;
    int gw, gh;
    image_grid(x, n, C, S, S, cols, 2, &px, &gw, &gh);
    char seed_s[24], steps_s[16], eta_s[24];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    snprintf(steps_s, sizeof steps_s, "%d", sc.steps);
    snprintf(eta_s, sizeof eta_s, "%g", (double)sc.eta);
    const char *text[20] = {"seed", seed_s, "model", plan ? plan : model, "weights", raw ? "raw" : "ema",
                            "sampler", sampler_name(sc.kind), "steps", steps_s, "software", "stepscope"};
    int k = 12;
    if (sc.kind == SAMPLER_DDIM) {  // DDPM walks every t with its posterior variance: no eta, no spacing
      text[k++] = "eta", text[k++] = eta_s;
      text[k++] = "spacing", text[k++] = spacing_name(sc.spacing);
    }
    text[k] = NULL;
    if (png_write(out, px, gw, gh, C, text, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); status = 1; }
    free(px);
  }
  if (status == 0 && plan)
    printf("plan %s: %.2f G MACs/image, %.1f %% of the base model's %.2f G for the same sampler\n", plan,
           pm.macs / nbatches / 1e9, 100 * pm.macs / pm.base_macs, pm.base_macs / nbatches / 1e9);
  if (status == 0) {
    double macs = plan ? pm.macs / nbatches / sc.steps : unet_macs(m);  // per image and model call
    char how[64];
    if (sc.kind == SAMPLER_DDIM)
      snprintf(how, sizeof how, "ddim %d steps, eta %g, %s", sc.steps, (double)sc.eta, spacing_name(sc.spacing));
    else snprintf(how, sizeof how, "ddpm %d steps", sc.steps);
    printf("%d images -> %s: %s, %.2f s, %.1f ms/call (batch %d, %s), %.2f G MACs/image (%.1f M x %d)\n",
           n, out, how, wall, md.sec * 1e3 / (md.calls ? md.calls : 1), B, be->name, macs * sc.steps / 1e9,
           macs / 1e6, sc.steps);
  }
  free(x);
  free(grid);
  schedule_free(&sched);
  if (plan) plan_models_free(&pm); else unet_free(m);
  be->destroy(be);
  return status;
}
