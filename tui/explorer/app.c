// app.c — the explorer's loop: terminal setup and restore, input, the frame (tabs, view,
// status line, key bar, dialogs, help), images after curses, plan files. See app.h.
#include "tui/explorer/app.h"
#include "tui/assets.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static const View *const views[NVIEWS] = {&view_schedule, &view_importance, &view_generate, &view_prune, &view_loss};

enum { FRAME_MS = 16, IDLE_MS = 1000, BUSY_MS = 250 };
static const double MSG_SECONDS = 6;

// ---- terminal restore: normal exit, exit() from anywhere, signals, crashes ----

static struct termios saved_tty;
static int have_saved_tty;
static volatile sig_atomic_t curses_on, quit_signal;
static int saved_stderr = -1, stderr_log_fd = -1;
static FILE *stderr_log;

// What endwin() would undo, as plain bytes: usable inside a signal handler.
static void emergency_restore(void) {
  static const char reset[] = "\x1b[?2026l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
                              "\x1b[0m\x1b[?25h\x1b[?1049l\r\n";
  if (write(STDOUT_FILENO, reset, sizeof reset - 1) < 0) {}
  if (have_saved_tty) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
}

static void on_quit_signal(int sig) { quit_signal = sig; }

static void on_crash(int sig) {
  if (curses_on) emergency_restore();
  curses_on = 0;
  if (saved_stderr >= 0 && stderr_log_fd >= 0) {  // what went wrong, on the real stderr
    char buf[4096];
    ssize_t n;
    dup2(saved_stderr, STDERR_FILENO);
    lseek(stderr_log_fd, 0, SEEK_SET);
    while ((n = read(stderr_log_fd, buf, sizeof buf)) > 0)
      if (write(STDERR_FILENO, buf, (size_t)n) < 0) break;
    saved_stderr = -1;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

// Sends what the engine printed to stderr while curses had the screen to the real stderr.
static void stderr_restore(void) {
  if (saved_stderr < 0) return;
  fflush(stderr);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  saved_stderr = -1;
  if (stderr_log) {
    char buf[4096];
    size_t n;
    rewind(stderr_log);
    while ((n = fread(buf, 1, sizeof buf, stderr_log)) > 0)
      if (write(STDERR_FILENO, buf, n) < 0) break;
    fclose(stderr_log);
    stderr_log = NULL;
  }
}

static void terminal_restore(void) {
  if (curses_on) {
    curses_on = 0;
    printf("\x1b[?1002l\x1b[?1003l\x1b[?1006l");  // mouse modes, in case endwin misses one
    fflush(stdout);
    endwin();
  }
  stderr_restore();
}

static void terminal_setup(App *a) {
  if (tcgetattr(STDIN_FILENO, &saved_tty) == 0) have_saved_tty = 1;
  // The engine may print warnings to stderr; on the screen they would tear the frame.
  stderr_log = tmpfile();
  if (stderr_log) {
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    stderr_log_fd = fileno(stderr_log);
    dup2(stderr_log_fd, STDERR_FILENO);
  }
  atexit(terminal_restore);
  struct sigaction sa = {0};
  sa.sa_handler = on_quit_signal;  // no SA_RESTART: poll() returns EINTR and the loop quits
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_crash;
  sa.sa_flags = SA_RESETHAND;
  int crash[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++) sigaction(crash[i], &sa, NULL);

  set_escdelay(25);
  initscr();
  curses_on = 1;
  raw();  // Ctrl-C, Ctrl-S, Ctrl-Z arrive as keys
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  curs_set(0);
  mouseinterval(0);
  mousemask(ALL_MOUSE_EVENTS | REPORT_MOUSE_POSITION, NULL);
  ui_colors_init(a->caps.color != TERM_COLOR_NONE);
}

// ---- helpers for the views ----

void app_msg(App *a, UiRole role, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->msg, sizeof a->msg, fmt, ap);
  va_end(ap);
  a->msg_role = role;
  a->msg_until = now_sec() + MSG_SECONDS;
  a->dirty = 1;
}

void app_edited(App *a, int rc) {
  if (rc == 0) a->plan_gen++;
  else app_msg(a, UI_WARN, "%s", a->ex.msg);
  a->dirty = 1;
}

void app_wipe(App *a) { a->clear = a->dirty = 1; }

void app_track_job(App *a, Job *j) {
  if (a->njobs < (int)(sizeof a->jobs / sizeof a->jobs[0])) a->jobs[a->njobs++] = j;
}

const char *app_basename(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

int app_images_on(const App *a) { return a->caps.gfx == GFX_SIXEL || a->caps.gfx == GFX_BLOCKS; }

Rect app_image(App *a, int slot, Rect r, const uint8_t *px, int w, int h, int ch, uint64_t key) {
  Rect none = {r.y, r.x, 0, 0};
  if (!app_images_on(a) || a->help_open || a->dlg.kind || slot < 0 || slot >= APP_MAX_IMAGES || r.w < 1 || r.h < 1)
    return none;
  ImageSlot *s = &a->img[slot];
  if (!s->im.bytes.data || s->key != key || s->pw != w || s->ph != h || s->max_w != r.w || s->max_h != r.h) {
    term_image_free(&s->im);
    Err e;
    if (term_image_render(&a->caps, px, w, h, ch, r.w, r.h, &s->im, &e)) {
      app_msg(a, UI_ERR, "%s", e.msg);
      return none;
    }
    s->key = key, s->pw = w, s->ph = h, s->max_w = r.w, s->max_h = r.h;
    s->stale = 1;  // new pixels: write them
  }
  if (s->im.cols > r.w || s->im.rows > r.h) return none;  // even shrunk it does not fit
  s->used = 1;
  s->at = (Rect){r.y, r.x + (r.w - s->im.cols) / 2, s->im.rows, s->im.cols};
  return s->at;
}

Rect app_image_move(App *a, int slot, int y, int x) {
  ImageSlot *s = &a->img[slot];
  if (!s->used) return (Rect){y, x, 0, 0};
  s->at.y = y, s->at.x = x;
  return s->at;
}

void app_resolve(const App *a, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s", name);
  if (!name[0] || name[0] == '/' || access(name, R_OK) == 0 || !a->plan_path[0]) return;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", a->plan_path);
  snprintf(out, cap, "%s/%s", dirname(dir), name);
  if (access(out, R_OK) != 0) snprintf(out, cap, "%s", name);
}

// ---- models: measured once per file, on the UI thread ----

static void measure(ModelMeta *m, const char *path) {
  memset(m, 0, sizeof *m);
  snprintf(m->path, sizeof m->path, "%s", path);
  if (!path[0]) return;
  Err e;
  Backend *be = backend_cpu_create(1);
  UNet *net = ckpt_load_model(path, be, 1, &m->info, &e);
  if (net) {
    m->ok = 1;
    m->cfg = net->cfg;
    m->macs = unet_macs(net);
    m->params = unet_nparams(net);
    unet_free(net);
  } else {
    snprintf(m->err, sizeof m->err, "%s", e.msg);
  }
  be->destroy(be);
}

void app_measure_groups(App *a) {
  for (int j = 0; j < PLAN_MAX_GROUPS; j++) {
    char path[PATH_MAX] = "";
    if (j < a->ex.plan.ngroups && a->ex.plan.g[j].model[0]) app_resolve(a, a->ex.plan.g[j].model, path, sizeof path);
    if (strcmp(path, a->group[j].path) || !a->group[j].ok) measure(&a->group[j], path);
    explorer_set_model_cost(&a->ex, j, a->group[j].ok ? a->group[j].macs : 0, a->group[j].params);
  }
}

// ---- plan files ----

int app_save_plan(App *a, const char *path_in) {
  Err e;
  char path[PATH_MAX];  // path_in may be a->plan_path itself
  snprintf(path, sizeof path, "%s", path_in);
  Plan p = a->ex.plan;
  if (!p.base[0] && a->base.ok) snprintf(p.base, sizeof p.base, "%.*s", (int)sizeof p.base - 1, a->base.path);
  if (plan_save(path, &p, &e)) {
    app_msg(a, UI_ERR, "%s", e.msg);
    return -1;
  }
  memcpy(a->ex.plan.base, p.base, sizeof p.base);  // the plan on disk names its base model now
  snprintf(a->plan_path, sizeof a->plan_path, "%s", path);
  a->ex.modified = 0;
  a->plan_gen++;
  app_msg(a, UI_OK, "saved %s (%d groups)", path, p.ngroups);
  return 0;
}

int app_load_plan(App *a, const char *path_in) {
  Err e;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", path_in);
  Plan p;
  if (plan_load(path, &p, &e)) {
    app_msg(a, UI_ERR, "%s", e.msg);
    return -1;
  }
  snprintf(a->plan_path, sizeof a->plan_path, "%s", path);
  explorer_set_plan(&a->ex, &p);
  a->ex.loss_per_t = a->loss_per_t;
  app_measure_groups(a);
  a->plan_gen++;
  app_msg(a, UI_OK, "loaded %s (%d groups)", path, p.ngroups);
  return 0;
}

// ---- dialogs ----

void app_input(App *a, const char *title, const char *prompt, const char *initial,
               void (*done)(App *, const char *)) {
  a->dlg = (Dialog){.kind = DLG_INPUT, .done = done};
  snprintf(a->dlg.title, sizeof a->dlg.title, "%s", title);
  snprintf(a->dlg.prompt, sizeof a->dlg.prompt, "%s", prompt);
  snprintf(a->dlg.buf, sizeof a->dlg.buf, "%s", initial ? initial : "");
  a->dlg.cur = (int)strlen(a->dlg.buf);
  app_wipe(a);  // images hide under a dialog
}

void app_confirm(App *a, const char *title, const char *prompt, void (*done)(App *, const char *)) {
  a->dlg = (Dialog){.kind = DLG_CONFIRM, .done = done};
  snprintf(a->dlg.title, sizeof a->dlg.title, "%s", title);
  snprintf(a->dlg.prompt, sizeof a->dlg.prompt, "%s", prompt);
  app_wipe(a);
}

static void dialog_close(App *a) {
  a->dlg.kind = DLG_NONE;
  app_wipe(a);
}

// Previous UTF-8 character start before byte offset i.
static int utf8_prev(const char *s, int i) {
  if (i <= 0) return 0;
  do i--; while (i > 0 && (s[i] & 0xc0) == 0x80);
  return i;
}
static int utf8_next(const char *s, int i) {
  if (!s[i]) return i;
  do i++; while (s[i] && (s[i] & 0xc0) == 0x80);
  return i;
}

static void dialog_key(App *a, int ch) {
  Dialog *d = &a->dlg;
  void (*done)(App *, const char *) = d->done;
  if (d->kind == DLG_CONFIRM) {
    if (ch == 'y' || ch == 'Y' || ch == '\r' || ch == '\n' || ch == KEY_ENTER) { dialog_close(a); done(a, "y"); }
    else if (ch == 'n' || ch == 'N') { dialog_close(a); done(a, "n"); }
    else if (ch == 27 || ch == 'c' || ch == 'q' || ch == 3) dialog_close(a);
    return;
  }
  int len = (int)strlen(d->buf);
  switch (ch) {
    case 27: case 3: dialog_close(a); return;
    case '\r': case '\n': case KEY_ENTER: {
      char answer[PATH_MAX];
      snprintf(answer, sizeof answer, "%s", d->buf);
      dialog_close(a);
      done(a, answer);
      return;
    }
    case KEY_BACKSPACE: case 127: case 8:
      if (d->cur > 0) {
        int p = utf8_prev(d->buf, d->cur);
        memmove(d->buf + p, d->buf + d->cur, (size_t)(len - d->cur + 1));
        d->cur = p;
      }
      return;
    case KEY_DC:
      if (d->cur < len) {
        int n = utf8_next(d->buf, d->cur);
        memmove(d->buf + d->cur, d->buf + n, (size_t)(len - n + 1));
      }
      return;
    case KEY_LEFT: d->cur = utf8_prev(d->buf, d->cur); return;
    case KEY_RIGHT: d->cur = utf8_next(d->buf, d->cur); return;
    case KEY_HOME: case 1: d->cur = 0; return;
    case KEY_END: case 5: d->cur = len; return;
    case 21: d->buf[0] = 0, d->cur = 0; return;  // Ctrl-U
    default:
      if (ch >= 32 && ch < 256 && ch != 127 && len + 1 < (int)sizeof d->buf) {
        memmove(d->buf + d->cur + 1, d->buf + d->cur, (size_t)(len - d->cur + 1));
        d->buf[d->cur++] = (char)ch;  // UTF-8 arrives byte by byte
      }
  }
}

static void draw_dialog(App *a) {
  Dialog *d = &a->dlg;
  int w = COLS - 8 < 72 ? COLS - 8 : 72, h = d->kind == DLG_INPUT ? 7 : 6;
  Rect r = {(LINES - h) / 2, (COLS - w) / 2, h, w};
  ui_fill(r, A_NORMAL);
  Rect in = ui_box(r, d->title, 1);
  ui_text(in.y + 1, in.x + 1, in.w - 2, ui_attr(UI_TEXT), "%s", d->prompt);
  if (d->kind == DLG_INPUT) {
    // the field scrolls so that the cursor stays visible
    int fw = in.w - 2, before = 0;
    char head[PATH_MAX];
    snprintf(head, sizeof head, "%.*s", d->cur, d->buf);
    before = ui_cols(head);
    const char *from = d->buf;
    while (before >= fw && *from) {
      int n = utf8_next(from, 0);
      char c1[8];
      snprintf(c1, sizeof c1, "%.*s", n, from);
      before -= ui_cols(c1);
      from += n;
    }
    ui_hline(in.y + 2, in.x + 1, fw, ui_attr(UI_SEL), " ");
    ui_text(in.y + 2, in.x + 1, fw, ui_attr(UI_SEL), "%s", from);
    ui_text(in.y + 2, in.x + 1 + before, 1, ui_attr(UI_SEL) | A_REVERSE, "%s", " ");
    ui_text(in.y + 4, in.x + 1, in.w - 2, ui_attr(UI_DIM), "Enter accept   Esc cancel   Ctrl-U clear");
  } else {
    ui_text(in.y + 3, in.x + 1, in.w - 2, ui_attr(UI_DIM), "y yes   n no   Esc cancel");
  }
}

// ---- help ----

static const char *const global_help[] = {
  "1-5\tswitch view (Tab, Shift-Tab: next, previous)",
  "?  F1\tthis help (Esc or ? closes it)",
  "S  Ctrl-S\tsave the plan (asks for a file)",
  "O  Ctrl-O\topen a plan file",
  "u  U\tundo, redo plan edits",
  "Ctrl-L\tredraw the screen",
  "Ctrl-Z\tsuspend (fg resumes)",
  "q  Ctrl-C\tquit (asks when the plan has unsaved edits)",
  "mouse\tclick tabs and keys; the views take clicks, drags and the wheel",
  NULL,
};

// Lines of the help screen: the current view first, then the others, then global keys.
static int help_lines(App *a, const char **out, const char **head, int cap) {
  int n = 0;
  for (int k = 0; k <= NVIEWS && n < cap; k++) {
    int v = k == 0 ? a->view : k - 1;
    if (k > 0 && v == a->view) continue;
    const char *const *h = k < NVIEWS + 1 && v < NVIEWS ? views[v]->help : NULL;
    if (k == NVIEWS) h = global_help;
    if (!h) continue;
    if (n < cap) head[n] = k == NVIEWS ? "everywhere" : views[v]->name, out[n++] = NULL;
    for (int i = 0; h[i] && n < cap; i++) head[n] = NULL, out[n++] = h[i];
    if (n < cap) head[n] = NULL, out[n++] = "";
  }
  return n;
}

static void draw_help(App *a) {
  Rect r = {1, 2, LINES - 3, COLS - 4};
  ui_fill(r, A_NORMAL);
  Rect in = ui_box(r, "help — Esc closes, ↑↓ PgUp PgDn scroll", 1);
  const char *line[256], *head[256];
  int n = help_lines(a, line, head, 256);
  int rows = in.h - 1;
  if (a->help_scroll > n - rows) a->help_scroll = n - rows;
  if (a->help_scroll < 0) a->help_scroll = 0;
  ui_text(in.y, in.x + 1, in.w - 2, ui_attr(UI_DIM),
          "stepscope explores Step-Adaptive Training: timestep groups, each with its own pruned model.");
  for (int i = 0; i < rows && a->help_scroll + i < n; i++) {
    int k = a->help_scroll + i, y = in.y + 1 + i;
    if (head[k]) { ui_text(y, in.x + 1, in.w - 2, ui_attr(UI_ACCENT), "%s", head[k]); continue; }
    const char *tab = strchr(line[k], '\t');
    if (!tab) { ui_text(y, in.x + 3, in.w - 4, ui_attr(UI_TEXT), "%s", line[k]); continue; }
    ui_text(y, in.x + 3, 18, ui_attr(UI_TITLE), "%.*s", (int)(tab - line[k]), line[k]);
    ui_text(y, in.x + 22, in.w - 23, ui_attr(UI_TEXT), "%s", tab + 1);
  }
}

// ---- the frame ----

static void draw_tabs(App *a) {
  ui_hline(0, 0, COLS, ui_attr(UI_TAB), " ");
  int x = 0;
  x += ui_text(0, x, COLS, ui_attr(UI_TAB) | A_BOLD, " stepscope ");
  for (int v = 0; v < NVIEWS; v++) {
    a->tab_x[v] = x;
    x += ui_text(0, x, COLS - x, ui_attr(v == a->view ? UI_TAB_HI : UI_TAB), " %d %s ", v + 1, views[v]->name);
  }
  a->tab_x[NVIEWS] = x;
  // what is open, as much of it as fits: plan [+] · model · device
  char right[3][2 * PATH_MAX + 64];
  const char *plan = a->plan_path[0] ? app_basename(a->plan_path) : "built-in plan", *mod = a->ex.modified ? " [+]" : "";
  snprintf(right[0], sizeof right[0], " %s%s · %s · %s ", plan, mod, a->base.ok ? app_basename(a->base.path) : "no model", a->device);
  snprintf(right[1], sizeof right[1], " %s%s · %s ", plan, mod, a->base.ok ? "model" : "no model");
  snprintf(right[2], sizeof right[2], "%s ", a->ex.modified ? " [+]" : "");
  for (int k = 0; k < 3; k++) {
    int w = ui_cols(right[k]);
    if (x + w < COLS) { ui_text(0, COLS - w, w, ui_attr(UI_TAB), "%s", right[k]); break; }
  }
}

static const char spinner[][4] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};

static void draw_status(App *a) {
  const int y = LINES - 2;
  // right: running jobs
  char jobs[256] = "";
  int any = 0;
  for (int i = 0; i < a->njobs; i++) {
    Job *j = a->jobs[i];
    job_lock(j);
    if (j->state == JOB_RUNNING) {
      int k = (int)(now_sec() * 10) % 10;
      snprintf(jobs + strlen(jobs), sizeof jobs - strlen(jobs), "%s %s %.0f%%  ", spinner[k], j->name, 100 * j->progress);
      any = 1;
    }
    job_unlock(j);
  }
  int jw = any ? ui_cols(jobs) : 0;
  if (any) ui_text(y, COLS - jw, jw, ui_attr(UI_ACCENT), "%s", jobs);
  int w = COLS - jw - 1;
  if (a->msg[0] && now_sec() < a->msg_until) {
    ui_text(y, 1, w, ui_attr(a->msg_role), "%s", a->msg);
    return;
  }
  const Explorer *ex = &a->ex;
  char order[48];
  if (ex->plan.order == ORDER_PROGRESSIVE || ex->plan.order == ORDER_REGRESSIVE)
    snprintf(order, sizeof order, "%s k=%.2f", order_name(ex->plan.order), ex->plan.k);
  else
    snprintf(order, sizeof order, "%s ratios", order_name(ex->plan.order));
  ui_text(y, 1, w, ui_attr(UI_DIM), "%d groups · %s schedule · split %s · %s · DDPM %.3f× · DDIM-%d %.3f× of the base compute",
          ex->plan.ngroups, schedule_name(ex->plan.schedule), split_name(ex->plan.split), order, ex->compute_ddpm,
          ex->ddim_steps, ex->compute_ddim);
}

static const KeyHint global_hints[] = {
  {"1-5", "views", 0}, {"S", "save", 'S'}, {"O", "open", 'O'}, {"?", "help", '?'}, {"q", "quit", 'q'},
};

// The view's keys from the left, the global ones at the right edge; the view's keys are
// cut first when the terminal is narrow, "? help" and "q quit" last.
static void draw_keybar(App *a) {
  const int ng = (int)(sizeof global_hints / sizeof global_hints[0]);
  ui_hline(LINES - 1, 0, COLS, A_NORMAL, " ");
  int gw = 0, first = 0;
  for (int i = 0; i < ng; i++) gw += ui_cols(global_hints[i].key) + 3 + ui_cols(global_hints[i].label);
  while (gw > COLS / 2 && first < ng - 2)
    gw -= ui_cols(global_hints[first].key) + 3 + ui_cols(global_hints[first].label), first++;
  KeyHint h[32];
  int n = views[a->view]->hints(a, h, 24);
  a->nspots = ui_keybar(LINES - 1, 0, COLS - gw - 1, h, n, a->spots, APP_MAX_SPOTS);
  a->nspots += ui_keybar(LINES - 1, COLS - gw, gw, global_hints + first, ng - first, a->spots + a->nspots,
                         APP_MAX_SPOTS - a->nspots);
}

static void draw_too_small(void) {
  const char *l1 = "The terminal is too small for stepscope.";
  char l2[96];
  snprintf(l2, sizeof l2, "It is %d×%d; it needs at least %d×%d. Make it larger, or press q.", COLS, LINES, MIN_COLS, MIN_ROWS);
  int y = LINES / 2 - 1;
  ui_text(y, (COLS - ui_cols(l1)) / 2 > 0 ? (COLS - ui_cols(l1)) / 2 : 0, COLS, ui_attr(UI_WARN), "%s", l1);
  ui_text(y + 1, (COLS - ui_cols(l2)) / 2 > 0 ? (COLS - ui_cols(l2)) / 2 : 0, COLS, ui_attr(UI_TEXT), "%s", l2);
}

static int rect_eq(Rect a, Rect b) { return a.y == b.y && a.x == b.x && a.h == b.h && a.w == b.w; }

static void draw(App *a) {
  for (int i = 0; i < APP_MAX_IMAGES; i++) a->img[i].used = 0;
  erase();
  const int small = COLS < MIN_COLS || LINES < MIN_ROWS;
  if (small) {
    draw_too_small();
  } else {
    draw_tabs(a);
    a->area = (Rect){1, 0, LINES - 3, COLS};
    views[a->view]->draw(a, a->area);
    draw_status(a);
    draw_keybar(a);
    if (a->help_open) draw_help(a);
    else if (a->dlg.kind) draw_dialog(a);
  }
  // Images: one on the terminal that is gone or moved this frame leaves pixels behind that
  // only a wipe removes (curses believes those cells blank, so it would never touch them).
  int wipe = a->clear;
  for (int i = 0; i < APP_MAX_IMAGES; i++) {
    const ImageSlot *s = &a->img[i];
    if (s->drawn && (!s->used || !rect_eq(s->shown, s->at))) wipe = 1;
  }
  if (wipe) {
    clearok(curscr, TRUE);
    for (int i = 0; i < APP_MAX_IMAGES; i++) a->img[i].drawn = 0;
  }
  a->clear = 0;
  wnoutrefresh(stdscr);
  doupdate();
  fflush(stdout);
  Bytes out = {0};
  for (int i = 0; i < APP_MAX_IMAGES; i++) {
    ImageSlot *s = &a->img[i];
    if (!s->used || (s->drawn && !s->stale)) continue;
    term_image_frame(&s->im, s->at.y, s->at.x, &out);
    s->drawn = 1, s->stale = 0;
    s->shown = s->at;
  }
  bytes_write(STDOUT_FILENO, &out);
  bytes_free(&out);
  a->dirty = 0;
}

// ---- input ----

static void switch_view(App *a, int v) {
  v = ((v % NVIEWS) + NVIEWS) % NVIEWS;
  if (v == a->view) return;
  a->view = v;
  app_wipe(a);  // the old view's images must go
  if (views[v]->enter) views[v]->enter(a);
}

static void quit_answer(App *a, const char *ans);
static void save_answer(App *a, const char *path) {
  if (!path[0]) { app_msg(a, UI_WARN, "not saved: no file name"); return; }
  app_save_plan(a, path);
}
static void save_then_quit(App *a, const char *path) {
  if (path[0] && app_save_plan(a, path) == 0) a->quit = 1;
}
static void quit_answer(App *a, const char *ans) {
  if (ans[0] == 'n') { a->quit = 1; return; }
  app_input(a, "save plan", "Save the plan to:", a->plan_path[0] ? a->plan_path : "plan.txt", save_then_quit);
}
static void open_answer(App *a, const char *path) {
  if (path[0]) app_load_plan(a, path);
}

static void ask_quit(App *a) {
  if (!a->ex.modified) { a->quit = 1; return; }
  app_confirm(a, "quit", "The plan has unsaved edits. Save them before quitting?", quit_answer);
}

static void suspend(App *a) {
  endwin();
  kill(getpid(), SIGSTOP);  // the shell's job control takes over; `fg` continues here
  refresh();
  app_wipe(a);
}

static void global_key(App *a, int ch) {
  switch (ch) {
    case '1': case '2': case '3': case '4': case '5': switch_view(a, ch - '1'); break;
    case '\t': switch_view(a, a->view + 1); break;
    case KEY_BTAB: switch_view(a, a->view - 1); break;
    case '?': case KEY_F(1): a->help_open = 1, a->help_scroll = 0; app_wipe(a); break;
    case 'q': case 3: ask_quit(a); break;
    case 'S': case 19:
      app_input(a, "save plan", "Save the plan to:", a->plan_path[0] ? a->plan_path : "plan.txt", save_answer);
      break;
    case 'O': case 15:
      app_input(a, "open plan", "Open the plan file:", a->plan_path[0] ? a->plan_path : "plan.txt", open_answer);
      break;
    case 'u': app_edited(a, explorer_undo(&a->ex)); break;
    case 'U': case 18: app_edited(a, explorer_redo(&a->ex)); break;
    case 12: app_wipe(a); break;  // Ctrl-L
    case 26: suspend(a); break;   // Ctrl-Z
    default: break;
  }
}

static void on_resize(App *a) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
    a->caps.rows = ws.ws_row, a->caps.cols = ws.ws_col;
    if (ws.ws_xpixel && ws.ws_ypixel) {  // the font may have changed too
      a->caps.cell_w = ws.ws_xpixel / ws.ws_col, a->caps.cell_h = ws.ws_ypixel / ws.ws_row;
      if (a->caps.cell_w < 1) a->caps.cell_w = 1;
      if (a->caps.cell_h < 1) a->caps.cell_h = 1;
    }
  }
  for (int i = 0; i < APP_MAX_IMAGES; i++) term_image_free(&a->img[i].im), a->img[i].drawn = 0;
  app_wipe(a);
}

static void mouse_event(App *a) {
  MEVENT m;
  if (getmouse(&m) != OK) return;
  if (a->dlg.kind) return;
  if (a->help_open) {
    if (m.bstate & BUTTON4_PRESSED) a->help_scroll -= 3;
    else if (m.bstate & BUTTON5_PRESSED) a->help_scroll += 3;
    else if (m.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)) a->help_open = 0, app_wipe(a);
    a->dirty = 1;
    return;
  }
  a->dirty = 1;
  if (m.y == 0 && (m.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))) {
    for (int v = 0; v < NVIEWS; v++)
      if (m.x >= a->tab_x[v] && m.x < a->tab_x[v + 1]) switch_view(a, v);
    return;
  }
  if (m.y == LINES - 1 && (m.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))) {
    for (int i = 0; i < a->nspots; i++)
      if (m.x >= a->spots[i].x0 && m.x < a->spots[i].x1 && a->spots[i].code) {
        int code = a->spots[i].code;
        if (!views[a->view]->key(a, code)) global_key(a, code);
      }
    return;
  }
  if (views[a->view]->mouse) views[a->view]->mouse(a, &m);
}

static void key(App *a, int ch) {
  a->dirty = 1;
  if (ch == KEY_RESIZE) { on_resize(a); return; }
  if (ch == KEY_MOUSE) { mouse_event(a); return; }
  if (COLS < MIN_COLS || LINES < MIN_ROWS) {  // only quitting makes sense
    if (ch == 'q' || ch == 3) ask_quit(a);
    return;
  }
  if (a->dlg.kind) { dialog_key(a, ch); return; }
  if (a->help_open) {
    switch (ch) {
      case KEY_UP: case 'k': a->help_scroll--; break;
      case KEY_DOWN: case 'j': a->help_scroll++; break;
      case KEY_PPAGE: a->help_scroll -= LINES / 2; break;
      case KEY_NPAGE: case ' ': a->help_scroll += LINES / 2; break;
      case KEY_HOME: a->help_scroll = 0; break;
      case 3: ask_quit(a); a->help_open = 0; app_wipe(a); break;
      default: a->help_open = 0; app_wipe(a); break;  // any other key closes it
    }
    return;
  }
  if (views[a->view]->key(a, ch)) return;
  global_key(a, ch);
}

// ---- setup and the loop ----

// Everything that can fail with a plain message runs before curses takes the terminal.
static int prepare(App *a) {
  Err e;
  // the plan: --plan, else the shipped one, else the built-in default
  char path[PATH_MAX];
  Plan p;
  int have_plan = 0;
  if (a->plan_arg[0]) {
    if (plan_load(a->plan_arg, &p, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); return 1; }
    snprintf(a->plan_path, sizeof a->plan_path, "%s", a->plan_arg);
    have_plan = 1;
  } else if (asset_path("plan.txt", path, sizeof path)) {
    if (plan_load(path, &p, &e) == 0) {
      snprintf(a->plan_path, sizeof a->plan_path, "%s", path);
      have_plan = 1;
    } else {
      app_msg(a, UI_WARN, "shipped plan not loaded (%s): using the built-in plan", e.msg);
    }
  }
  explorer_init(&a->ex, have_plan ? &p : NULL);
  // the base model: --model, else the plan's, else the shipped one
  if (a->model_arg[0]) {
    measure(&a->base, a->model_arg);
    if (!a->base.ok) { fprintf(stderr, "stepscope: %s\n", a->base.err); return 1; }
  } else {
    char planned[PATH_MAX] = "";
    if (a->ex.plan.base[0]) app_resolve(a, a->ex.plan.base, planned, sizeof planned);
    if (planned[0] && access(planned, R_OK) == 0) snprintf(path, sizeof path, "%s", planned);
    else asset_path("base.safetensors", path, sizeof path);
    measure(&a->base, path);
    if (!a->base.ok && access(path, F_OK) != 0)
      snprintf(a->base.err, sizeof a->base.err, "no model: %.400s does not exist", path);
  }
  if (a->base.ok) {
    explorer_set_base_cost(&a->ex, a->base.macs, a->base.params);
    SchedKind sk;
    if (schedule_parse(a->base.info.schedule, &sk) == 0 && sk != a->ex.plan.schedule)
      app_msg(a, UI_WARN, "the model was trained with the %s schedule, the plan uses %s", a->base.info.schedule,
              schedule_name(a->ex.plan.schedule));
  }
  app_measure_groups(a);
  // the device, resolved once so that jobs never print the auto fallback over the screen
  Backend *be = backend_create(a->device[0] ? a->device : "auto", 1, &e);
  if (!be) { fprintf(stderr, "stepscope: %s\n", e.msg); return 1; }
  snprintf(a->device, sizeof a->device, "%s", !strcmp(be->name, "cuda") ? "cuda" : "cpu");
  be->destroy(be);
  // terminal graphics: asked before curses, which would swallow the replies
  term_detect(STDOUT_FILENO, a->gfx_want, &a->caps);
  // the self-pipe the jobs wake the loop with
  if (pipe(a->wake)) { fprintf(stderr, "stepscope: pipe: %s\n", strerror(errno)); return 1; }
  for (int i = 0; i < 2; i++) {
    fcntl(a->wake[i], F_SETFL, fcntl(a->wake[i], F_GETFL) | O_NONBLOCK);
    fcntl(a->wake[i], F_SETFD, FD_CLOEXEC);
  }
  return 0;
}

int app_run(App *a) {
  setlocale(LC_ALL, "");
  a->wake[0] = a->wake[1] = -1;
  int rc = prepare(a);
  if (rc) return rc;
  terminal_setup(a);
  a->view = a->first_view >= 0 ? a->first_view : a->base.ok ? VIEW_GENERATE : VIEW_SCHEDULE;
  if (views[a->view]->enter) views[a->view]->enter(a);
  a->dirty = 1;
  double last_draw = 0;
  while (!a->quit && !quit_signal) {
    for (int v = 0; v < NVIEWS; v++)
      if (views[v]->tick) views[v]->tick(a);
    if (a->msg[0] && now_sec() >= a->msg_until) a->msg[0] = 0, a->dirty = 1;
    int busy = 0;
    for (int i = 0; i < a->njobs; i++) busy |= job_running(a->jobs[i]);
    double now = now_sec();
    int wait_ms = busy ? BUSY_MS : IDLE_MS;  // spinners and messages still move when idle
    if (a->dirty) {
      double since = (now - last_draw) * 1000;
      if (since >= FRAME_MS) {
        draw(a);
        last_draw = now;
      } else {
        wait_ms = (int)(FRAME_MS - since) + 1;
      }
    }
    if (a->msg[0]) {
      int left = (int)((a->msg_until - now) * 1000) + 1;
      if (left < wait_ms) wait_ms = left > 0 ? left : 0;
    }
    struct pollfd pfd[2] = {{STDIN_FILENO, POLLIN, 0}, {a->wake[0], POLLIN, 0}};
    int n = poll(pfd, 2, a->dirty ? (wait_ms < FRAME_MS ? wait_ms : FRAME_MS) : wait_ms);
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && (pfd[1].revents & POLLIN)) {
      char buf[256];
      while (read(a->wake[0], buf, sizeof buf) > 0) {}
    }
    if (n > 0 && (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))) break;  // the terminal went away
    if (busy) a->dirty = 1;  // progress bars and spinners
    int ch;
    while ((ch = getch()) != ERR) key(a, ch);
  }
  for (int v = 0; v < NVIEWS; v++)
    if (views[v]->destroy) views[v]->destroy(a);
  terminal_restore();
  for (int i = 0; i < APP_MAX_IMAGES; i++) term_image_free(&a->img[i].im);
  explorer_free(&a->ex);
  free(a->loss_per_t);
  close(a->wake[0]);
  close(a->wake[1]);
  if (quit_signal) return 128 + quit_signal;
  return 0;
}
