// test_plot.c — `stepscope plot` and what it stands on: the raster (pixels where a line or
// a letter should be), the chart (data mapped to pixels the right way up, error bars over
// the right rows, round ticks), the CSV reader's errors, and the command end to end.
#include "test.h"
#include "cli_run.h"
#include "engine/png_io.h"
#include "tui/cli/chart.h"
#include "tui/cli/csv.h"
#include "tui/cli/raster.h"
#include <stdlib.h>
#include <unistd.h>

static const Rgb WHITE = {255, 255, 255}, RED = {200, 0, 0};

static int same(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

TEST(plot_raster_line) {
  Canvas c = canvas_new(20, 12, WHITE);
  raster_line(&c, 2, 5, 10, 5, 2, RED);  // 2 px wide: rows 4 and 5, columns 2..10 (the pen spans [x-1, x])
  for (int y = 0; y < 12; y++)
    for (int x = 0; x < 20; x++) {
      int want = y >= 4 && y <= 5 && x >= 1 && x <= 10;
      ASSERTF(same(canvas_get(&c, x, y), RED) == want, "pixel (%d,%d) %s", x, y, want ? "not drawn" : "drawn");
    }
  // A steep 1-px line has one pixel in every row between its ends, none beyond them.
  Canvas d = canvas_new(20, 20, WHITE);
  raster_line(&d, 3, 2, 7, 17, 1, RED);
  for (int y = 0; y < 20; y++) {
    int n = 0;
    for (int x = 0; x < 20; x++) n += same(canvas_get(&d, x, y), RED);
    ASSERT_EQ_INT(n, y >= 2 && y <= 17 ? 1 : 0);
  }
  ASSERT(same(canvas_get(&d, 3, 2), RED) && same(canvas_get(&d, 7, 17), RED));
  raster_line(&d, -1000, -5, 5000, 30, 3, RED);  // clipped, no crash
  canvas_free(&c);
  canvas_free(&d);
}

TEST(plot_raster_text) {
  // "1" at scale 2: its glyph's rows, each font pixel a 2x2 block, nothing else drawn.
  Canvas c = canvas_new(30, 30, WHITE);
  raster_text(&c, 4, 6, "1", 2, RED);
  const uint8_t *g = font5x7_glyph('1');
  int lit = 0;
  for (int row = 0; row < FONT_H; row++)
    for (int k = 0; k < FONT_W; k++) {
      int on = g[row] >> (FONT_W - 1 - k) & 1;
      lit += on;
      for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++)
          ASSERTF(same(canvas_get(&c, 4 + 2 * k + dx, 6 + 2 * row + dy), RED) == on, "'1' row %d col %d", row, k);
    }
  int n = 0;
  for (int i = 0; i < 30 * 30; i++) n += c.px[3 * i] == 200;
  ASSERT_EQ_INT(n, 4 * lit);
  ASSERT(lit > 5);
  ASSERT_EQ_INT(raster_text_width("0.65", 1), 23);
  // Turned text reads upward: '-' (row 3 of its glyph lit) becomes a vertical bar in column x+3,
  // spanning the 5 rows from y up.
  Canvas u = canvas_new(20, 20, WHITE);
  raster_text_up(&u, 5, 15, "-", 1, RED);
  for (int y = 0; y < 20; y++)
    for (int x = 0; x < 20; x++)
      ASSERTF(same(canvas_get(&u, x, y), RED) == (x == 8 && y >= 11 && y <= 15), "(%d,%d)", x, y);
  // Characters outside printable ASCII draw as '?', not out of the table.
  ASSERT(font5x7_glyph(7) == font5x7_glyph('?') && font5x7_glyph(200) == font5x7_glyph('?'));
  canvas_free(&c);
  canvas_free(&u);
}

TEST(plot_ticks) {
  double t[32];
  int n = chart_ticks(0, 1, 5, t, 32);
  ASSERT_EQ_INT(n, 6);
  for (int i = 0; i < n; i++) ASSERT_NEAR(t[i], 0.2 * i, 1e-12, 0);
  n = chart_ticks(0.00031, 0.00212, 4, t, 32);  // step 5e-4: 5e-4 .. 2e-3
  ASSERT_EQ_INT(n, 4);
  ASSERT_NEAR(t[0], 5e-4, 1e-15, 0);
  ASSERT_NEAR(t[3], 2e-3, 1e-15, 0);
  n = chart_ticks(-0.07, 0.33, 4, t, 32);  // zero exactly, not -1.4e-17
  ASSERT(n == 4 && t[0] == 0);
  char s[32];
  chart_tick_label(0.0015, 0.0005, s, sizeof s);
  ASSERTF(!strcmp(s, "1.5e-3"), "%s", s);
  chart_tick_label(0.65, 0.05, s, sizeof s);
  ASSERTF(!strcmp(s, "0.65"), "%s", s);
  chart_tick_label(120, 20, s, sizeof s);
  ASSERTF(!strcmp(s, "120"), "%s", s);
  chart_tick_label(2.5e6, 5e5, s, sizeof s);
  ASSERTF(!strcmp(s, "2.5e6"), "%s", s);
}

TEST(plot_chart_maps_data) {
  double x[] = {3, 1, 2}, y[] = {30, 10, 20}, err[] = {NAN, 0, 5};  // order as given; bar only at x = 2
  ChartSeries s = {"a", 3, x, y, err};
  ChartPanel p = {"y", 1, &s};
  Chart ch = {"t", "x", 1, &p, 1, 0};
  Canvas c = canvas_new(600, 400, WHITE);
  ChartAxes a;
  ASSERT_EQ_INT(chart_draw(&ch, &c, &a), 0);
  ASSERT(a.x0 > 0 && a.x1 < 600 && a.y0 > 0 && a.y1 < 400 && a.x0 < a.x1 && a.y0 < a.y1);
  ASSERT(a.xmin < 1 && a.xmax > 3 && a.ymin < 10 && a.ymax > 25);  // data and bars inside the axes
  // Larger x further right, larger y higher up (smaller row).
  ASSERT(chart_px_x(&a, 1) < chart_px_x(&a, 2) && chart_px_x(&a, 2) < chart_px_x(&a, 3));
  ASSERT(chart_px_y(&a, 10) > chart_px_y(&a, 20) && chart_px_y(&a, 20) > chart_px_y(&a, 30));
  const Rgb col = chart_color(0);
  for (int i = 0; i < 3; i++)
    ASSERTF(same(canvas_get(&c, chart_px_x(&a, x[i]), chart_px_y(&a, y[i])), col), "marker of point %d", i);
  // The bar at x = 2 covers rows px_y(25)..px_y(15) and stops there.
  const int bx = chart_px_x(&a, 2), top = chart_px_y(&a, 25), bot = chart_px_y(&a, 15);
  ASSERT(bot - top > 20);
  for (int yy = top; yy <= bot; yy++) ASSERTF(same(canvas_get(&c, bx, yy), col), "bar row %d (%d..%d)", yy, top, bot);
  ASSERT(!same(canvas_get(&c, bx, top - 3), col) && !same(canvas_get(&c, bx, bot + 3), col));
  ASSERT(same(canvas_get(&c, bx - 3, top), col) && same(canvas_get(&c, bx + 3, bot), col));  // the caps
  // No bar where err is 0 or NAN: the column above the marker at x = 1 is not the series colour.
  ASSERT(!same(canvas_get(&c, chart_px_x(&a, 1), chart_px_y(&a, 10) - 12), col));
  canvas_free(&c);
}

// ---- the command ----

typedef CliResult Result;

// `stepscope plot ARGS`; NULL (the test skipped) when the binary is not built.
static const char *bin(void) { return cli_have("stepscope") ? cli_bin("stepscope") : NULL; }
#define run_plot(r, fmt, ...) cli_run(r, bin(), "plot " fmt, __VA_ARGS__)

static const char *write_csv(const char *name, const char *text) {
  static char path[8][300];
  static int k;
  char *p = path[k++ % 8];
  snprintf(p, 300, "%.200s/%.60s", test_tmpdir(), name);
  FILE *f = fopen(p, "w");
  fputs(text, f);
  fclose(f);
  return p;
}

static const char *TABLE =
  "allocation,macs_share,fid_mean,fid_sd,kid_mean,kid_sd\n"
  "progressive,0.60,0.210,0.020,0.00150,0.00030\n"
  "uniform,0.60,0.260,0.025,0.00190,0.00035\n"
  "progressive,0.80,0.120,0.012,0.00080,0.00015\n"
  "uniform,0.80,0.150,0.015,nan,\n"
  "progressive,0.70,0.160,0.015,0.00110,0.00020\n"
  "uniform,0.70,0.195,0.020,0.00140,0.00025\n";

TEST(plot_cli_png) {
  if (!bin()) return;
  const char *csv = write_csv("r.csv", TABLE);
  char png[300];
  snprintf(png, sizeof png, "%s/pareto.png", test_tmpdir());
  Result r;
  run_plot(&r, "%s --x macs_share --y fid_mean:fid_sd --y kid_mean:kid_sd --series allocation --width 640 "
           "--title 'FID and KID' --ylabel FID,KID --out %s", csv, png);
  ASSERTF(r.status == 0, "exit %d: %s", r.status, r.err);
  uint8_t *px;
  int w, h, ch;
  Err e;
  ASSERTF(png_read(png, &px, &w, &h, &ch, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(w, 640);
  ASSERT(h > 200 && h < 640 && ch == 3);
  long n0 = 0, n1 = 0;  // both series drawn, in their colours
  for (long i = 0; i < (long)w * h; i++) {
    Rgb p = {px[3 * i], px[3 * i + 1], px[3 * i + 2]};
    n0 += same(p, chart_color(0)), n1 += same(p, chart_color(1));
  }
  free(px);
  ASSERTF(n0 > 200 && n1 > 200, "series pixels %ld, %ld", n0, n1);
  char v[64];
  ASSERT(png_read_text(png, "software", v, sizeof v, &e) == 0 && !strcmp(v, "stepscope"));
  // Without --out: next to the table, r.csv -> r.png.
  run_plot(&r, "%s --x macs_share --y fid_mean", csv);
  ASSERTF(r.status == 0, "exit %d: %s", r.status, r.err);
  snprintf(png, sizeof png, "%s/r.png", test_tmpdir());
  ASSERT(access(png, F_OK) == 0);
}

// --show with half blocks forced into a pipe: the chart as ▀ cells, its words as text after it.
TEST(plot_cli_show_blocks) {
  if (!bin()) return;
  const char *csv = write_csv("s.csv", TABLE);
  Result r;
  run_plot(&r, "%s --x macs_share --y fid_mean:fid_sd --y kid_mean --series allocation --show --graphics blocks "
           "--out %s/s.png --ylabel FID", csv, test_tmpdir());
  ASSERTF(r.status == 0, "exit %d: %s", r.status, r.err);
  const char *img = strstr(r.out, "\xe2\x96\x80"), *left = strstr(r.out, "left  FID: ");
  ASSERTF(img && left && img < left, "stdout: %.300s", r.out);
  ASSERT(strstr(r.out, "right kid_mean: ") && strstr(r.out, "progressive") && strstr(r.out, "uniform"));
}

TEST(plot_cli_errors) {
  if (!bin()) return;
  const char *good = write_csv("good.csv", TABLE);
  struct { const char *file, *args; int status; const char *says; } cases[] = {
    {good, "--x macs_share --y fid", 1, "no column 'fid' (columns: allocation, macs_share, fid_mean, fid_sd"},
    {good, "--x macs_share --y fid_mean:fid_err", 1, "no column 'fid_err'"},
    {good, "--x share --y fid_mean", 1, "no column 'share'"},
    {write_csv("bad.csv", "a,fid_mean,fid_sd\n1,0.2,0.01\n2,0.3,abc\n"), "--x a --y fid_mean:fid_sd", 1,
     "bad.csv: line 3: column 'fid_sd' is not a number ('abc')"},
    {write_csv("ragged.csv", "a,b,c\n1,2,3\n\n4,5\n"), "--x a --y b", 1, "ragged.csv: line 4: 2 fields, the header has 3"},
    {write_csv("quote.csv", "a,b\n\"1,2\n"), "--x a --y b", 1, "quote.csv: line 2: unbalanced quotes"},
    {write_csv("empty.csv", ""), "--x a --y b", 1, "empty.csv: empty"},
    {write_csv("nan.csv", "a,b\n1,nan\n2,\n"), "--x a --y b", 1, "no row has both 'a' and 'b'"},
    {"/nonexistent/r.csv", "--x a --y b", 1, "/nonexistent/r.csv: No such file"},
    {good, "--x macs_share", 2, "give at least one --y"},
    {good, "--y fid_mean", 2, "stepscope: --x COL: required"},
    {good, "--x macs_share --y fid_mean --width 50", 2, "stepscope: --width: 50 is out of range 200..4000"},
    {good, "--x macs_share --y fid_mean --ylabel A,B", 2, "more labels than"},
    {good, "--x macs_share --y fid_mean --graphics paper", 2, "stepscope: --graphics: unknown value 'paper'"},
    {"", "--x macs_share --y fid_mean", 2, "stepscope: FILE.csv: missing"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Result r;
    run_plot(&r, "%s %s --out %s/never.png", cases[i].file, cases[i].args, test_tmpdir());
    ASSERTF(r.status == cases[i].status, "'%s': exit %d, expected %d (%s)", cases[i].args, r.status, cases[i].status, r.err);
    ASSERTF(!strncmp(r.err, "stepscope: ", 11) && strstr(r.err, cases[i].says), "'%s %s': stderr %s", cases[i].file,
            cases[i].args, r.err);
  }
  char never[300];
  snprintf(never, sizeof never, "%s/never.png", test_tmpdir());
  ASSERT(access(never, F_OK) != 0);  // no failed run wrote a picture
}

TEST(plot_csv_reader) {
  const char *p = write_csv("q.csv", "name,\"v\"\r\n\"a,b\",1.5\r\n\"say \"\"hi\"\"\",nan\nc, 2 \n");
  Csv t;
  Err e;
  ASSERTF(csv_read(p, &t, &e) == 0, "%s", e.msg);
  ASSERT(t.ncols == 2 && t.nrows == 3 && !strcmp(t.names[1], "v"));
  ASSERT(!strcmp(csv_cell(&t, 0, 0), "a,b") && !strcmp(csv_cell(&t, 1, 0), "say \"hi\""));
  double v;
  ASSERT(csv_number(&t, 0, 1, &v, &e) == 0 && v == 1.5);
  ASSERT(csv_number(&t, 1, 1, &v, &e) == 1 && isnan(v));  // a missing value, not an error
  ASSERT(csv_number(&t, 2, 1, &v, &e) == 0 && v == 2);
  ASSERT(csv_number(&t, 0, 0, &v, &e) == -1 && strstr(e.msg, "line 2: column 'name' is not a number"));
  ASSERT(csv_col(&t, "v", &e) == 1 && csv_col(&t, "w", &e) == -1 && strstr(e.msg, "(columns: name, v)"));
  ASSERT_EQ_INT(t.line[2], 4);
  csv_free(&t);
  ASSERT(csv_read(write_csv("dup.csv", "a,b,a\n"), &t, &e) == -1 && strstr(e.msg, "line 1: column 'a' twice"));
  ASSERT(csv_read(write_csv("inf.csv", "a\ninf\n0x10\n"), &t, &e) == 0);
  ASSERT(csv_number(&t, 0, 0, &v, &e) == -1 && csv_number(&t, 1, 0, &v, &e) == -1);
  csv_free(&t);
}
