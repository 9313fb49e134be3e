// widgets.h — what the explorer's views are drawn with: a colour theme, text that is cut
// to a width in display columns, boxes with titles, bars, a braille canvas and a plot with
// axes on top of it, table rows, and the key bar. Everything draws into stdscr.
#pragma once
#include <curses.h>
#include <stdint.h>

typedef struct { int y, x, h, w; } Rect;

static inline int rect_has(Rect r, int y, int x) { return y >= r.y && y < r.y + r.h && x >= r.x && x < r.x + r.w; }
static inline Rect rect_inset(Rect r, int dy, int dx) { return (Rect){r.y + dy, r.x + dx, r.h - 2 * dy, r.w - 2 * dx}; }

// ---- colours ----
// Roles, not colours: the theme maps them to 256 colours, to the 8 basic ones, or (NO_COLOR,
// or a terminal without colour) to nothing but bold, dim and reverse.
typedef enum {
  UI_TEXT, UI_DIM, UI_TITLE, UI_BORDER, UI_BORDER_HI, UI_ACCENT, UI_SEL, UI_KEY, UI_KEYLABEL,
  UI_OK, UI_WARN, UI_ERR, UI_TAB, UI_TAB_HI, UI_AXIS, UI_BAR_BG, UI_NROLES
} UiRole;
enum { UI_NGROUP_COLORS = 8 };

void ui_colors_init(int use_color);  // after initscr(); use_color 0: attributes only
attr_t ui_attr(UiRole role);
attr_t ui_group_attr(int g);         // group g's colour (cycles through UI_NGROUP_COLORS)
// Heat colour for v in [0, 1] (cold to hot); attributes only without colour.
attr_t ui_heat_attr(double v);
int ui_color_on(void);

// ---- text ----
int ui_cols(const char *s);  // display columns of a UTF-8 string
// Prints at (y, x), cut to maxw columns; returns the columns used.
int ui_text(int y, int x, int maxw, attr_t a, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
// The same, right-aligned so that the text ends at column x_end (exclusive).
int ui_text_right(int y, int x_end, int maxw, attr_t a, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void ui_hline(int y, int x, int w, attr_t a, const char *glyph);
void ui_fill(Rect r, attr_t a);  // spaces
// 1234 -> "1.23 k", 4.5e9 -> "4.50 G": three significant digits and an SI prefix.
void ui_si(char *buf, int cap, double v);

// ---- boxes and bars ----
// A rounded box; title (may be NULL) in the top border, hot when active; returns the inside.
Rect ui_box(Rect r, const char *title, int active);
// A second title at the right end of a box's top border (drawn over the rule).
void ui_box_note(Rect r, attr_t a, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// A horizontal bar of w cells filled to frac (eighth-cell resolution) over a dim track.
void ui_bar(int y, int x, int w, double frac, attr_t fill);
// A progress bar with a label inside it: "▕████████▍      42 %  label▏".
void ui_progress(int y, int x, int w, double frac, const char *label);

// ---- braille canvas: each cell is 2x4 dots; a cell takes the colour of its last dot ----
typedef struct {
  int w, h;        // cells
  uint8_t *dots;   // w*h braille bit patterns
  attr_t *attr;    // w*h
} Braille;

void br_init(Braille *b, int w, int h);
void br_free(Braille *b);
void br_dot(Braille *b, int px, int py, attr_t a);  // px in [0, 2w), py in [0, 4h); others clipped
void br_line(Braille *b, int x0, int y0, int x1, int y1, attr_t a);
void br_draw(const Braille *b, int y, int x);

// ---- plot: y tick labels on the left, x tick labels below, braille inside ----
typedef struct {
  Rect area;             // the braille area in cells
  double x0, x1, y0, y1; // data range (x0 at the left, y1 at the top)
  Braille br;
} Plot;

// Lays the plot out in r: ny ticks on y labelled with yfmt (printf of a double; with ylog
// the data are log10 values and the labels show 10^y), x ticks every xstep labelled with xfmt. Draws axes and labels; the caller then draws into br
// with plot_* and finishes with plot_end().
void plot_begin(Plot *p, Rect r, double x0, double x1, double y0, double y1, const char *yfmt, int ylog,
                int ny, double xstep, const char *xfmt);
int plot_px(const Plot *p, double x);  // data x -> dot column (may lie outside)
int plot_py(const Plot *p, double y);  // data y -> dot row
double plot_x_of_col(const Plot *p, int col);  // screen column -> data x
// A polyline through (x_i, y_i), i < n; NaN values break the line.
void plot_curve(Plot *p, const double *x, const double *y, int n, attr_t a);
// A vertical line at data x; dashed lines use every other dot.
void plot_vline(Plot *p, double x, int dashed, attr_t a);
void plot_end(Plot *p);

// ---- table rows ----
typedef struct { const char *head; int w; int right; } Col;
// Cells at their column positions (one space between columns); returns the row width.
int ui_row(int y, int x, const Col *cols, int n, const char *const *cells, attr_t a);
int ui_row_width(const Col *cols, int n);

// ---- key bar ----
typedef struct { const char *key, *label; int code; } KeyHint;  // code: the key it stands for
typedef struct { int x0, x1, code; } HintSpot;                    // where a hint was drawn
// Draws " key label  key label ..." on row y within [x, x+w); fills spots (up to cap)
// so a mouse click can be turned into the key. Returns the number of spots.
int ui_keybar(int y, int x, int w, const KeyHint *h, int n, HintSpot *spots, int cap);
