// raster.h — a small RGB canvas to draw charts on: pixels, filled rectangles, thick lines,
// markers and text in a built-in 5x7 bitmap font (tui/font5x7.c). No anti-aliasing: charts
// are drawn at their final size, and crisp single-colour pixels survive the terminal's
// palette reduction (sixel) and half blocks better than blended edges would.
//
// Coordinates are pixels, x to the right, y down, (0,0) the top-left pixel. Everything is
// clipped to the canvas, so callers may draw partly (or wholly) outside it.
#pragma once
#include <stdint.h>

typedef struct { uint8_t r, g, b; } Rgb;

typedef struct {
  int w, h;
  uint8_t *px;  // w*h RGB triples, row-major: px[(y*w + x)*3 + k]
} Canvas;

// A w x h canvas filled with bg (w, h >= 1). canvas_free releases it.
Canvas canvas_new(int w, int h, Rgb bg);
void canvas_free(Canvas *c);
Rgb canvas_get(const Canvas *c, int x, int y);  // outside the canvas: black

void raster_pixel(Canvas *c, int x, int y, Rgb col);
void raster_fill(Canvas *c, int x, int y, int w, int h, Rgb col);  // w x h block at (x, y)
void raster_frame(Canvas *c, int x, int y, int w, int h, Rgb col); // its 1-px outline

// A line from (x0,y0) to (x1,y1), both ends included, drawn with a square pen `width`
// pixels wide (1, 2, ...) centred on the ideal line (for even widths, the extra pixel goes
// left/up).
void raster_line(Canvas *c, int x0, int y0, int x1, int y1, int width, Rgb col);

typedef enum { MARK_CIRCLE, MARK_SQUARE, MARK_DIAMOND, MARK_TRIANGLE } Marker;
#define MARKER_KINDS 4
// A filled marker centred on (x, y) with "radius" r (it spans 2r+1 pixels).
void raster_marker(Canvas *c, int x, int y, int r, Marker kind, Rgb col);

// Text in the 5x7 font, each font pixel drawn as scale x scale pixels. Glyphs advance by
// 6*scale (one empty column between letters); characters outside printable ASCII show as
// '?'. (x, y) is the top-left corner of the first glyph's cell, which is 7*scale tall.
#define FONT_W 5
#define FONT_H 7
#define FONT_ADV 6
void raster_text(Canvas *c, int x, int y, const char *s, int scale, Rgb col);
int raster_text_width(const char *s, int scale);  // pixels from the first to the last lit column
// The same text turned 90 degrees counter-clockwise (read bottom to top, as a y-axis label):
// it occupies 7*scale columns from x and raster_text_width() rows upward from y.
void raster_text_up(Canvas *c, int x, int y, const char *s, int scale, Rgb col);

// The glyph of ch: 7 rows, top first, the 5 low bits of each a row (bit 4 = leftmost column).
const uint8_t *font5x7_glyph(int ch);
