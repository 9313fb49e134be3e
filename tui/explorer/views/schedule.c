// schedule.c — view 1: SNR_dB(t) with the group boundaries, the groups table and the
// expected compute. Every key is an explorer_* edit; the numbers are recomputed by it.
#include "tui/explorer/app.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  Plot plot;        // geometry of the last drawn plot (mouse -> t)
  Rect table;       // rows of the groups table (first row: the header)
  int table_first;  // plan index on the first table row
  int dragging;
} Sched;

static Sched *st(App *a) {
  if (!a->state[VIEW_SCHEDULE]) a->state[VIEW_SCHEDULE] = calloc(1, sizeof(Sched));
  return a->state[VIEW_SCHEDULE];
}

// ---- drawing ----

static void draw_plot(App *a, Sched *s, Rect box) {
  const Explorer *ex = &a->ex;
  const Plan *p = &ex->plan;
  char title[96];
  snprintf(title, sizeof title, box.w >= 100 ? "SNR_dB(t) · %s schedule · split %s" : "SNR_dB(t) · %s · %s split",
           schedule_name(p->schedule), split_name(p->split));
  Rect in = ui_box(box, title, 1);
  if (in.h < 5 || in.w < 20) return;
  // the selected boundary, in words, at the right of the top border
  int b = ex->sel_bound;
  if (b >= 0)
    ui_box_note(box, ui_attr(UI_ACCENT), box.w >= 100 ? "◆ boundary %d/%d · t = %d · %+.1f dB" : "◆ %d/%d · t = %d · %+.1f dB",
                b + 1, p->ngroups - 1, p->g[b].t1, ex->sched.snr_db[p->g[b].t1]);
  else
    ui_box_note(box, ui_attr(UI_DIM), "one group: a splits it");
  const double *db = ex->sched.snr_db;
  double lo = db[p->T - 1], hi = db[0];
  double step = hi - lo > 100 ? 40 : 20;
  lo = floor(lo / step) * step, hi = ceil(hi / step) * step;
  int ny = (int)lround((hi - lo) / step) + 1;
  while (ny > in.h / 2 + 1 && ny > 2) step *= 2, lo = floor(lo / step) * step, hi = ceil(hi / step) * step, ny = (int)lround((hi - lo) / step) + 1;
  Rect pr = {in.y + 1, in.x, in.h - 1, in.w - 1};
  double xstep = in.w >= 90 ? 100 : in.w >= 45 ? 200 : 500;
  plot_begin(&s->plot, pr, 0, p->T - 1, lo, hi, "%+.0f", 0, ny, xstep, "%.0f");
  Plot *pl = &s->plot;
  if (!pl->area.w) return;
  // zero dB: where signal and noise are equal
  double *xs = malloc(sizeof(double) * (size_t)p->T);
  for (int t = 0; t < p->T; t++) xs[t] = t;
  if (lo < 0 && hi > 0)
    for (int px = 0; px < 2 * pl->area.w; px += 6) br_dot(&pl->br, px, plot_py(pl, 0), ui_attr(UI_AXIS));
  // boundaries under the curve: dashed, the selected one solid
  for (int j = 0; j + 1 < p->ngroups; j++)
    if (j != b) plot_vline(pl, p->g[j].t1 - 0.5, 1, ui_attr(UI_DIM));
  if (b >= 0) plot_vline(pl, p->g[b].t1 - 0.5, 0, ui_attr(UI_ACCENT));
  // the curve, each group in its colour
  for (int j = 0; j < p->ngroups; j++) {
    int t0 = p->g[j].t0, n = p->g[j].t1 - t0;
    plot_curve(pl, xs + t0, db + t0, n, ui_group_attr(j) | (j == ex->sel_group ? A_BOLD : 0));
  }
  plot_end(pl);
  free(xs);
  // group numbers (sampling order) along the top of the plot, where they fit
  for (int j = 0; j < p->ngroups; j++) {
    int c0 = pl->area.x + plot_px(pl, p->g[j].t0) / 2, c1 = pl->area.x + plot_px(pl, p->g[j].t1 - 1) / 2;
    char lab[16];
    snprintf(lab, sizeof lab, c1 - c0 >= 5 ? "i=%d" : "%d", p->ngroups - j);
    int w = ui_cols(lab);
    if (c1 - c0 + 1 >= w) ui_text(in.y, (c0 + c1 + 1 - w) / 2, w, ui_group_attr(j) | (j == ex->sel_group ? A_BOLD | A_UNDERLINE : 0), "%s", lab);
  }
  if (b >= 0) ui_text(pl->area.y + pl->area.h, pl->area.x + plot_px(pl, p->g[b].t1 - 0.5) / 2, 1, ui_attr(UI_ACCENT), "▲");
  ui_text_right(pl->area.y + pl->area.h + 1, in.x + in.w, 3, ui_attr(UI_DIM), " t");
}

static void fmt_macs(char *buf, int cap, double v) {
  if (v <= 0) { snprintf(buf, (size_t)cap, "—"); return; }
  ui_si(buf, cap, v);
}

static void draw_table(App *a, Sched *s, Rect box) {
  const Explorer *ex = &a->ex;
  const Plan *p = &ex->plan;
  char title[64];
  snprintf(title, sizeof title, "groups · %d", p->ngroups);
  Rect in = ui_box(box, title, 1);
  if (in.h < 3) return;
  const int wide = in.w >= 96;
  Col cols[] = {
    {"i", 3, 1}, {"t range", 9, 0}, {"SNR dB", 13, 0}, {"ratio", 5, 1}, {"MACs", 7, 1},
    {"params", 7, 1}, {"DDPM", 5, 1}, {"DDIM", 5, 1}, {"group model", 0, 0},
  };
  int ncols = 9;
  int used = ui_row_width(cols, 8) + 1;
  cols[8].w = in.w - 2 - used;
  if (cols[8].w < 12 || !wide) ncols = 8;
  int x = in.x + 1;
  ui_row(in.y, x, cols, ncols, NULL, ui_attr(UI_DIM) | A_UNDERLINE);
  s->table = (Rect){in.y + 1, in.x, in.h - 1, in.w};
  const int note = in.h - 1 > p->ngroups;  // room for a note under the rows
  int rows = in.h - 1 - note;
  int first = 0;
  if (ex->sel_group >= rows) first = ex->sel_group - rows + 1;
  s->table_first = first;
  for (int r = 0; r < rows && first + r < p->ngroups; r++) {
    int j = first + r;
    const GroupRow *g = &ex->row[j];
    char c[9][64];
    snprintf(c[0], 64, "%d", g->index);
    snprintf(c[1], 64, "%d–%d", g->t0, g->t1 - 1);
    snprintf(c[2], 64, "%+.1f…%+.1f", g->snr_hi, g->snr_lo);
    snprintf(c[3], 64, "%.2f", g->ratio);
    fmt_macs(c[4], 64, g->macs);
    char pm[32];
    fmt_macs(pm, 32, g->params);
    snprintf(c[5], 64, g->params > 0 ? "~%s" : "%s", pm);
    snprintf(c[6], 64, "%.0f%%", 100 * g->share_ddpm);
    snprintf(c[7], 64, "%.0f%%", 100 * g->share_ddim);
    if (g->has_model) {
      char mm[32];
      ui_si(mm, 32, g->model_macs);
      snprintf(c[8], 64, "%s %.2f×", app_basename(p->g[j].model), g->model_macs / (ex->base_macs > 0 ? ex->base_macs : g->model_macs));
    } else {
      snprintf(c[8], 64, "%s", p->g[j].model[0] ? "missing" : "—");
    }
    const char *cells[9] = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]};
    const int sel = j == ex->sel_group, y = in.y + 1 + r;
    if (sel) ui_hline(y, in.x, in.w, ui_attr(UI_SEL), " ");
    ui_text(y, in.x, 1, ui_group_attr(j) | (sel ? ui_attr(UI_SEL) : 0), "▌");
    ui_row(y, x, cols, ncols, cells, sel ? ui_attr(UI_SEL) : ui_attr(UI_TEXT));
    // ratio as a bar under its number when there is room: in the gap after the table
    int bx = x + ui_row_width(cols, ncols) + 2;
    if (bx + 6 < in.x + in.w && ncols == 8) ui_bar(y, bx, in.x + in.w - bx - 1, g->ratio, ui_group_attr(j));
  }
  const char *note_text = ex->base_macs > 0 ? "i: sampling order (1 runs first) · MACs per image · ~params: estimated from the ratio"
                                       : "no base model: MACs and params unknown — see the Generate view";
  if (note) ui_text(in.y + in.h - 1, x, in.w - 2, ui_attr(UI_DIM), "%s", note_text);
}

static void draw_compute(App *a, Rect box) {
  const Explorer *ex = &a->ex;
  Rect in = ui_box(box, "expected compute · against the base model", 0);
  if (in.h < 2) return;
  char m1[32], m2[32], b1[32], b2[32];
  fmt_macs(m1, 32, ex->macs_ddpm), fmt_macs(m2, 32, ex->macs_ddim);
  fmt_macs(b1, 32, ex->base_run_ddpm), fmt_macs(b2, 32, ex->base_run_ddim);
  int bw = in.w - 76 > 8 ? in.w - 76 : 8;
  struct { const char *name; int calls; double c; const char *m, *b; } line[2] = {
    {"DDPM", ex->calls_ddpm, ex->compute_ddpm, m1, b1}, {"DDIM", ex->calls_ddim, ex->compute_ddim, m2, b2}};
  for (int k = 0; k < 2 && k < in.h; k++) {
    int y = in.y + k, x = in.x + 1;
    x += ui_text(y, x, 12, ui_attr(UI_TITLE), "%s-%-5d", line[k].name, line[k].calls);
    x += ui_text(y, x, 9, ui_attr(UI_ACCENT), "%6.3f× ", line[k].c);
    ui_bar(y, x, bw, line[k].c, ui_attr(UI_ACCENT));
    x += bw + 1;
    ui_text(y, x, in.x + in.w - x, ui_attr(UI_TEXT), "%s MACs/image · base %s · saves %.1f %%", line[k].m, line[k].b,
            100 * (1 - line[k].c));
  }
  if (in.h >= 3) {
    const Plan *p = &ex->plan;
    ui_text(in.y + 2, in.x + 1, in.w - 2, ui_attr(UI_DIM), "ratios: %s%s%.2f   o cycles the order · < > change k · f applies the formula",
            order_name(p->order), p->order == ORDER_MANUAL ? " (hand-set)   k " : "   k ", p->k);
  }
}

static void draw(App *a, Rect r) {
  Sched *s = st(a);
  const int n = a->ex.plan.ngroups;
  const int compute_h = r.h >= 30 ? 5 : 4;
  if (r.w >= 150) {  // side by side
    int pw = r.w * 9 / 20;
    draw_plot(a, s, (Rect){r.y, r.x, r.h - compute_h, pw});
    draw_table(a, s, (Rect){r.y, r.x + pw, r.h - compute_h, r.w - pw});
  } else {          // stacked: the plot gets what the table does not need
    int th = n + (r.h >= 30 ? 4 : 3);  // borders, header, rows (and a note when there is room)
    if (th < 6) th = 6;
    if (th > r.h - compute_h - 8) th = r.h - compute_h - 8;
    int ph = r.h - compute_h - th;
    draw_plot(a, s, (Rect){r.y, r.x, ph, r.w});
    draw_table(a, s, (Rect){r.y + ph, r.x, th, r.w});
  }
  draw_compute(a, (Rect){r.y + r.h - compute_h, r.x, compute_h, r.w});
}

// ---- input ----

static void select_group(App *a, int g) {
  explorer_select_group(&a->ex, g);
  // the boundary to move is the selected group's right edge (the last group's left edge)
  explorer_select_bound(&a->ex, a->ex.sel_group);
}

static void ratio_answer(App *a, const char *text) {
  char *end;
  double v = strtod(text, &end);
  if (end == text) { app_msg(a, UI_WARN, "not a number: '%s'", text); return; }
  while (*end == ' ') end++;
  if (*end == '%') v /= 100;
  app_edited(a, explorer_set_ratio(&a->ex, a->ex.sel_group, v));
}

static void ddim_answer(App *a, const char *text) {
  int s = atoi(text);
  if (s < 1 || s > a->ex.plan.T) { app_msg(a, UI_WARN, "DDIM steps must be 1..%d", a->ex.plan.T); return; }
  a->ex.ddim_steps = s;
  explorer_update(&a->ex);
}

static void move_bound(App *a, int dt) {
  Explorer *ex = &a->ex;
  if (ex->sel_bound < 0) { app_msg(a, UI_WARN, "one group: no boundary to move (a splits the group)"); return; }
  app_edited(a, explorer_move_boundary(ex, ex->sel_bound, dt));
}

static void order_cycle(App *a) {
  static const OrderKind next[] = {[ORDER_PROGRESSIVE] = ORDER_REGRESSIVE, [ORDER_REGRESSIVE] = ORDER_UNIFORM,
                                   [ORDER_UNIFORM] = ORDER_LOSS, [ORDER_LOSS] = ORDER_PROGRESSIVE,
                                   [ORDER_MANUAL] = ORDER_PROGRESSIVE};
  Explorer *ex = &a->ex;
  OrderKind o = next[ex->plan.order];
  if (o == ORDER_LOSS && !ex->loss_per_t) o = ORDER_PROGRESSIVE;  // not measured yet: skip it
  app_edited(a, explorer_apply_order(ex, o, ex->plan.k));
  if (a->ex.plan.order == o) app_msg(a, UI_OK, "ratios: %s, k = %.2f", order_name(o), ex->plan.k);
}

static void k_step(App *a, double dk) {
  Explorer *ex = &a->ex;
  double k = round((ex->plan.k + dk) * 100) / 100;
  if (k < 0.05) k = 0.05;
  if (k > 1) k = 1;
  OrderKind o = ex->plan.order == ORDER_MANUAL ? ORDER_PROGRESSIVE : ex->plan.order;
  app_edited(a, explorer_apply_order(ex, o, k));
}

static int key(App *a, int ch) {
  Explorer *ex = &a->ex;
  switch (ch) {
    case KEY_UP: case 'k': select_group(a, ex->sel_group - 1); return 1;
    case KEY_DOWN: case 'j': select_group(a, ex->sel_group + 1); return 1;
    case KEY_HOME: select_group(a, 0); return 1;
    case KEY_END: select_group(a, ex->plan.ngroups - 1); return 1;
    case '[': explorer_select_bound(ex, ex->sel_bound - 1); return 1;
    case ']': explorer_select_bound(ex, ex->sel_bound + 1); return 1;
    case KEY_LEFT: case 'h': move_bound(a, -10); return 1;
    case KEY_RIGHT: case 'l': move_bound(a, 10); return 1;
    case KEY_SLEFT: case ',': move_bound(a, -1); return 1;
    case KEY_SRIGHT: case '.': move_bound(a, 1); return 1;
    case KEY_PPAGE: case 'H': move_bound(a, -100); return 1;
    case KEY_NPAGE: case 'L': move_bound(a, 100); return 1;
    case '+': case '=': app_edited(a, explorer_add_ratio(ex, ex->sel_group, 0.05)); return 1;
    case '-': case '_': app_edited(a, explorer_add_ratio(ex, ex->sel_group, -0.05)); return 1;
    case '\r': case '\n': case KEY_ENTER: case 'r': {
      char cur[32], title[48];
      snprintf(cur, sizeof cur, "%.2f", ex->plan.g[ex->sel_group].ratio);
      snprintf(title, sizeof title, "ratio of group i=%d", ex->row[ex->sel_group].index);
      app_input(a, title, "Target MACs as a fraction of the base model's (0.05..1, or a percentage):", cur, ratio_answer);
      return 1;
    }
    case 'a': case KEY_IC: app_edited(a, explorer_add_group(ex, ex->sel_group)); select_group(a, ex->sel_group); return 1;
    case 'd': case 'x': case KEY_DC: app_edited(a, explorer_remove_group(ex, ex->sel_group)); select_group(a, ex->sel_group); return 1;
    case 's': app_edited(a, explorer_set_split(ex, ex->plan.split == SPLIT_SNR ? SPLIT_T : SPLIT_SNR)); return 1;
    case 'c': app_edited(a, explorer_set_schedule(ex, ex->plan.schedule == SCHED_LINEAR ? SCHED_COSINE : SCHED_LINEAR)); return 1;
    case 'o': order_cycle(a); return 1;
    case '<': k_step(a, -0.05); return 1;
    case '>': k_step(a, 0.05); return 1;
    case 'f': app_edited(a, explorer_apply_order(ex, ex->plan.order == ORDER_MANUAL ? ORDER_PROGRESSIVE : ex->plan.order, ex->plan.k)); return 1;
    case 'n': {
      char cur[16];
      snprintf(cur, sizeof cur, "%d", ex->ddim_steps);
      app_input(a, "DDIM steps", "Steps S of the DDIM run in the compute totals:", cur, ddim_answer);
      return 1;
    }
  }
  return 0;
}

static int mouse(App *a, const MEVENT *m) {
  Sched *s = st(a);
  Explorer *ex = &a->ex;
  const Plot *pl = &s->plot;
  const int in_plot = pl->area.w && rect_has(pl->area, m->y, m->x);
  if (m->bstate & BUTTON1_PRESSED) {
    if (in_plot) {
      int t = (int)lround(plot_x_of_col(pl, m->x));
      int b = explorer_nearest_bound(ex, t);
      if (b >= 0) explorer_select_bound(ex, b), s->dragging = 1;
      return 1;
    }
    if (rect_has(s->table, m->y, m->x)) {
      int j = s->table_first + (m->y - s->table.y);
      if (j < ex->plan.ngroups) select_group(a, j);
      return 1;
    }
  }
  if (s->dragging && (m->bstate & (REPORT_MOUSE_POSITION | BUTTON1_RELEASED))) {
    int t = (int)lround(plot_x_of_col(pl, m->x) + 0.5);
    if (ex->sel_bound >= 0 && t != ex->plan.g[ex->sel_bound].t1) {
      if (explorer_set_boundary(ex, ex->sel_bound, t) == 0) a->plan_gen++;
    }
    if (m->bstate & BUTTON1_RELEASED) s->dragging = 0;
    return 1;
  }
  if (m->bstate & BUTTON4_PRESSED) { select_group(a, ex->sel_group - 1); return 1; }
  if (m->bstate & BUTTON5_PRESSED) { select_group(a, ex->sel_group + 1); return 1; }
  return 0;
}

static const KeyHint keys[] = {
  {"↑↓", "group", 0}, {"←→", "move ±10", 0}, {",.", "±1", 0}, {"[]", "boundary", 0}, {"+-", "ratio", 0},
  {"a", "add", 'a'}, {"d", "remove", 'd'}, {"s", "split", 's'}, {"c", "schedule", 'c'}, {"o", "order", 'o'},
  {NULL, NULL, 0},
};

static const char *const help[] = {
  "↑↓  j k\tselect a group (its right edge becomes the selected boundary)",
  "[  ]\tselect the previous, next boundary",
  "←→  h l\tmove the selected boundary by 10 timesteps",
  "Shift-←→  , .\tmove it by 1 timestep (fine)",
  "PgUp PgDn  H L\tmove it by 100 timesteps (coarse)",
  "+  -\tratio of the selected group ±0.05 (the order becomes manual)",
  "Enter  r\ttype the ratio (0.6 or 60%)",
  "a  Insert\tsplit the selected group in two",
  "d  Delete\tremove the selected group (merged into a neighbour)",
  "s\tre-split uniformly: in t, or in SNR_dB",
  "c\tschedule: linear or cosine",
  "o\tratio order: progressive, regressive, uniform, loss (measured in view 5)",
  "<  >\tthe formula's floor k ∓0.05;  f applies the formula again",
  "n\tDDIM steps S of the compute totals",
  "mouse\tdrag a boundary in the plot; click a table row; the wheel selects",
  "\tProgressive: FLOPs(i) = (i/N + (N-i)/N·k)·F, group i = 1 the noisiest, run first.",
  NULL,
};


const View view_schedule = {
  .name = "Schedule", .draw = draw, .key = key, .mouse = mouse, .keys = keys, .help = help,
};
