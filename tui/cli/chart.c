// chart.c — see chart.h. The layout is computed top-down (title, legend, then the plot
// areas) and left to right per panel (y label, tick labels, plot), all in multiples of
// the text scale s, so a chart twice as wide keeps its proportions.
#include "tui/cli/chart.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const Rgb INK = {30, 30, 30}, FRAME = {90, 90, 90}, GRID = {228, 228, 228}, PAPER = {255, 255, 255};

Rgb chart_color(int i) {
  // Okabe & Ito's colour-blind-safe palette, yellow last (weak on white).
  static const Rgb pal[8] = {{0, 114, 178}, {213, 94, 0}, {0, 158, 115}, {230, 159, 0},
                             {204, 121, 167}, {86, 180, 233}, {0, 0, 0}, {240, 228, 66}};
  return pal[(i % 8 + 8) % 8];
}

// ---- ticks ----

int chart_ticks(double lo, double hi, int target, double *ticks, int max) {
  if (!(hi > lo) || target < 1) return 0;
  double raw = (hi - lo) / target, mag = pow(10, floor(log10(raw))), step = 10 * mag;
  static const double nice[] = {1, 2, 2.5, 5};
  for (int i = 3; i >= 0; i--)
    if (nice[i] * mag >= raw) step = nice[i] * mag;
  int n = 0;
  // Ticks are k*step for whole k, so 0.1+0.2-style drift never accumulates.
  for (double k = ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9 && n < max; k++)
    ticks[n++] = fabs(k) < 0.5 ? 0 : k * step;
  return n;
}

static int decimals(double step) {  // digits after the point that multiples of step need
  int d = 0;
  for (double s = step; d < 12 && fabs(s - round(s)) > 1e-6 * s; d++) s *= 10;
  return d;
}

// amax: the largest |tick| on the axis, so that every label of an axis shares one exponent.
static void tick_label(double v, double step, double amax, char *out, int cap) {
  int e = amax > 0 ? (int)floor(log10(amax)) : 0;
  if (v == 0) snprintf(out, cap, "0");
  else if (e >= -2 && e <= 5) snprintf(out, cap, "%.*f", decimals(step), v);
  else {
    double p = pow(10, e);
    snprintf(out, cap, "%.*fe%d", decimals(step / p), v / p, e);
  }
}

void chart_tick_label(double v, double step, char *out, int cap) { tick_label(v, step, fabs(v), out, cap); }

// ---- mapping ----

static int clamp_px(double p) { return p < -100000 ? -100000 : p > 100000 ? 100000 : (int)lround(p); }

int chart_px_x(const ChartAxes *a, double x) {
  return clamp_px(a->x0 + (x - a->xmin) / (a->xmax - a->xmin) * (a->x1 - a->x0));
}

int chart_px_y(const ChartAxes *a, double y) {
  return clamp_px(a->y1 - (y - a->ymin) / (a->ymax - a->ymin) * (a->y1 - a->y0));
}

// ---- ranges ----

static int ok_point(const ChartSeries *s, int i) { return isfinite(s->x[i]) && isfinite(s->y[i]); }
static double bar(const ChartSeries *s, int i) {
  return s->err && isfinite(s->err[i]) && s->err[i] > 0 ? s->err[i] : 0;
}

// Pads [*lo, *hi] by frac of its width on each side (markers stay off the frame); an empty
// or one-value range becomes a small one around the value.
static void pad_range(double *lo, double *hi, double frac) {
  if (!(*lo <= *hi)) { *lo = 0, *hi = 1; return; }
  double w = *hi - *lo;
  if (w <= 1e-12 * fmax(fabs(*lo), fabs(*hi))) w = *lo != 0 ? fabs(*lo) * 0.2 : 1, *lo -= w / 2, *hi += w / 2;
  *lo -= w * frac, *hi += w * frac;
}

static void x_range(const Chart *ch, double *lo, double *hi) {
  *lo = INFINITY, *hi = -INFINITY;
  for (int p = 0; p < ch->npanels; p++)
    for (int k = 0; k < ch->panels[p].nseries; k++) {
      const ChartSeries *s = &ch->panels[p].series[k];
      for (int i = 0; i < s->n; i++)
        if (ok_point(s, i)) *lo = fmin(*lo, s->x[i]), *hi = fmax(*hi, s->x[i]);
    }
  pad_range(lo, hi, 0.06);
}

static void y_range(const ChartPanel *pn, double *lo, double *hi) {
  *lo = INFINITY, *hi = -INFINITY;
  for (int k = 0; k < pn->nseries; k++) {
    const ChartSeries *s = &pn->series[k];
    for (int i = 0; i < s->n; i++)
      if (ok_point(s, i)) *lo = fmin(*lo, s->y[i] - bar(s, i)), *hi = fmax(*hi, s->y[i] + bar(s, i));
  }
  pad_range(lo, hi, 0.08);
}

// ---- drawing ----

#define MAXT 32

typedef struct { double t[MAXT]; char label[MAXT][24]; int n, wmax; } Ticks;

static void make_ticks(Ticks *tk, double lo, double hi, int target, int s) {
  tk->n = chart_ticks(lo, hi, target, tk->t, MAXT);
  double step = tk->n > 1 ? tk->t[1] - tk->t[0] : hi - lo, amax = 0;
  for (int i = 0; i < tk->n; i++) amax = fmax(amax, fabs(tk->t[i]));
  tk->wmax = 0;
  for (int i = 0; i < tk->n; i++) {
    tick_label(tk->t[i], step, amax, tk->label[i], sizeof tk->label[i]);
    int w = raster_text_width(tk->label[i], s);
    if (w > tk->wmax) tk->wmax = w;
  }
}

static void draw_series(Canvas *c, const ChartAxes *a, const ChartSeries *sr, int idx, int s, int bare) {
  const Rgb col = chart_color(idx);
  const int lw = s, cap = bare ? 1 : 3 * s, r = bare ? 1 : 2 * s + 1;
  int px = 0, py = 0, have = 0;
  for (int i = 0; i < sr->n; i++) {  // error bars first, so lines and markers sit on top
    if (!ok_point(sr, i) || bar(sr, i) <= 0) continue;
    int x = chart_px_x(a, sr->x[i]), ylo = chart_px_y(a, sr->y[i] - bar(sr, i)), yhi = chart_px_y(a, sr->y[i] + bar(sr, i));
    raster_line(c, x, ylo, x, yhi, s > 1 ? s - 1 : 1, col);
    raster_fill(c, x - cap, ylo, 2 * cap + 1, s > 1 ? s - 1 : 1, col);
    raster_fill(c, x - cap, yhi, 2 * cap + 1, s > 1 ? s - 1 : 1, col);
  }
  for (int i = 0; i < sr->n; i++) {
    if (!ok_point(sr, i)) continue;
    int x = chart_px_x(a, sr->x[i]), y = chart_px_y(a, sr->y[i]);
    if (have) raster_line(c, px, py, x, y, lw, col);
    px = x, py = y, have = 1;
  }
  for (int i = 0; i < sr->n; i++)
    if (ok_point(sr, i)) raster_marker(c, chart_px_x(a, sr->x[i]), chart_px_y(a, sr->y[i]), r, (Marker)(idx % MARKER_KINDS), col);
}

// One legend entry's width: a line sample with the marker, a gap, the name.
static int entry_w(const char *name, int s) { return 22 * s + raster_text_width(name, s); }

// Draws the legend centred in [x0, x1) from row y (wrapping); returns the height it took.
static int legend(Canvas *c, const ChartPanel *pn, int x0, int x1, int y, int s, int draw) {
  int rowh = 11 * s, gap = 14 * s, h = 0;
  for (int k = 0; k < pn->nseries;) {
    int j = k, w = entry_w(pn->series[k].name, s);
    while (j + 1 < pn->nseries && w + gap + entry_w(pn->series[j + 1].name, s) <= x1 - x0) w += gap + entry_w(pn->series[++j].name, s);
    int x = x0 + (x1 - x0 - w) / 2, cy = y + h + 7 * s / 2;
    for (; k <= j; k++) {
      if (draw) {
        raster_line(c, x, cy, x + 16 * s, cy, s, chart_color(k));
        raster_marker(c, x + 8 * s, cy, 2 * s + 1, (Marker)(k % MARKER_KINDS), chart_color(k));
        raster_text(c, x + 22 * s, y + h, pn->series[k].name, s, INK);
      }
      x += entry_w(pn->series[k].name, s) + gap;
    }
    h += rowh;
  }
  return h;
}

int chart_draw(const Chart *ch, Canvas *c, ChartAxes *axes) {
  raster_fill(c, 0, 0, c->w, c->h, PAPER);
  if (ch->npanels < 1) return -1;
  int s = (c->w + 200) / 500;  // 1000 px: 2, so 12-px characters and 2-px lines
  s = s < 1 ? 1 : s > 4 ? 4 : s;
  if (c->h < 140 * s) s = c->h / 140 > 0 ? c->h / 140 : 1;
  const int bare = ch->bare, m = bare ? 1 : 6 * s, th = bare ? 0 : FONT_H * s, tick = bare ? 1 : 3 * s;
  const char *xlabel = bare ? NULL : ch->xlabel;
  int rc = 0, top = m;
  if (!bare && ch->title && *ch->title) {
    int ts = s + 1, w = raster_text_width(ch->title, ts);
    while (ts > 1 && w > c->w - 8) w = raster_text_width(ch->title, --ts);  // a long title: smaller type, not cut
    raster_text(c, (c->w - w) / 2, top, ch->title, ts, INK);
    top += FONT_H * ts + 5 * s;
  }
  if (!bare && ch->legend) top += legend(c, &ch->panels[0], m, c->w - m, top, s, 1) + s;
  const int py0 = top + th / 2;  // the top tick label sticks out half its height
  const int py1 = c->h - 1 - m - (xlabel && *xlabel ? th + 4 * s : 0) - th - tick - (bare ? 0 : 3 * s);

  double xlo, xhi;
  x_range(ch, &xlo, &xhi);
  const int cw = c->w / ch->npanels;
  for (int p = 0; p < ch->npanels; p++) {
    const ChartPanel *pn = &ch->panels[p];
    ChartAxes a = {.y0 = py0, .y1 = py1, .xmin = xlo, .xmax = xhi};
    y_range(pn, &a.ymin, &a.ymax);
    Ticks yt, xt;
    int yt_target = (py1 - py0) / (28 * s);
    make_ticks(&yt, a.ymin, a.ymax, yt_target < 2 ? 2 : yt_target > 8 ? 8 : yt_target, s);
    const int cx = p * cw, has_yl = !bare && pn->ylabel && *pn->ylabel;
    if (bare) yt.wmax = 0;
    a.x0 = cx + m + (has_yl ? th + 5 * s : 0) + yt.wmax + (bare ? 0 : 2 * s) + tick;
    a.x1 = cx + cw - 1 - m - (bare ? 1 : 2 * s);
    if (a.x1 - a.x0 < 10 || a.y1 - a.y0 < 10) { rc = -1; a.x1 = a.x0 + 10; }
    // As many x ticks as fit with their labels a few characters apart.
    int target = (a.x1 - a.x0) / (30 * s);
    for (target = target < 2 ? 2 : target > 10 ? 10 : target;; target--) {
      make_ticks(&xt, xlo, xhi, target, s);
      int room = xt.n > 1 ? chart_px_x(&a, xt.t[1]) - chart_px_x(&a, xt.t[0]) : a.x1 - a.x0;
      if (xt.wmax + 4 * s <= room || target <= 2) break;
    }
    if (axes) axes[p] = a;

    for (int i = 0; i < yt.n; i++) {
      int y = chart_px_y(&a, yt.t[i]);
      raster_fill(c, a.x0, y, a.x1 - a.x0 + 1, 1, GRID);
      raster_fill(c, a.x0 - tick, y, tick, s, FRAME);
      if (!bare) raster_text(c, a.x0 - tick - 2 * s - raster_text_width(yt.label[i], s), y - th / 2, yt.label[i], s, INK);
    }
    for (int i = 0; i < xt.n; i++) {
      int x = chart_px_x(&a, xt.t[i]), w = raster_text_width(xt.label[i], s);
      raster_fill(c, x, a.y0, 1, a.y1 - a.y0 + 1, GRID);
      raster_fill(c, x, a.y1 + 1, s, tick, FRAME);
      if (!bare) raster_text(c, x - w / 2, a.y1 + tick + 3 * s, xt.label[i], s, INK);
    }
    raster_frame(c, a.x0 - 1, a.y0 - 1, a.x1 - a.x0 + 3, a.y1 - a.y0 + 3, FRAME);
    if (has_yl) {
      int w = raster_text_width(pn->ylabel, s);
      raster_text_up(c, cx + m, (a.y0 + a.y1 + w) / 2, pn->ylabel, s, INK);
    }
    if (xlabel && *xlabel) {
      int w = raster_text_width(xlabel, s);
      raster_text(c, (a.x0 + a.x1 - w) / 2, py1 + tick + 3 * s + th + 4 * s, xlabel, s, INK);
    }
    for (int k = 0; k < pn->nseries; k++) draw_series(c, &a, &pn->series[k], k, s, bare);
  }
  return rc;
}
