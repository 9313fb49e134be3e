// halfblock.c — images as Unicode upper half blocks ▀: fg paints the upper pixel, bg the
// lower one, so one character cell shows two square-ish pixels.
#include "tui/termgfx/halfblock.h"
#include "engine/common.h"
#include "tui/termgfx/fit.h"

typedef struct { uint8_t r, g, b; } Rgb;

static const char HALF_BLOCK[] = "\xe2\x96\x80";  // U+2580 ▀
// NO_COLOR: shade by the mean luma of the two pixels, dark to light.
static const char *const SHADES[5] = {" ", "\xe2\x96\x91", "\xe2\x96\x92", "\xe2\x96\x93", "\xe2\x96\x88"};

// Pixel (x, y) of the upscaled image.
static Rgb pixel(const uint8_t *px, int w, int ch, int scale, int x, int y) {
  const uint8_t *p = px + ((long)(y / scale) * w + x / scale) * ch;
  return ch == 1 ? (Rgb){p[0], p[0], p[0]} : (Rgb){p[0], p[1], p[2]};
}

static int luma(Rgb c) { return (299 * c.r + 587 * c.g + 114 * c.b + 500) / 1000; }  // Rec. 601

// As tmux's colour_find_rgb: the nearest cube colour, unless the grey ramp is nearer.
int term_color256(int r, int g, int b) {
  static const int level[6] = {0x00, 0x5f, 0x87, 0xaf, 0xd7, 0xff};
#define CUBE(v) ((v) < 48 ? 0 : (v) < 115 ? 1 : ((v) - 35) / 40)
  int qr = CUBE(r), qg = CUBE(g), qb = CUBE(b);
#undef CUBE
  int cr = level[qr], cg = level[qg], cb = level[qb];
  if (cr == r && cg == g && cb == b) return 16 + 36 * qr + 6 * qg + qb;
  int avg = (r + g + b) / 3, gi = avg > 238 ? 23 : (avg - 3) / 10;
  if (gi < 0) gi = 0;
  int gv = 8 + 10 * gi;
  int dcube = (cr - r) * (cr - r) + (cg - g) * (cg - g) + (cb - b) * (cb - b);
  int dgrey = (gv - r) * (gv - r) + (gv - g) * (gv - g) + (gv - b) * (gv - b);
  return dgrey < dcube ? 232 + gi : 16 + 36 * qr + 6 * qg + qb;
}

// Sets the fg (layer 38) or bg (layer 48) colour.
static void set_color(Bytes *o, TermColor color, int layer, Rgb c) {
  if (color == TERM_COLOR_TRUE) bytes_printf(o, "\x1b[%d;2;%d;%d;%dm", layer, c.r, c.g, c.b);
  else bytes_printf(o, "\x1b[%d;5;%dm", layer, term_color256(c.r, c.g, c.b));
}

static int same(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

void term_image_blocks(const uint8_t *px, int w, int h, int ch, int scale, TermColor color,
                       TermImage *out) {
  CHECK(w > 0 && h > 0 && (ch == 1 || ch == 3) && scale > 0, "term_image_blocks(%d, %d, %d, %d)", w, h, ch, scale);
  *out = (TermImage){.mode = GFX_BLOCKS};
  const int W = w * scale, H = h * scale;
  term_cells(GFX_BLOCKS, 0, 0, W, H, &out->cols, &out->rows);
  Bytes *o = &out->bytes;
  for (int y = 0; y < H; y += 2) {
    if (y > 0) bytes_puts(o, "\n");
    const int has_lower = y + 1 < H;
    Rgb fg = {0}, bg = {0};
    for (int x = 0; x < W; x++) {
      Rgb up = pixel(px, w, ch, scale, x, y), lo = has_lower ? pixel(px, w, ch, scale, x, y + 1) : up;
      if (color == TERM_COLOR_NONE) {
        int v = has_lower ? (luma(up) + luma(lo) + 1) / 2 : luma(up);
        bytes_puts(o, SHADES[v * 5 / 256]);
        continue;
      }
      if (x == 0 || !same(up, fg)) set_color(o, color, 38, up), fg = up;
      if (has_lower && (x == 0 || !same(lo, bg))) set_color(o, color, 48, lo), bg = lo;
      bytes_puts(o, HALF_BLOCK);
    }
    if (color != TERM_COLOR_NONE) bytes_puts(o, "\x1b[0m");
  }
}
