// chrome.c — the frame around the views: the tab bar, the status line (messages, running
// jobs, the plan's compute), the key bar, the help screen and the "too small" notice;
// app_draw() puts one whole frame on the screen, images after curses. See app.h.
#include "tui/explorer/app.h"
#include <string.h>

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
    const char *const *h = k < NVIEWS + 1 && v < NVIEWS ? app_views[v]->help : NULL;
    if (k == NVIEWS) h = global_help;
    if (!h) continue;
    if (n < cap) head[n] = k == NVIEWS ? "everywhere" : app_views[v]->name, out[n++] = NULL;
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
    x += ui_text(0, x, COLS - x, ui_attr(v == a->view ? UI_TAB_HI : UI_TAB), " %d %s ", v + 1, app_views[v]->name);
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
  const View *v = app_views[a->view];
  KeyHint h[32];
  int n = 0;
  if (v->hints) n = v->hints(a, h, 24);
  else while (n < 24 && v->keys && v->keys[n].key) h[n] = v->keys[n], n++;
  a->nspots = ui_keybar(LINES - 1, 0, COLS - gw - 1, h, n, a->spots, APP_MAX_SPOTS);
  a->nspots += ui_keybar(LINES - 1, COLS - gw, gw, global_hints + first, ng - first, a->spots + a->nspots,
                         APP_MAX_SPOTS - a->nspots);
}

// How to get a model, the same in every view; "$ " starts a command.
static const char *const get_a_model[] = {
  "Train one (the shipped default, about an hour on a laptop CPU):",
  "$ stepscope train --out assets/base.safetensors",
  "or a tiny one in seconds, to try things out:",
  "$ stepscope train --config tiny --steps 300 --out tiny.safetensors",
  "then open it:  stepscope tui --model tiny.safetensors",
  "Group models come from a plan:  stepscope plan, stepscope prune, stepscope finetune",
  "",
  "The Schedule view (1) works without a model.",
  NULL,
};

// Lines from row y, each cut to the box; returns the row after the last.
static int draw_lines(Rect in, int y, const char *const *l) {
  for (; *l; l++, y++) {
    if (!strncmp(*l, "$ ", 2)) ui_text(y, in.x + 4, in.w - 6, ui_attr(UI_ACCENT), "%s", *l + 2);
    else ui_text(y, in.x + 2, in.w - 4, ui_attr(UI_TEXT), "%s", *l);
  }
  return y;
}

// A view's no_model page: its title, its warning, why the model did not load, what the
// view would show, and how to get a model.
static void draw_no_model(App *a, Rect r, const char *const *page) {
  Rect in = ui_box(r, page[0], 1);
  int y = in.y + 1;
  ui_text(y++, in.x + 2, in.w - 4, ui_attr(UI_WARN), "%s", page[1]);
  ui_text(y++, in.x + 2, in.w - 4, ui_attr(UI_TEXT), "%s", a->base.err[0] ? a->base.err : "no model");
  y = draw_lines(in, y + 1, page + 2);
  draw_lines(in, y + 1, get_a_model);
}

static void draw_too_small(void) {
  const char *l1 = "The terminal is too small for stepscope.";
  char l2[96];
  snprintf(l2, sizeof l2, "It is %d×%d; it needs at least %d×%d. Make it larger, or press q.", COLS, LINES, MIN_COLS, MIN_ROWS);
  int y = LINES / 2 - 1;
  ui_text(y, (COLS - ui_cols(l1)) / 2 > 0 ? (COLS - ui_cols(l1)) / 2 : 0, COLS, ui_attr(UI_WARN), "%s", l1);
  ui_text(y + 1, (COLS - ui_cols(l2)) / 2 > 0 ? (COLS - ui_cols(l2)) / 2 : 0, COLS, ui_attr(UI_TEXT), "%s", l2);
}

void app_draw(App *a) {
  app_images_begin(a);
  erase();
  const int small = COLS < MIN_COLS || LINES < MIN_ROWS;
  if (small) {
    draw_too_small();
  } else {
    draw_tabs(a);
    a->area = (Rect){1, 0, LINES - 3, COLS};
    const View *v = app_views[a->view];
    if (v->no_model && !a->base.ok) draw_no_model(a, a->area, v->no_model);
    else v->draw(a, a->area);
    draw_status(a);
    draw_keybar(a);
    if (a->help_open) draw_help(a);
    else if (a->dlg.kind) app_draw_dialog(a);
  }
  app_images_present(a);
  a->dirty = 0;
}
