// cmd_plot.c — `stepscope plot`: a results table (CSV) drawn as line charts with error
// bars, one panel per --y, one line per --series value, into a PNG and, with --show, in
// the terminal. Made for the experiment's pareto table (FID and KID against MACs share),
// but any table with numeric columns will do.
#include "engine/png_io.h"
#include "tui/cli/args.h"
#include "tui/cli/chart.h"
#include "tui/cli/commands.h"
#include "tui/cli/csv.h"
#include "tui/termgfx/term_image.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { double x, y, err; } Pt;

static int by_x(const void *a, const void *b) {
  double u = ((const Pt *)a)->x, v = ((const Pt *)b)->x;
  return (u > v) - (u < v);
}

// The table as chart series: for each panel (a y column) and each series value, the rows'
// points sorted by x. Rows whose x or y is missing (empty, nan) are left out.
typedef struct {
  int npanels, nseries;
  const char *names[CHART_MAX_SERIES];
  Pt *pts[CHART_MAX_PANELS][CHART_MAX_SERIES];
  int n[CHART_MAX_PANELS][CHART_MAX_SERIES];
  double *cols[CHART_MAX_PANELS][CHART_MAX_SERIES][3];  // x, y, err arrays for ChartSeries
  ChartSeries series[CHART_MAX_PANELS][CHART_MAX_SERIES];
  ChartPanel panels[CHART_MAX_PANELS];
} Data;

// ycol[p], ecol[p] (-1: no error bars), scol (-1: one series). 0, or 1 with the error printed.
static int gather(const Csv *t, int xcol, const int *ycol, const int *ecol, int npanels, int scol, Data *d) {
  memset(d, 0, sizeof *d);
  d->npanels = npanels;
  d->nseries = scol < 0 ? 1 : 0;
  d->names[0] = "";
  int *which = xmalloc(sizeof(int) * (t->nrows + 1));
  for (int r = 0; r < t->nrows; r++) {  // series in order of first appearance
    int k = 0;
    if (scol >= 0) {
      const char *v = csv_cell(t, r, scol);
      while (k < d->nseries && strcmp(d->names[k], v)) k++;
      if (k == d->nseries) {
        if (k == CHART_MAX_SERIES) {
          fprintf(stderr, "stepscope: %s: line %d: more than %d series in column '%s'\n", t->path, t->line[r],
                  CHART_MAX_SERIES, t->names[scol]);
          free(which);
          return 1;
        }
        d->names[d->nseries++] = v;
      }
    }
    which[r] = k;
  }
  Err e;
  int rc = 0;
  for (int p = 0; p < npanels && !rc; p++) {
    for (int k = 0; k < d->nseries; k++) d->pts[p][k] = xmalloc(sizeof(Pt) * (t->nrows + 1));
    for (int r = 0; r < t->nrows && !rc; r++) {
      Pt q = {NAN, NAN, NAN};
      int bad = csv_number(t, r, xcol, &q.x, &e) < 0 || csv_number(t, r, ycol[p], &q.y, &e) < 0 ||
                (ecol[p] >= 0 && csv_number(t, r, ecol[p], &q.err, &e) < 0);
      if (bad) { fprintf(stderr, "stepscope: %s\n", e.msg); rc = 1; }
      else if (isfinite(q.x) && isfinite(q.y)) d->pts[p][which[r]][d->n[p][which[r]]++] = q;
    }
    int total = 0;
    for (int k = 0; k < d->nseries; k++) total += d->n[p][k];
    if (!rc && !total) {
      fprintf(stderr, "stepscope: %s: no row has both '%s' and '%s'\n", t->path, t->names[xcol], t->names[ycol[p]]);
      rc = 1;
    }
    for (int k = 0; k < d->nseries && !rc; k++) {
      int n = d->n[p][k];
      qsort(d->pts[p][k], n, sizeof(Pt), by_x);
      for (int j = 0; j < 3; j++) d->cols[p][k][j] = xmalloc(sizeof(double) * (n + 1));
      for (int i = 0; i < n; i++) {
        d->cols[p][k][0][i] = d->pts[p][k][i].x;
        d->cols[p][k][1][i] = d->pts[p][k][i].y;
        d->cols[p][k][2][i] = d->pts[p][k][i].err;
      }
      d->series[p][k] = (ChartSeries){d->names[k], n, d->cols[p][k][0], d->cols[p][k][1], d->cols[p][k][2]};
    }
    d->panels[p] = (ChartPanel){t->names[ycol[p]], d->nseries, d->series[p]};
  }
  free(which);
  return rc;
}

static void data_free(Data *d) {
  for (int p = 0; p < CHART_MAX_PANELS; p++)
    for (int k = 0; k < CHART_MAX_SERIES; k++) {
      free(d->pts[p][k]);
      for (int j = 0; j < 3; j++) free(d->cols[p][k][j]);
    }
}

// A legend entry or label in the series' colour (plain text under NO_COLOR).
static void put_colored(const TermCaps *caps, Rgb c, const char *text) {
  if (caps->color == TERM_COLOR_TRUE) printf("\x1b[38;2;%d;%d;%dm%s\x1b[0m", c.r, c.g, c.b, text);
  else if (caps->color == TERM_COLOR_256) printf("\x1b[38;5;%dm%s\x1b[0m", term_color256(c.r, c.g, c.b), text);
  else printf("%s", text);
}

// Draws the chart inline at the cursor. The PNG's canvas is shown as it is when it fits the
// terminal; otherwise the chart is laid out again at the terminal's size (scaling the
// pixels down would blur the 5x7 text away). Half blocks give too few pixels to letter
// (80 columns are 80 pixels), so there the chart is drawn bare and its words (title,
// legend, axis ranges) are printed as text around it.
static int show(const Chart *ch, const Canvas *png, GfxMode want) {
  TermCaps caps;
  term_detect(STDOUT_FILENO, want, &caps);
  if (caps.gfx == GFX_NONE) {
    if (want == GFX_AUTO) fprintf(stderr, "stepscope: --show: stdout is not a terminal, nothing drawn (--graphics blocks forces it)\n");
    return 0;
  }
  const int max_cols = caps.cols > 0 ? caps.cols : 80, sixel = caps.gfx == GFX_SIXEL;
  int max_rows = (caps.rows > 0 ? caps.rows : 24) - 2;  // room for the prompt: never the last row
  const int room_w = sixel ? max_cols * caps.cell_w : max_cols;
  int room_h = sixel ? max_rows * caps.cell_h - 6 : 2 * max_rows;  // sixels round up to 6-pixel bands
  Canvas small = {0};
  const Canvas *c = png;
  Chart bare = *ch;
  ChartAxes axes[CHART_MAX_PANELS];
  if (png->w > room_w || png->h > room_h) {
    double f = fmin((double)room_w / png->w, (double)room_h / png->h);
    int w = (int)(png->w * f), h = (int)(png->h * f);
    if (h < 160) {  // too small to letter: the text goes around the picture, so leave it rows
      bare.bare = 1;
      max_rows -= 2 + ch->npanels;
      room_h = sixel ? max_rows * caps.cell_h - 6 : 2 * max_rows;
      f = fmin((double)room_w / png->w, (double)room_h / png->h);
      w = (int)(png->w * f), h = (int)(png->h * f);
    }
    small = canvas_new(w > 16 ? w : 16, h > 16 ? h : 16, (Rgb){255, 255, 255});
    chart_draw(&bare, &small, axes);
    c = &small;
  }
  TermImage im;
  Err e;
  int rc = term_image_render(&caps, c->px, c->w, c->h, 3, max_cols, max_rows, &im, &e);
  canvas_free(&small);
  if (rc) { fprintf(stderr, "stepscope: %s\n", e.msg); return 1; }
  if (bare.bare && ch->title && *ch->title) printf("%s\n", ch->title);
  fflush(stdout);
  fwrite(im.bytes.data, 1, im.bytes.len, stdout);
  fputc('\n', stdout);
  term_image_free(&im);
  if (bare.bare) {
    for (int p = 0; p < ch->npanels; p++)  // the panels, left to right, with what their axes span
      printf("%s %s: %.4g to %.4g, %s %.4g to %.4g\n", ch->npanels > 1 ? (p == 0 ? "left " : "right") : "",
             ch->panels[p].ylabel, axes[p].ymin, axes[p].ymax, ch->xlabel, axes[p].xmin, axes[p].xmax);
    for (int k = 0; ch->legend && k < ch->panels[0].nseries; k++) {
      put_colored(&caps, chart_color(k), "\xe2\x94\x81\xe2\x94\x81 ");  // a short line: U+2501 twice
      put_colored(&caps, chart_color(k), ch->panels[0].series[k].name);
      printf(k + 1 < ch->panels[0].nseries ? "   " : "\n");
    }
  }
  fflush(stdout);
  return 0;
}

static const char about[] =
    "Draws a results table as line charts: one panel per --y, x from --x, one line with\n"
    "markers per --series value, error bars from ERR columns. Writes a PNG; --show draws\n"
    "it in the terminal too. Empty or 'nan' cells leave the point out.";

int cmd_plot(int argc, char **argv) {
  const char *file = NULL, *xname = NULL, *sname = NULL, *out = NULL, *title = NULL, *xlabel = NULL;
  const char *ylabels = NULL, *graphics = "auto";
  OptList ys = {0};
  int do_show = 0, width = 1000;
  const Opt opts[] = {
    ARG_STR("--x", &xname, "COL", "the column on the x axis", .required = 1),
    ARG_LIST("--y", &ys, "COL[:ERR]", "a panel of COL, with error bars +-ERR (repeat for panels side by side)"),
    ARG_STR("--series", &sname, "COL", "one line per distinct value of COL", .def = "one line"),
    ARG_STR("--out", &out, "FILE", "PNG to write", .def = "FILE.csv's name with .png"),
    ARG_STR("--title", &title, "TEXT", "title above the panels"),
    ARG_STR("--xlabel", &xlabel, "TEXT", "x axis label", .def = "the column name"),
    ARG_STR("--ylabel", &ylabels, "TEXT[,TEXT...]", "y axis label per panel", .def = "the column names"),
    ARG_INT("--width", &width, "PX", "PNG width in pixels", .min = 200, .max = 4000),
    ARG_FLAG("--show", &do_show, "also draw the chart in the terminal"),
    OPT_GRAPHICS(&graphics),
  };
  const ArgSpec spec = {"plot", "FILE.csv --x COL --y COL[:ERR] [--y ...] [options]", about, ARGS_OPTS(opts),
                        .npos_min = 1, .npos_max = 1, .pos = &file, .pos_name = "FILE.csv"};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  if (ys.n == 0) return usage_error("--y", "give at least one --y COL[:ERR]");
  if (ys.n > CHART_MAX_PANELS) return usage_error("--y", "at most %d panels, got %d", CHART_MAX_PANELS, ys.n);
  GfxMode gfx;
  gfx_parse(graphics, &gfx);  // a name the option table allows
  char *labels[CHART_MAX_PANELS] = {0}, *lcopy = ylabels ? strdup(ylabels) : NULL;
  int nlabels = 0;
  char *sv = NULL;
  for (char *tok = lcopy ? strtok_r(lcopy, ",", &sv) : NULL; tok; tok = strtok_r(NULL, ",", &sv)) {
    if (nlabels == ys.n) {
      free(lcopy);
      return usage_error("--ylabel", "more labels than there are --y panels (%d)", ys.n);
    }
    labels[nlabels++] = tok;
  }

  Csv t;
  Err e;
  if (csv_read(file, &t, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); free(lcopy); return 1; }
  int xcol = csv_col(&t, xname, &e), scol = -1, ycol[CHART_MAX_PANELS], ecol[CHART_MAX_PANELS];
  rc = xcol < 0;
  if (!rc && sname) rc = (scol = csv_col(&t, sname, &e)) < 0;
  for (int p = 0; p < ys.n && !rc; p++) {
    // "COL:ERR", unless the whole spec names a column (names may hold a colon).
    char spec_y[256];
    snprintf(spec_y, sizeof spec_y, "%s", ys.v[p]);
    char *colon = strrchr(spec_y, ':');
    ecol[p] = -1;
    if (colon && csv_col(&t, spec_y, &e) < 0) {
      *colon = 0;
      rc = (ecol[p] = csv_col(&t, colon + 1, &e)) < 0;
    }
    if (!rc) rc = (ycol[p] = csv_col(&t, spec_y, &e)) < 0;
  }
  if (rc) fprintf(stderr, "stepscope: %s\n", e.msg);

  Data d;
  memset(&d, 0, sizeof d);
  if (!rc) rc = gather(&t, xcol, ycol, ecol, ys.n, scol, &d);
  if (!rc) {
    for (int p = 0; p < ys.n; p++)
      if (labels[p]) d.panels[p].ylabel = labels[p];
    Chart ch = {.title = title, .xlabel = xlabel ? xlabel : t.names[xcol], .npanels = ys.n, .panels = d.panels,
                .legend = scol >= 0};
    // Shorter panels when there are several side by side, so each stays about 4:3 or wider.
    Canvas c = canvas_new(width, (int)(width * (0.3 + 0.3 / ys.n)), (Rgb){255, 255, 255});
    if (chart_draw(&ch, &c, NULL)) fprintf(stderr, "stepscope: --width: %d is too small for %d panels; drawn anyway\n", width, ys.n);
    char def_out[4096];
    if (!out) {  // r.csv -> r.png
      snprintf(def_out, sizeof def_out - 4, "%s", file);
      char *dot = strrchr(def_out, '.'), *slash = strrchr(def_out, '/');
      if (dot && (!slash || dot > slash)) *dot = 0;
      strcat(def_out, ".png");
      out = def_out;
    }
    const char *text[] = {"software", "stepscope", "source", file, title ? "title" : NULL, title, NULL};
    if (png_write(out, c.px, c.w, c.h, 3, text, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); rc = 1; }
    else printf("%s: %d panel%s, %d series, %dx%d -> %s\n", file, ys.n, ys.n > 1 ? "s" : "", d.nseries, c.w, c.h, out);
    if (!rc && do_show) rc = show(&ch, &c, gfx);
    canvas_free(&c);
  }
  data_free(&d);
  csv_free(&t);
  free(lcopy);
  return rc;
}
