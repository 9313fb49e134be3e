// app.c — the explorer's event loop: setup before curses (plan, models, device, graphics),
// the loop that sleeps in poll() and draws at most once a frame, and input (keys, mouse,
// resize) sent to the dialog, the help screen, the view or the global keys. The frame
// itself is chrome.c's, the terminal's care tty.c's. See app.h.
#include "tui/explorer/app.h"
#include "tui/assets.h"
#include "tui/explorer/tty.h"
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const View *const app_views[NVIEWS] = {&view_schedule, &view_importance, &view_generate, &view_prune, &view_loss};

enum { FRAME_MS = 16, IDLE_MS = 1000, BUSY_MS = 250 };
static const double MSG_SECONDS = 6;

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

// ---- input ----

static void switch_view(App *a, int v) {
  v = ((v % NVIEWS) + NVIEWS) % NVIEWS;
  if (v == a->view) return;
  a->view = v;
  app_wipe(a);  // the old view's images must go
  if (app_views[v]->enter) app_views[v]->enter(a);
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
  app_images_forget(a);
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
        if (!app_views[a->view]->key(a, code)) global_key(a, code);
      }
    return;
  }
  if (app_views[a->view]->mouse) app_views[a->view]->mouse(a, &m);
}

static void key(App *a, int ch) {
  a->dirty = 1;
  if (ch == KEY_RESIZE) { on_resize(a); return; }
  if (ch == KEY_MOUSE) { mouse_event(a); return; }
  if (COLS < MIN_COLS || LINES < MIN_ROWS) {  // only quitting makes sense
    if (ch == 'q' || ch == 3) ask_quit(a);
    return;
  }
  if (a->dlg.kind) { app_dialog_key(a, ch); return; }
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
  if (app_views[a->view]->key(a, ch)) return;
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
    app_measure(&a->base, a->model_arg);
    if (!a->base.ok) { fprintf(stderr, "stepscope: %s\n", a->base.err); return 1; }
  } else {
    char planned[PATH_MAX] = "";
    if (a->ex.plan.base[0]) app_resolve(a, a->ex.plan.base, planned, sizeof planned);
    if (planned[0] && access(planned, R_OK) == 0) snprintf(path, sizeof path, "%s", planned);
    else asset_path("base.safetensors", path, sizeof path);
    app_measure(&a->base, path);
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
  tty_setup();
  ui_colors_init(a->caps.color != TERM_COLOR_NONE);
  a->view = a->first_view >= 0 ? a->first_view : a->base.ok ? VIEW_GENERATE : VIEW_SCHEDULE;
  if (app_views[a->view]->enter) app_views[a->view]->enter(a);
  a->dirty = 1;
  double last_draw = 0;
  while (!a->quit && !tty_quit_signal()) {
    for (int v = 0; v < NVIEWS; v++)
      if (app_views[v]->tick) app_views[v]->tick(a);
    if (a->msg[0] && now_sec() >= a->msg_until) a->msg[0] = 0, a->dirty = 1;
    int busy = 0;
    for (int i = 0; i < a->njobs; i++) busy |= job_running(a->jobs[i]);
    double now = now_sec();
    int wait_ms = busy ? BUSY_MS : IDLE_MS;  // spinners and messages still move when idle
    if (a->dirty) {
      double since = (now - last_draw) * 1000;
      if (since >= FRAME_MS) {
        app_draw(a);
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
  for (int v = 0; v < NVIEWS; v++) {
    if (a->state[v] && app_views[v]->destroy) app_views[v]->destroy(a, a->state[v]);
    free(a->state[v]);
    a->state[v] = NULL;
  }
  tty_restore();
  app_images_forget(a);
  explorer_free(&a->ex);
  free(a->loss_per_t);
  close(a->wake[0]);
  close(a->wake[1]);
  return tty_quit_signal() ? 128 + tty_quit_signal() : 0;
}
