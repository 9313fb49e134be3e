// widgets.c — drawing helpers of the explorer (see widgets.h).
#include "tui/explorer/widgets.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

// ---- colours ----

static int color_on;
static attr_t role_attr[UI_NROLES], group_attr[UI_NGROUP_COLORS], heat_attr[8];

enum { PAIR_ROLE0 = 1, PAIR_GROUP0 = PAIR_ROLE0 + UI_NROLES, PAIR_HEAT0 = PAIR_GROUP0 + UI_NGROUP_COLORS };

// 256-colour theme (fg, bg; -1 = terminal default) and its 8-colour fallback.
typedef struct { short fg256, bg256, fg8, bg8; attr_t extra; } Style;
static const Style roles[UI_NROLES] = {
  [UI_TEXT]      = {252, -1, COLOR_WHITE, -1, 0},
  [UI_DIM]       = {244, -1, COLOR_WHITE, -1, A_DIM},
  [UI_TITLE]     = {255, -1, COLOR_WHITE, -1, A_BOLD},
  [UI_BORDER]    = {239, -1, COLOR_BLUE, -1, 0},
  [UI_BORDER_HI] = {74, -1, COLOR_CYAN, -1, 0},
  [UI_ACCENT]    = {81, -1, COLOR_CYAN, -1, A_BOLD},
  [UI_SEL]       = {255, 24, COLOR_WHITE, COLOR_BLUE, A_BOLD},
  [UI_KEY]       = {16, 74, COLOR_BLACK, COLOR_CYAN, 0},  // no bold: bold black turns grey
  [UI_KEYLABEL]  = {250, -1, COLOR_WHITE, -1, 0},
  [UI_OK]        = {114, -1, COLOR_GREEN, -1, 0},
  [UI_WARN]      = {221, -1, COLOR_YELLOW, -1, A_BOLD},
  [UI_ERR]       = {203, -1, COLOR_RED, -1, A_BOLD},
  [UI_TAB]       = {246, 236, COLOR_WHITE, -1, 0},
  [UI_TAB_HI]    = {16, 81, COLOR_BLACK, COLOR_CYAN, 0},
  [UI_AXIS]      = {242, -1, COLOR_WHITE, -1, A_DIM},
  [UI_BAR_BG]    = {237, -1, COLOR_BLACK, -1, A_DIM},
};
// Without colour: what still tells the roles apart.
static const attr_t mono[UI_NROLES] = {
  [UI_DIM] = A_DIM, [UI_TITLE] = A_BOLD, [UI_BORDER_HI] = A_BOLD, [UI_ACCENT] = A_BOLD,
  [UI_SEL] = A_REVERSE, [UI_KEY] = A_REVERSE, [UI_WARN] = A_BOLD, [UI_ERR] = A_BOLD | A_UNDERLINE,
  [UI_TAB_HI] = A_REVERSE, [UI_AXIS] = A_DIM, [UI_BAR_BG] = A_DIM,
};
static const short groups256[UI_NGROUP_COLORS] = {81, 114, 221, 209, 176, 141, 74, 150};
static const short groups8[UI_NGROUP_COLORS] = {COLOR_CYAN, COLOR_GREEN, COLOR_YELLOW, COLOR_RED,
                                                COLOR_MAGENTA, COLOR_BLUE, COLOR_CYAN, COLOR_GREEN};
static const short heat256[8] = {236, 238, 24, 31, 37, 114, 221, 203};
static const short heat8[8] = {COLOR_BLACK, COLOR_BLACK, COLOR_BLUE, COLOR_BLUE, COLOR_CYAN, COLOR_GREEN, COLOR_YELLOW, COLOR_RED};

void ui_colors_init(int use_color) {
  color_on = use_color && has_colors() && start_color() == OK;
  if (!color_on) {
    for (int r = 0; r < UI_NROLES; r++) role_attr[r] = mono[r];
    for (int g = 0; g < UI_NGROUP_COLORS; g++) group_attr[g] = g % 2 ? A_BOLD : A_NORMAL;
    for (int h = 0; h < 8; h++) heat_attr[h] = h < 3 ? A_DIM : h < 6 ? A_NORMAL : A_BOLD;
    return;
  }
  use_default_colors();
  const int rich = COLORS >= 256;
  for (int r = 0; r < UI_NROLES; r++) {
    const Style *s = &roles[r];
    init_pair((short)(PAIR_ROLE0 + r), rich ? s->fg256 : s->fg8, rich ? s->bg256 : s->bg8);
    role_attr[r] = COLOR_PAIR(PAIR_ROLE0 + r) | s->extra;
  }
  for (int g = 0; g < UI_NGROUP_COLORS; g++) {
    init_pair((short)(PAIR_GROUP0 + g), rich ? groups256[g] : groups8[g], -1);
    group_attr[g] = COLOR_PAIR(PAIR_GROUP0 + g);
  }
  for (int h = 0; h < 8; h++) {
    init_pair((short)(PAIR_HEAT0 + h), rich ? heat256[h] : heat8[h], -1);
    heat_attr[h] = COLOR_PAIR(PAIR_HEAT0 + h) | (rich ? 0 : h > 4 ? A_BOLD : 0);
  }
}

int ui_color_on(void) { return color_on; }
attr_t ui_attr(UiRole role) { return role_attr[role]; }
attr_t ui_group_attr(int g) { return group_attr[((g % UI_NGROUP_COLORS) + UI_NGROUP_COLORS) % UI_NGROUP_COLORS]; }
attr_t ui_heat_attr(double v) {
  int h = isfinite(v) ? (int)(v * 8) : 0;
  return heat_attr[h < 0 ? 0 : h > 7 ? 7 : h];
}

// ---- text ----

int ui_cols(const char *s) {
  mbstate_t st = {0};
  int cols = 0;
  for (;;) {
    wchar_t wc;
    size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
    if (n == 0 || n == (size_t)-2) break;
    if (n == (size_t)-1) { memset(&st, 0, sizeof st); s++; cols++; continue; }
    int w = wcwidth(wc);
    cols += w > 0 ? w : 0;
    s += n;
  }
  return cols;
}

// Byte length of the longest prefix of s that fits in maxw columns; *cols gets its width.
static size_t fit_prefix(const char *s, int maxw, int *cols) {
  mbstate_t st = {0};
  const char *p = s;
  int c = 0;
  for (;;) {
    wchar_t wc;
    size_t n = mbrtowc(&wc, p, MB_CUR_MAX, &st);
    if (n == 0 || n == (size_t)-2) break;
    int w = 1;
    if (n == (size_t)-1) { memset(&st, 0, sizeof st); n = 1; }
    else w = wcwidth(wc) > 0 ? wcwidth(wc) : 0;
    if (c + w > maxw) break;
    c += w;
    p += n;
  }
  *cols = c;
  return (size_t)(p - s);
}

static int put_cut(int y, int x, int maxw, attr_t a, const char *s) {
  if (maxw <= 0 || y < 0 || y >= LINES || x >= COLS) return 0;
  if (x + maxw > COLS) maxw = COLS - x;
  int cols;
  size_t n = fit_prefix(s, maxw, &cols);
  attrset(a);
  mvaddnstr(y, x, s, (int)n);
  attrset(A_NORMAL);
  return cols;
}

// Formatted text cut to maxw columns, starting at x, or (right) ending at x.
static int put_fmt(int y, int x, int right, int maxw, attr_t a, const char *fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  if (right) {
    int w = ui_cols(buf);
    x -= w < maxw ? w : maxw;
  }
  return put_cut(y, x, maxw, a, buf);
}

int ui_text(int y, int x, int maxw, attr_t a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = put_fmt(y, x, 0, maxw, a, fmt, ap);
  va_end(ap);
  return n;
}

int ui_text_right(int y, int x_end, int maxw, attr_t a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = put_fmt(y, x_end, 1, maxw, a, fmt, ap);
  va_end(ap);
  return n;
}

void ui_hline(int y, int x, int w, attr_t a, const char *glyph) {
  if (y < 0 || y >= LINES) return;
  attrset(a);
  for (int i = 0; i < w && x + i < COLS; i++) mvaddstr(y, x + i, glyph);
  attrset(A_NORMAL);
}

void ui_fill(Rect r, attr_t a) {
  for (int y = r.y; y < r.y + r.h; y++) ui_hline(y, r.x, r.w, a, " ");
}

void ui_si(char *buf, int cap, double v) {
  static const char *const pre[] = {"", " k", " M", " G", " T", " P"};
  int k = 0;
  double a = fabs(v);
  while (a >= 999.5 && k < 5) a /= 1000, v /= 1000, k++;
  if (k == 0 && v == floor(v)) snprintf(buf, (size_t)cap, "%.0f", v);
  else snprintf(buf, (size_t)cap, a >= 99.95 ? "%.0f%s" : a >= 9.995 ? "%.1f%s" : "%.2f%s", v, pre[k]);
}

// ---- boxes and bars ----

Rect ui_box(Rect r, const char *title, int active) {
  if (r.w < 2 || r.h < 2) return (Rect){r.y, r.x, 0, 0};
  attr_t b = ui_attr(active ? UI_BORDER_HI : UI_BORDER);
  ui_hline(r.y, r.x + 1, r.w - 2, b, "─");
  ui_hline(r.y + r.h - 1, r.x + 1, r.w - 2, b, "─");
  attrset(b);
  for (int y = r.y + 1; y < r.y + r.h - 1; y++) {
    mvaddstr(y, r.x, "│");
    mvaddstr(y, r.x + r.w - 1, "│");
  }
  mvaddstr(r.y, r.x, "╭");
  mvaddstr(r.y, r.x + r.w - 1, "╮");
  mvaddstr(r.y + r.h - 1, r.x, "╰");
  mvaddstr(r.y + r.h - 1, r.x + r.w - 1, "╯");
  attrset(A_NORMAL);
  if (title && *title && r.w > 6) {
    int n = ui_text(r.y, r.x + 2, r.w - 6, b, "┤");
    n += ui_text(r.y, r.x + 2 + n, r.w - 6, ui_attr(active ? UI_TITLE : UI_TEXT), " %s ", title);
    ui_text(r.y, r.x + 2 + n, 1, b, "├");
  }
  return rect_inset(r, 1, 1);
}

void ui_box_note(Rect r, attr_t a, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  int w = ui_cols(buf), room = r.w / 2 - 4;
  if (w > room) w = room;
  if (w <= 0) return;
  int x = r.x + r.w - 3 - w;
  attr_t b = ui_attr(UI_BORDER);
  ui_text(r.y, x - 2, 1, b, "┤");
  ui_text(r.y, x - 1, w + 2, a, " %s ", buf);
  ui_text(r.y, x + w + 1, 1, b, "├");
}

void ui_bar(int y, int x, int w, double frac, attr_t fill) {
  static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
  if (w <= 0) return;
  if (!(frac > 0)) frac = 0;
  if (frac > 1) frac = 1;
  int e = (int)lround(frac * w * 8), full = e / 8, part = e % 8;
  ui_hline(y, x, w, ui_attr(UI_BAR_BG), ui_color_on() ? "─" : " ");
  ui_hline(y, x, full, fill, "█");
  if (part && full < w) ui_text(y, x + full, 1, fill, "%s", eighths[part]);
}

void ui_progress(int y, int x, int w, double frac, const char *label) {
  if (w < 8) return;
  ui_bar(y, x, w / 3, frac, ui_attr(UI_ACCENT));
  ui_text(y, x + w / 3 + 1, w - w / 3 - 1, ui_attr(UI_TEXT), "%3.0f %%  %s", 100 * (frac > 1 ? 1 : frac < 0 ? 0 : frac), label ? label : "");
}

// ---- braille ----

void br_init(Braille *b, int w, int h) {
  b->w = w > 0 ? w : 0, b->h = h > 0 ? h : 0;
  b->dots = calloc((size_t)(b->w * b->h) + 1, 1);
  b->attr = calloc((size_t)(b->w * b->h) + 1, sizeof(attr_t));
}

void br_free(Braille *b) {
  free(b->dots);
  free(b->attr);
  b->dots = NULL, b->attr = NULL;
}

void br_dot(Braille *b, int px, int py, attr_t a) {
  static const uint8_t bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
  if (px < 0 || py < 0 || px >= 2 * b->w || py >= 4 * b->h) return;
  int c = (py / 4) * b->w + px / 2;
  b->dots[c] |= bit[py % 4][px % 2];
  b->attr[c] = a;
}

void br_line(Braille *b, int x0, int y0, int x1, int y1, attr_t a) {
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
  for (int guard = 0; guard < 100000; guard++) {  // Bresenham
    br_dot(b, x0, y0, a);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void br_draw(const Braille *b, int y, int x) {
  for (int r = 0; r < b->h; r++)
    for (int c = 0; c < b->w; c++) {
      uint8_t d = b->dots[r * b->w + c];
      if (!d) continue;
      unsigned cp = 0x2800u + d;  // U+2800..U+28FF, three bytes of UTF-8
      char s[4] = {(char)(0xe0 | cp >> 12), (char)(0x80 | (cp >> 6 & 0x3f)), (char)(0x80 | (cp & 0x3f)), 0};
      attrset(b->attr[r * b->w + c]);
      mvaddstr(y + r, x + c, s);
    }
  attrset(A_NORMAL);
}

// ---- plot ----

void plot_begin(Plot *p, Rect r, double x0, double x1, double y0, double y1, const char *yfmt, int ylog,
                int ny, double xstep, const char *xfmt) {
  if (!(y1 > y0)) y1 = y0 + 1;
  if (!(x1 != x0)) x1 = x0 + 1;
  // y labels: as wide as the widest tick label
  char lab[32];
  int lw = 0;
  if (ny < 2) ny = 2;
  for (int i = 0; i < ny; i++) {
    double v = y0 + (y1 - y0) * i / (ny - 1);
    snprintf(lab, sizeof lab, yfmt, ylog ? pow(10, v) : v);
    int n = ui_cols(lab);
    if (n > lw) lw = n;
  }
  *p = (Plot){.area = {r.y, r.x + lw + 1, r.h - 2, r.w - lw - 2}, .x0 = x0, .x1 = x1, .y0 = y0, .y1 = y1};
  if (p->area.w < 4 || p->area.h < 2) { p->area.w = p->area.h = 0; br_init(&p->br, 0, 0); return; }
  br_init(&p->br, p->area.w, p->area.h);
  const attr_t ax = ui_attr(UI_AXIS);
  // axes: a left rule with ticks, a bottom rule with ticks
  for (int y = 0; y < p->area.h; y++) ui_text(p->area.y + y, p->area.x - 1, 1, ax, "│");
  ui_text(p->area.y + p->area.h, p->area.x - 1, 1, ax, "└");
  ui_hline(p->area.y + p->area.h, p->area.x, p->area.w, ax, "─");
  for (int i = 0; i < ny; i++) {
    double v = y0 + (y1 - y0) * i / (ny - 1);
    int row = p->area.y + p->area.h - 1 - (int)lround((double)(p->area.h - 1) * i / (ny - 1));
    snprintf(lab, sizeof lab, yfmt, ylog ? pow(10, v) : v);
    ui_text_right(row, p->area.x - 1, lw, ui_attr(UI_DIM), "%s", lab);
    ui_text(row, p->area.x - 1, 1, ax, "┤");
  }
  if (xstep > 0) {
    double lo = fmin(x0, x1), hi = fmax(x0, x1);
    int last_end = -1000;
    for (double v = ceil(lo / xstep) * xstep; v <= hi + 1e-9; v += xstep) {
      int col = p->area.x + (int)lround((v - x0) / (x1 - x0) * (p->area.w - 1));
      snprintf(lab, sizeof lab, xfmt, v);
      int n = ui_cols(lab), at = col - n / 2;
      if (at < p->area.x - 1) at = p->area.x - 1;
      if (at + n > p->area.x + p->area.w) at = p->area.x + p->area.w - n;
      ui_text(p->area.y + p->area.h, col, 1, ax, "┬");
      if (at > last_end + 1) {
        ui_text(p->area.y + p->area.h + 1, at, n, ui_attr(UI_DIM), "%s", lab);
        last_end = at + n;
      }
    }
  }
}

int plot_px(const Plot *p, double x) { return (int)lround((x - p->x0) / (p->x1 - p->x0) * (2 * p->area.w - 1)); }
int plot_py(const Plot *p, double y) { return (int)lround((p->y1 - y) / (p->y1 - p->y0) * (4 * p->area.h - 1)); }
double plot_x_of_col(const Plot *p, int col) {
  return p->x0 + (p->x1 - p->x0) * ((col - p->area.x) * 2 + 0.5) / (2 * p->area.w - 1);
}

void plot_curve(Plot *p, const double *x, const double *y, int n, attr_t a) {
  int have = 0, px = 0, py = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(y[i]) || !isfinite(x[i])) { have = 0; continue; }
    int cx = plot_px(p, x[i]), cy = plot_py(p, y[i]);
    if (cy < -4 * p->area.h) cy = -4 * p->area.h;  // keep Bresenham bounded far off the area
    if (cy > 8 * p->area.h) cy = 8 * p->area.h;
    if (have) br_line(&p->br, px, py, cx, cy, a);
    else br_dot(&p->br, cx, cy, a);
    px = cx, py = cy, have = 1;
  }
}

void plot_vline(Plot *p, double x, int dashed, attr_t a) {
  int cx = plot_px(p, x);
  for (int y = 0; y < 4 * p->area.h; y++)
    if (!dashed || y % 4 < 2) br_dot(&p->br, cx, y, a);
}

void plot_end(Plot *p) {
  br_draw(&p->br, p->area.y, p->area.x);
  br_free(&p->br);
}

// ---- table rows ----

int ui_row_width(const Col *cols, int n) {
  int w = 0;
  for (int i = 0; i < n; i++) w += cols[i].w + (i ? 1 : 0);
  return w;
}

int ui_row(int y, int x, const Col *cols, int n, const char *const *cells, attr_t a) {
  int at = x;
  for (int i = 0; i < n; i++) {
    if (i) at++;
    const char *s = cells ? cells[i] : cols[i].head;
    if (cols[i].right) ui_text_right(y, at + cols[i].w, cols[i].w, a, "%s", s);
    else ui_text(y, at, cols[i].w, a, "%s", s);
    at += cols[i].w;
  }
  return at - x;
}

// ---- key bar ----

int ui_keybar(int y, int x, int w, const KeyHint *h, int n, HintSpot *spots, int cap) {
  int at = x, ns = 0;
  for (int i = 0; i < n; i++) {
    int need = ui_cols(h[i].key) + 2 + ui_cols(h[i].label) + 1;
    if (at + need > x + w) break;
    int start = at;
    at += ui_text(y, at, need, ui_attr(UI_KEY), " %s ", h[i].key);
    at += ui_text(y, at, need, ui_attr(UI_KEYLABEL), "%s ", h[i].label);
    if (ns < cap) spots[ns++] = (HintSpot){start, at, h[i].code};
  }
  return ns;
}
