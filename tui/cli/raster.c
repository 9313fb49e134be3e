// raster.c — see raster.h.
#include "tui/cli/raster.h"
#include "engine/common.h"
#include <stdlib.h>
#include <string.h>

Canvas canvas_new(int w, int h, Rgb bg) {
  Canvas c = {w, h, xmalloc((size_t)w * h * 3)};
  for (long i = 0; i < (long)w * h; i++) c.px[3 * i] = bg.r, c.px[3 * i + 1] = bg.g, c.px[3 * i + 2] = bg.b;
  return c;
}

void canvas_free(Canvas *c) {
  free(c->px);
  *c = (Canvas){0};
}

Rgb canvas_get(const Canvas *c, int x, int y) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h) return (Rgb){0, 0, 0};
  const uint8_t *p = c->px + ((long)y * c->w + x) * 3;
  return (Rgb){p[0], p[1], p[2]};
}

void raster_pixel(Canvas *c, int x, int y, Rgb col) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
  uint8_t *p = c->px + ((long)y * c->w + x) * 3;
  p[0] = col.r, p[1] = col.g, p[2] = col.b;
}

void raster_fill(Canvas *c, int x, int y, int w, int h, Rgb col) {
  // Clip first: a huge rectangle far off the canvas costs nothing.
  int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
  int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
  for (int yy = y0; yy < y1; yy++)
    for (int xx = x0; xx < x1; xx++) raster_pixel(c, xx, yy, col);
}

void raster_frame(Canvas *c, int x, int y, int w, int h, Rgb col) {
  raster_fill(c, x, y, w, 1, col);
  raster_fill(c, x, y + h - 1, w, 1, col);
  raster_fill(c, x, y, 1, h, col);
  raster_fill(c, x + w - 1, y, 1, h, col);
}

// Bresenham, stamping a width x width square at each step: a thick line without gaps at any
// angle, and exactly `width` pixels across when horizontal or vertical.
void raster_line(Canvas *c, int x0, int y0, int x1, int y1, int width, Rgb col) {
  if (width < 1) width = 1;
  const int off = width / 2;  // width 2: the pen covers [x-1, x]
  // Far-off endpoints (a value mapped way outside the axes) would make the walk long:
  // such lines are clipped by the caller's data range in practice, and the walk is bounded.
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
  for (long steps = 0; steps < 1L << 20; steps++) {
    raster_fill(c, x0 - off, y0 - off, width, width, col);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void raster_marker(Canvas *c, int x, int y, int r, Marker kind, Rgb col) {
  for (int dy = -r; dy <= r; dy++)
    for (int dx = -r; dx <= r; dx++) {
      int in = 0;
      switch (kind) {
        case MARK_CIRCLE: in = dx * dx + dy * dy <= r * r + r; break;  // +r: rounder at small r
        case MARK_SQUARE: in = abs(dx) < r && abs(dy) < r; break;      // same area as the circle, roughly
        case MARK_DIAMOND: in = abs(dx) + abs(dy) <= r; break;
        case MARK_TRIANGLE: in = 2 * abs(dx) <= dy + r; break;         // apex up, base on the bottom row
      }
      if (in) raster_pixel(c, x + dx, y + dy, col);
    }
}

void raster_text(Canvas *c, int x, int y, const char *s, int scale, Rgb col) {
  for (; *s; s++, x += FONT_ADV * scale) {
    const uint8_t *g = font5x7_glyph((unsigned char)*s);
    for (int row = 0; row < FONT_H; row++)
      for (int k = 0; k < FONT_W; k++)
        if (g[row] >> (FONT_W - 1 - k) & 1) raster_fill(c, x + k * scale, y + row * scale, scale, scale, col);
  }
}

int raster_text_width(const char *s, int scale) {
  int n = (int)strlen(s);
  return n ? (n * FONT_ADV - 1) * scale : 0;
}

void raster_text_up(Canvas *c, int x, int y, const char *s, int scale, Rgb col) {
  // Turned counter-clockwise: the glyph's column k lands on row y - k, its row r on column x + r.
  for (; *s; s++, y -= FONT_ADV * scale) {
    const uint8_t *g = font5x7_glyph((unsigned char)*s);
    for (int row = 0; row < FONT_H; row++)
      for (int k = 0; k < FONT_W; k++)
        if (g[row] >> (FONT_W - 1 - k) & 1) raster_fill(c, x + row * scale, y - (k + 1) * scale + 1, scale, scale, col);
  }
}
