// chart.h — line charts with error bars on a raster canvas (tui/cli/raster.h): one or more
// panels side by side sharing an x quantity, one polyline with markers per series, a
// legend, ticks at round steps, axis labels and a title. A pure function from data to
// pixels: no files, no terminal, so tests can check where a value lands.
#pragma once
#include "tui/cli/raster.h"

typedef struct {
  const char *name;         // legend label
  int n;
  const double *x, *y;      // n points, drawn in the given order (sort by x first)
  const double *err;        // NULL, or n half-widths of the error bars (NAN or <= 0: no bar)
} ChartSeries;

typedef struct {
  const char *ylabel;
  int nseries;
  const ChartSeries *series;  // the same series order (so colours and markers) in every panel
} ChartPanel;

typedef struct {
  const char *title, *xlabel;  // NULL or "": left out
  int npanels;
  const ChartPanel *panels;
  int legend;                  // draw the legend (pointless with one unnamed series)
  int bare;                    // no text at all, thin margins: for canvases too small to
                               // letter (half blocks in a terminal); the caller prints the text
} Chart;

// Where a panel's data went: the plot area, inclusive pixel bounds, and the data range it
// spans (x0 <-> xmin, x1 <-> xmax, y1 (bottom) <-> ymin, y0 (top) <-> ymax).
typedef struct {
  int x0, y0, x1, y1;
  double xmin, xmax, ymin, ymax;
} ChartAxes;

#define CHART_MAX_SERIES 16
#define CHART_MAX_PANELS 8

// Series colour i (fixed, colour-blind-safe order; cycles after 8).
Rgb chart_color(int i);

// Draws ch on c, which sets the size; the text scale and line widths follow c->w. axes, when
// not NULL, receives ch->npanels entries. Points with a NAN or infinite x or y are left out
// (the line joins the neighbours). Returns 0, or -1 when the canvas is too small for the
// layout (it is then only partly drawn).
int chart_draw(const Chart *ch, Canvas *c, ChartAxes *axes);

// The pixel column / row of a data value on a panel's axes.
int chart_px_x(const ChartAxes *a, double x);
int chart_px_y(const ChartAxes *a, double y);

// Round tick steps: ticks at multiples of 1, 2, 2.5 or 5 times a power of ten, about
// `target` of them across [lo, hi]. Writes at most max ticks, returns the count.
int chart_ticks(double lo, double hi, int target, double *ticks, int max);
// A tick label: plain decimals ("0.65", "120") for moderate magnitudes, else mantissa and
// exponent ("1.5e-3"), with just the digits `step` needs.
void chart_tick_label(double v, double step, char *out, int cap);
