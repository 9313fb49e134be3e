// fit.c — footprints in cells, the scale that fits a box, and the box-filter downscale.
#include "tui/termgfx/fit.h"
#include "engine/common.h"

void term_cells(GfxMode gfx, int cell_w, int cell_h, int W, int H, int *cols, int *rows) {
  if (gfx == GFX_SIXEL) {
    *cols = (W + cell_w - 1) / cell_w;
    *rows = ((H + 5) / 6 * 6 + cell_h - 1) / cell_h;
  } else {
    *cols = W;
    *rows = (H + 1) / 2;
  }
}

void term_footprint(const TermCaps *caps, int w, int h, int scale, int *cols, int *rows) {
  term_cells(caps->gfx, caps->cell_w, caps->cell_h, scale * w, scale * h, cols, rows);
}

static int fits(const TermCaps *caps, int w, int h, int scale, int max_cols, int max_rows) {
  int cols, rows;
  term_footprint(caps, w, h, scale, &cols, &rows);
  return cols <= max_cols && rows <= max_rows;
}

int term_fit_scale(const TermCaps *caps, int w, int h, int max_cols, int max_rows) {
  int scale = 0;
  while (scale < TERM_MAX_SCALE && fits(caps, w, h, scale + 1, max_cols, max_rows)) scale++;
  return scale;
}

int term_fit_shrink(const TermCaps *caps, int w, int h, int max_cols, int max_rows) {
  int f = 1;
  while (f < TERM_MAX_SCALE && !fits(caps, (w + f - 1) / f, (h + f - 1) / f, 1, max_cols, max_rows)) f++;
  return f;
}

uint8_t *term_shrink(const uint8_t *px, int w, int h, int ch, int f, int *ow, int *oh) {
  *ow = (w + f - 1) / f, *oh = (h + f - 1) / f;
  uint8_t *out = xmalloc((size_t)*ow * *oh * ch);
  for (int y = 0; y < *oh; y++)
    for (int x = 0; x < *ow; x++)
      for (int k = 0; k < ch; k++) {
        int sum = 0, n = 0;
        for (int dy = 0; dy < f && y * f + dy < h; dy++)
          for (int dx = 0; dx < f && x * f + dx < w; dx++, n++) sum += px[((size_t)(y * f + dy) * w + x * f + dx) * ch + k];
        out[((size_t)y * *ow + x) * ch + k] = (uint8_t)((sum + n / 2) / n);
      }
  return out;
}
