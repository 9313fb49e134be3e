// test_termimg.c — sixel round trips through libsixel's decoder, exact half-block bytes,
// footprints (cells an image takes) and framing, terminal replies, NO_COLOR and COLORTERM.
#include "test.h"
#include "tui/explorer/app.h"
#include "tui/termgfx/term_image.h"
#include <sixel.h>
#include <stdlib.h>
#include <unistd.h>

// Decodes a sixel string to RGB (3 bytes per pixel). Returns NULL on failure.
static uint8_t *decode_sixel(const Bytes *b, int *w, int *h) {
  unsigned char *idx = NULL, *pal = NULL;
  int ncolors = 0;
  SIXELSTATUS st = sixel_decode_raw((unsigned char *)b->data, (int)b->len, &idx, w, h, &pal, &ncolors, NULL);
  if (SIXEL_FAILED(st)) return NULL;
  uint8_t *rgb = malloc((size_t)*w * *h * 3);
  for (long i = 0; i < (long)*w * *h; i++)
    for (int c = 0; c < 3; c++) rgb[i * 3 + c] = pal[idx[i] * 3 + c];
  free(idx);
  free(pal);
  return rgb;
}

// Largest per-channel error between the decoded sixel and the source upscaled by `scale`;
// `want_grey` compares against the source's Rec. 601 luma.
static int max_error(const uint8_t *dec, const uint8_t *src, int w, int h, int ch, int scale, int want_grey) {
  int worst = 0;
  for (int y = 0; y < h * scale; y++)
    for (int x = 0; x < w * scale; x++) {
      const uint8_t *s = src + ((long)(y / scale) * w + x / scale) * ch;
      const uint8_t *d = dec + ((long)y * w * scale + x) * 3;
      int l = (299 * s[0] + 587 * s[ch == 3 ? 1 : 0] + 114 * s[ch == 3 ? 2 : 0] + 500) / 1000;
      for (int c = 0; c < 3; c++) {
        int want = want_grey || ch == 1 ? l : s[c];
        int err = abs(d[c] - want);
        if (err > worst) worst = err;
      }
    }
  return worst;
}

// Decodes im (and frees it): the image px (w x h, ch channels) scaled `scale` times, each
// channel within tol of the source (of its luma where want_grey); `what` names the error.
static void check_sixel_roundtrip(TermImage *im, const uint8_t *px, int w, int h, int ch, int scale, int want_grey,
                                  int tol, const char *what) {
  int dw, dh;
  uint8_t *dec = decode_sixel(&im->bytes, &dw, &dh);
  term_image_free(im);
  ASSERT(dec);
  ASSERT_EQ_INT(dw, w * scale);
  ASSERT_EQ_INT(dh, h * scale);
  int err = max_error(dec, px, w, h, ch, scale, want_grey);
  free(dec);
  ASSERTF(err <= tol, "%s error %d", what, err);
}

TEST(termimg_sixel_grey_ramp_roundtrip) {
  enum { W = 32, H = 8, S = 3 };
  uint8_t px[W * H];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) px[y * W + x] = (uint8_t)((y * W + x) * 255 / (W * H - 1));
  TermImage im;
  Err e;
  ASSERT_EQ_INT(term_image_sixel(px, W, H, 1, S, 0, 10, 20, &im, &e), 0);
  ASSERT(im.mode == GFX_SIXEL);
  ASSERT(im.bytes.len > 10 && im.bytes.data[0] == 0x1b && im.bytes.data[1] == 'P');  // DCS ... ST
  ASSERT(im.bytes.data[im.bytes.len - 2] == 0x1b && im.bytes.data[im.bytes.len - 1] == '\\');
  ASSERT_EQ_INT(im.cols, 10);  // 96 px over 10 px cells
  ASSERT_EQ_INT(im.rows, 2);   // 24 px in 20 px cells
  // Sixel colours are whole percents: at most 255/200 off, so 2 after rounding.
  check_sixel_roundtrip(&im, px, W, H, 1, S, 0, 2, "grey");
}

// An RGB image with fewer than 256 colours (120: 12 x 10) must come back with only the
// percent rounding: drawn `scale` times in cells of cell_w x cell_h, as its luma where want_grey.
static void check_rgb_roundtrip(int scale, int want_grey, int cell_w, int cell_h, const char *what) {
  enum { W = 12, H = 10 };
  uint8_t px[W * H * 3];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *p = px + (y * W + x) * 3;
      p[0] = (uint8_t)(x * 255 / (W - 1));
      p[1] = (uint8_t)(y * 255 / (H - 1));
      p[2] = (uint8_t)((x + y) % 3 * 120);
    }
  TermImage im;
  Err e;
  ASSERT_EQ_INT(term_image_sixel(px, W, H, 3, scale, want_grey, cell_w, cell_h, &im, &e), 0);
  check_sixel_roundtrip(&im, px, W, H, 3, scale, want_grey, 2, what);
}

TEST(termimg_sixel_rgb_roundtrip) { check_rgb_roundtrip(4, 0, 8, 16, "rgb"); }

// More than 256 colours: the fitted palette (median cut + k-means) stays close
// (measured: mean error 3.6, worst 13).
TEST(termimg_sixel_rgb_many_colors) {
  enum { W = 48, H = 40 };  // 1920 distinct colours
  uint8_t *px = malloc(W * H * 3);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *p = px + (y * W + x) * 3;
      p[0] = (uint8_t)(x * 255 / (W - 1)), p[1] = (uint8_t)(y * 255 / (H - 1)), p[2] = (uint8_t)((W - 1 - x + 2 * y) * 255 / (W - 1 + 2 * (H - 1)));
    }
  TermImage im;
  Err e;
  ASSERT_EQ_INT(term_image_sixel(px, W, H, 3, 1, 0, 10, 20, &im, &e), 0);
  int dw, dh;
  uint8_t *dec = decode_sixel(&im.bytes, &dw, &dh);
  ASSERT(dec && dw == W && dh == H);
  double mean = 0;
  for (int i = 0; i < W * H * 3; i++) mean += abs(dec[i] - px[i]);
  mean /= W * H * 3;
  int worst = max_error(dec, px, W, H, 3, 1, 0);
  free(dec); free(px);
  term_image_free(&im);
  ASSERTF(mean < 5 && worst < 24, "mean error %.2f, worst %d", mean, worst);
}

// NO_COLOR's sixel: RGB drawn as its luma.
TEST(termimg_sixel_grey_from_rgb) { check_rgb_roundtrip(2, 1, 10, 20, "luma"); }

TEST(termimg_sixel_bad_args) {
  uint8_t px[4] = {0};
  TermImage im;
  Err e;
  ASSERT_EQ_INT(term_image_sixel(px, 0, 2, 1, 1, 0, 10, 20, &im, &e), -1);
  ASSERT_EQ_INT(term_image_sixel(px, 2, 2, 2, 1, 0, 10, 20, &im, &e), -1);
  ASSERT_EQ_INT(term_image_sixel(px, 2, 2, 1, 0, 0, 10, 20, &im, &e), -1);
  ASSERT(strstr(e.msg, "sixel"));
}

#define ESC "\x1b"
#define HB "\xe2\x96\x80"

// 2x4 RGB:  red   blue        one line of cells: (red over green) (blue over white)
//           green white       next line: (blue over blue) (blue over black)
//           blue  blue
//           blue  black
static const uint8_t IMG24[4 * 2 * 3] = {255, 0, 0,   0, 0, 255,
                                          0, 255, 0,   255, 255, 255,
                                          0, 0, 255,   0, 0, 255,
                                          0, 0, 255,   0, 0, 0};

TEST(termimg_blocks_truecolor_bytes) {
  TermImage im;
  term_image_blocks(IMG24, 2, 4, 3, 1, TERM_COLOR_TRUE, &im);
  ASSERT(im.mode == GFX_BLOCKS);
  ASSERT_EQ_INT(im.cols, 2);
  ASSERT_EQ_INT(im.rows, 2);
  const char *want =
      ESC "[38;2;255;0;0m" ESC "[48;2;0;255;0m" HB ESC "[38;2;0;0;255m" ESC "[48;2;255;255;255m" HB ESC "[0m\n"
      ESC "[38;2;0;0;255m" ESC "[48;2;0;0;255m" HB ESC "[48;2;0;0;0m" HB ESC "[0m";  // fg unchanged: not re-sent
  ASSERTF(im.bytes.len == strlen(want) && !memcmp(im.bytes.data, want, im.bytes.len), "got %s", im.bytes.data);
  term_image_free(&im);
}

TEST(termimg_blocks_256_bytes) {
  TermImage im;
  term_image_blocks(IMG24, 2, 4, 3, 1, TERM_COLOR_256, &im);
  const char *want = ESC "[38;5;196m" ESC "[48;5;46m" HB ESC "[38;5;21m" ESC "[48;5;231m" HB ESC "[0m\n"
                     ESC "[38;5;21m" ESC "[48;5;21m" HB ESC "[48;5;16m" HB ESC "[0m";
  ASSERTF(im.bytes.len == strlen(want) && !memcmp(im.bytes.data, want, im.bytes.len), "got %s", im.bytes.data);
  term_image_free(&im);
  // Greys go to the ramp, when it is nearer than the cube: 2x2 grey, upscaled x1, odd height
  // handled separately below.
  const uint8_t g[4] = {128, 8, 238, 255};
  term_image_blocks(g, 2, 2, 1, 1, TERM_COLOR_256, &im);
  want = ESC "[38;5;244m" ESC "[48;5;255m" HB ESC "[38;5;232m" ESC "[48;5;231m" HB ESC "[0m";
  ASSERTF(im.bytes.len == strlen(want) && !memcmp(im.bytes.data, want, im.bytes.len), "got %s", im.bytes.data);
  term_image_free(&im);
}

TEST(termimg_blocks_odd_height_and_scale) {
  const uint8_t g[2] = {0, 255};  // 2x1 grey at scale 1: one line, no background
  TermImage im;
  term_image_blocks(g, 2, 1, 1, 1, TERM_COLOR_TRUE, &im);
  const char *want = ESC "[38;2;0;0;0m" HB ESC "[38;2;255;255;255m" HB ESC "[0m";
  ASSERTF(!strcmp(im.bytes.data, want), "got %s", im.bytes.data);
  term_image_free(&im);
  // Scale 2: each pixel is 2x2, so one line of four cells, fg = bg per pixel.
  term_image_blocks(g, 2, 1, 1, 2, TERM_COLOR_TRUE, &im);
  ASSERT_EQ_INT(im.cols, 4);
  ASSERT_EQ_INT(im.rows, 1);
  want = ESC "[38;2;0;0;0m" ESC "[48;2;0;0;0m" HB HB ESC "[38;2;255;255;255m" ESC "[48;2;255;255;255m" HB HB ESC "[0m";
  ASSERTF(!strcmp(im.bytes.data, want), "got %s", im.bytes.data);
  term_image_free(&im);
}

TEST(termimg_blocks_no_color_shades) {
  // NO_COLOR: plain shade characters by mean luma (0..255 in five steps), no escapes.
  const uint8_t g[2 * 4] = {0, 255,  0, 255,  100, 200,  160, 60};
  TermImage im;
  term_image_blocks(g, 2, 4, 1, 1, TERM_COLOR_NONE, &im);
  // cells: mean(0,0)=0 ' ', mean(255,255)=255 '█'; mean(100,160)=130 '▒', mean(200,60)=130 '▒'
  const char *want = " \xe2\x96\x88\n\xe2\x96\x92\xe2\x96\x92";
  ASSERTF(!strcmp(im.bytes.data, want), "got %s", im.bytes.data);
  ASSERT(!strchr(im.bytes.data, 0x1b));
  term_image_free(&im);
}

TEST(termimg_color256_mapping) {
  ASSERT_EQ_INT(term_color256(0, 0, 0), 16);
  ASSERT_EQ_INT(term_color256(255, 255, 255), 231);
  ASSERT_EQ_INT(term_color256(255, 0, 0), 196);
  ASSERT_EQ_INT(term_color256(0x5f, 0x87, 0xaf), 16 + 36 * 1 + 6 * 2 + 3);
  ASSERT_EQ_INT(term_color256(128, 128, 128), 244);  // ramp 8 + 10*12 = 128
  ASSERT_EQ_INT(term_color256(8, 8, 8), 232);
  ASSERT_EQ_INT(term_color256(250, 250, 250), 231);  // cube white is nearer than ramp's 238
}

TEST(termimg_frame_bytes) {
  TermImage im;
  term_image_blocks(IMG24, 2, 4, 3, 1, TERM_COLOR_NONE, &im);
  Bytes b = {0};
  term_image_frame(&im, 3, 5, &b);  // lines at rows 4 and 5, column 6 (1-based)
  const char *lines = im.bytes.data, *nl = strchr(lines, '\n');
  char want[256];
  snprintf(want, sizeof want, ESC "[?2026h" ESC "7" ESC "[4;6H%.*s" ESC "[5;6H%s" ESC "8" ESC "[?2026l",
           (int)(nl - lines), lines, nl + 1);
  ASSERTF(!strcmp(b.data, want), "got %s", b.data);
  bytes_free(&b);
  term_image_free(&im);
}

TEST(termimg_render_fits) {
  uint8_t px[32 * 32] = {0};
  TermCaps caps = {.gfx = GFX_BLOCKS, .color = TERM_COLOR_TRUE, .cell_w = 10, .cell_h = 20};
  TermImage im;
  Err e;
  ASSERT_EQ_INT(term_image_render(&caps, px, 32, 32, 1, 80, 40, &im, &e), 0);
  ASSERT_EQ_INT(im.cols, 64);  // x2: 64 columns, 32 rows; x3 would need 96 columns
  ASSERT_EQ_INT(im.rows, 32);
  term_image_free(&im);
  caps.gfx = GFX_SIXEL;
  ASSERT_EQ_INT(term_image_render(&caps, px, 32, 32, 1, 40, 10, &im, &e), 0);
  ASSERT(im.mode == GFX_SIXEL);
  ASSERT_EQ_INT(im.cols, 20);  // x6: 192 px; x7 = 224 px would need 12 rows of 20 px
  ASSERT_EQ_INT(im.rows, 10);
  term_image_free(&im);
  caps.gfx = GFX_NONE;
  ASSERT_EQ_INT(term_image_render(&caps, px, 32, 32, 1, 40, 10, &im, &e), 0);
  ASSERT_EQ_INT(im.bytes.len, 0);
}

// Cells an image takes, drawn through caps with the largest whole scale that fits
// max_cols x max_rows: the footprint the CLI's grid layout and the explorer rely on.
static int rendered(GfxMode gfx, int cell_w, int cell_h, int w, int h, int max_cols, int max_rows,
                    int *cols, int *rows) {
  uint8_t *px = calloc((size_t)w * h, 1);
  TermCaps caps = {.gfx = gfx, .color = TERM_COLOR_256, .cell_w = cell_w, .cell_h = cell_h};
  TermImage im;
  Err e;
  int rc = term_image_render(&caps, px, w, h, 1, max_cols, max_rows, &im, &e);
  *cols = im.cols, *rows = im.rows;
  if (rc == 0 && gfx == GFX_SIXEL) {  // the sixel itself is as large as its footprint says
    int dw, dh;
    uint8_t *dec = decode_sixel(&im.bytes, &dw, &dh);
    if (!dec || (dw + cell_w - 1) / cell_w != *cols || (dh + cell_h - 1) / cell_h > *rows) rc = -2;
    free(dec);
  }
  term_image_free(&im);
  free(px);
  return rc;
}

// Cells an image takes, by mode, cell size, image size and box: the largest whole scale
// that fits (at most 64), after shrinking what is too large even at scale 1.
TEST(termimg_footprint) {
  static const struct {
    GfxMode gfx;
    int cell_w, cell_h, w, h, max_cols, max_rows, cols, rows;
    const char *why;
  } cases[] = {
    {GFX_SIXEL, 7, 15, 20, 13, 30, 10, 29, 9, "x10: 200x130 px, 130 up to a whole six-pixel band, 132; x11 needs 32 columns"},
    {GFX_SIXEL, 8, 16, 8, 8, 100, 2, 3, 2, "the band decides: x4 is 32 px, two rows, but bands make it 36, three rows"},
    {GFX_SIXEL, 9, 18, 28, 28, 200, 12, 22, 11, "rows limit it: x7 196 px; x8 224 px needs 13 rows of 18 px"},
    {GFX_SIXEL, 10, 20, 1, 1, 1000, 1000, 7, 4, "scale stops at 64: 64 px, rows 66 px up"},
    {GFX_BLOCKS, 10, 20, 5, 7, 20, 10, 10, 7, "a column a pixel, a row per two: x2; x3 needs 11 rows"},
    {GFX_BLOCKS, 7, 15, 5, 7, 20, 10, 10, 7, "the cell size does not matter to half blocks"},
    {GFX_BLOCKS, 10, 20, 28, 28, 60, 100, 56, 28, "columns limit it: x2"},
    {GFX_BLOCKS, 10, 20, 300, 300, 80, 20, 38, 19, "too large at x1: shrunk by 8 to 38x38 px (by 7, 22 rows)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int cols, rows;
    ASSERT_EQ_INT(rendered(cases[i].gfx, cases[i].cell_w, cases[i].cell_h, cases[i].w, cases[i].h, cases[i].max_cols,
                           cases[i].max_rows, &cols, &rows), 0);
    ASSERTF(cols == cases[i].cols && rows == cases[i].rows, "case %zu (%s): %dx%d cells, want %dx%d", i, cases[i].why,
            cols, rows, cases[i].cols, cases[i].rows);
  }
}

TEST(termimg_frame_sixel_and_write) {
  // A sixel is one piece: placed once at its corner, cursor saved and restored around it.
  uint8_t px[4 * 6] = {0};
  TermImage im;
  Err e;
  ASSERT_EQ_INT(term_image_sixel(px, 4, 6, 1, 1, 0, 10, 20, &im, &e), 0);
  Bytes b = {0};
  term_image_frame(&im, 0, 0, &b);
  char head[64];
  snprintf(head, sizeof head, ESC "[?2026h" ESC "7" ESC "[1;1H");
  ASSERT(!strncmp(b.data, head, strlen(head)));
  ASSERT(!memcmp(b.data + strlen(head), im.bytes.data, im.bytes.len));
  ASSERT(!strcmp(b.data + strlen(head) + im.bytes.len, ESC "8" ESC "[?2026l"));
  // term_image_write sends exactly the framed bytes.
  int fds[2];
  ASSERT(pipe(fds) == 0);
  ASSERT_EQ_INT(term_image_write(fds[1], &im, 0, 0), 0);
  close(fds[1]);
  char got[8192];
  size_t n = 0;
  ssize_t k;
  while (n < sizeof got && (k = read(fds[0], got + n, sizeof got - n)) > 0) n += (size_t)k;
  close(fds[0]);
  ASSERT_EQ_INT((int)n, (int)b.len);
  ASSERT(!memcmp(got, b.data, n));
  bytes_free(&b);
  term_image_free(&im);
}

TEST(termimg_frame_blocks_rows) {
  // Three half-block lines (5 px rows) at (9, 0): each line gets its own move, same column.
  const uint8_t g[2 * 5] = {0, 255, 255, 0, 0, 255, 255, 0, 0, 255};
  TermImage im;
  term_image_blocks(g, 2, 5, 1, 1, TERM_COLOR_NONE, &im);
  ASSERT_EQ_INT(im.rows, 3);
  Bytes b = {0};
  term_image_frame(&im, 9, 0, &b);
  const char *want = ESC "[?2026h" ESC "7" ESC "[10;1H" "\xe2\x96\x92\xe2\x96\x92" ESC "[11;1H"
                     "\xe2\x96\x92\xe2\x96\x92" ESC "[12;1H" " \xe2\x96\x88" ESC "8" ESC "[?2026l";
  ASSERTF(!strcmp(b.data, want), "got %s", b.data);
  bytes_free(&b);
  term_image_free(&im);
}

// The explorer fits any image into its box: shrunk by the least whole factor when even
// scale 1 is too large, then centred across the box.
TEST(termimg_explorer_image_fits_box) {
  static App a;
  static uint8_t px[300 * 300];
  a.caps = (TermCaps){.gfx = GFX_BLOCKS, .color = TERM_COLOR_256, .cell_w = 10, .cell_h = 20};
  Rect at = app_image(&a, 0, (Rect){2, 0, 20, 80}, px, 300, 300, 1, 1);
  ASSERT_EQ_INT(at.w, 38);  // /8: 38x38 px, 38 columns and 19 rows (/7 would need 22 rows)
  ASSERT_EQ_INT(at.h, 19);
  ASSERT_EQ_INT(at.x, 21);
  ASSERT_EQ_INT(at.y, 2);
  term_image_free(&a.img[0].im);
  a.caps.gfx = GFX_SIXEL;
  at = app_image(&a, 1, (Rect){2, 0, 10, 80}, px, 300, 300, 1, 2);
  ASSERT_EQ_INT(at.w, 15);  // /2: 150 px, 15 columns and 8 rows of 20 px
  ASSERT_EQ_INT(at.h, 8);
  term_image_free(&a.img[1].im);
}

TEST(termimg_fit_scale_and_shrink) {
  TermCaps caps = {.gfx = GFX_BLOCKS, .color = TERM_COLOR_256, .cell_w = 10, .cell_h = 20};
  ASSERT_EQ_INT(term_fit_scale(&caps, 5, 7, 20, 10), 2);
  ASSERT_EQ_INT(term_fit_scale(&caps, 40, 40, 20, 10), 0);  // not even at scale 1
  ASSERT_EQ_INT(term_fit_shrink(&caps, 5, 7, 20, 10), 1);
  ASSERT_EQ_INT(term_fit_shrink(&caps, 300, 300, 80, 20), 8);
  caps.gfx = GFX_SIXEL;
  ASSERT_EQ_INT(term_fit_scale(&caps, 1, 1, 1000, 1000), TERM_MAX_SCALE);
  ASSERT_EQ_INT(term_fit_shrink(&caps, 300, 300, 80, 10), 2);
  // The box filter: rounded means, the partial last block averages what it has.
  const uint8_t px[3 * 3] = {0, 10, 100,  20, 31, 200,  7, 9, 50};
  int ow, oh;
  uint8_t *out = term_shrink(px, 3, 3, 1, 2, &ow, &oh);
  ASSERT(ow == 2 && oh == 2);
  ASSERT_EQ_INT(out[0], 15);   // (0 + 10 + 20 + 31) / 4 = 15.25
  ASSERT_EQ_INT(out[1], 150);  // (100 + 200) / 2
  ASSERT_EQ_INT(out[2], 8);    // (7 + 9) / 2
  ASSERT_EQ_INT(out[3], 50);
  free(out);
}

TEST(termimg_place_up_rows) {
  // Inline drawing (sample --show): the corner `up` rows above the cursor, column 0, and
  // each further half-block line one row down from column 0.
  const uint8_t g[2 * 5] = {0, 255, 255, 0, 0, 255, 255, 0, 0, 255};
  TermImage im;
  term_image_blocks(g, 2, 5, 1, 1, TERM_COLOR_NONE, &im);
  Bytes b = {0};
  term_image_place_up(&im, 4, &b);
  const char *want = ESC "7" ESC "[4A\r" "\xe2\x96\x92\xe2\x96\x92" "\r" ESC "[1B" "\xe2\x96\x92\xe2\x96\x92"
                     "\r" ESC "[1B" " \xe2\x96\x88" ESC "8";
  ASSERTF(!strcmp(b.data, want), "got %s", b.data);
  bytes_free(&b);
  term_image_free(&im);
}

TEST(termimg_parse_reply) {
  TermReply r;
  const char xterm[] = ESC "[6;20;10t" ESC "[?63;1;2;4;6;9;15;22c";
  term_parse_reply(xterm, sizeof xterm - 1, &r);
  ASSERT(r.da1 && r.sixel);
  ASSERT_EQ_INT(r.cell_w, 10);
  ASSERT_EQ_INT(r.cell_h, 20);
  const char vte[] = ESC "[?65;1;9c";  // no 4 (65 and 1 are not sixel)
  term_parse_reply(vte, sizeof vte - 1, &r);
  ASSERT(r.da1 && !r.sixel && r.cell_w == 0);
  const char first4[] = ESC "[?4;6c";  // the device class is not a feature
  term_parse_reply(first4, sizeof first4 - 1, &r);
  ASSERT(r.da1 && !r.sixel);
  const char cut[] = ESC "[?62;4";  // still arriving
  term_parse_reply(cut, sizeof cut - 1, &r);
  ASSERT(!r.da1);
  term_parse_reply("", 0, &r);
  ASSERT(!r.da1);
}

// Sets or unsets an environment variable, returning its old value to restore.
static char *swap_env(const char *name, const char *val) {
  const char *old = getenv(name);
  char *saved = old ? strdup(old) : NULL;
  if (val) setenv(name, val, 1); else unsetenv(name);
  return saved;
}

static void restore_env(const char *name, char *saved) {
  if (saved) setenv(name, saved, 1); else unsetenv(name);
  free(saved);
}

TEST(termimg_color_env_and_no_color) {
  char *nc = swap_env("NO_COLOR", NULL), *ct = swap_env("COLORTERM", "truecolor");
  int ok = 1;
  ok &= term_color_from_env() == TERM_COLOR_TRUE;
  setenv("COLORTERM", "24bit", 1);
  ok &= term_color_from_env() == TERM_COLOR_TRUE;
  unsetenv("COLORTERM");
  ok &= term_color_from_env() == TERM_COLOR_256;
  setenv("NO_COLOR", "", 1);  // empty: ignored, as no-color.org says
  ok &= term_color_from_env() == TERM_COLOR_256;
  setenv("NO_COLOR", "1", 1);
  setenv("COLORTERM", "truecolor", 1);
  ok &= term_color_from_env() == TERM_COLOR_NONE;
  // Not a terminal: auto draws nothing, explicit choices are kept, colour still follows NO_COLOR.
  int fds[2];
  TermCaps caps;
  ok &= pipe(fds) == 0;
  term_detect(fds[1], GFX_AUTO, &caps);
  ok &= caps.gfx == GFX_NONE && caps.color == TERM_COLOR_NONE && caps.cell_w == 10 && caps.cell_h == 20;
  term_detect(fds[1], GFX_BLOCKS, &caps);
  ok &= caps.gfx == GFX_BLOCKS;
  term_detect(fds[1], GFX_SIXEL, &caps);
  ok &= caps.gfx == GFX_SIXEL;
  term_detect(fds[1], GFX_NONE, &caps);
  ok &= caps.gfx == GFX_NONE;
  close(fds[0]);
  close(fds[1]);
  // With NO_COLOR, rendering through caps gives a grey sixel and escape-free blocks.
  const uint8_t px[3 * 2] = {255, 0, 0, 0, 0, 255};
  TermImage im;
  Err e;
  caps = (TermCaps){.gfx = GFX_BLOCKS, .color = term_color_from_env(), .cell_w = 10, .cell_h = 20};
  ok &= term_image_render(&caps, px, 2, 1, 3, 10, 10, &im, &e) == 0 && !strchr(im.bytes.data, 0x1b);
  term_image_free(&im);
  restore_env("NO_COLOR", nc);
  restore_env("COLORTERM", ct);
  ASSERT(ok);
}

TEST(termimg_gfx_parse) {
  GfxMode m;
  ASSERT(gfx_parse("sixel", &m) == 0 && m == GFX_SIXEL);
  ASSERT(gfx_parse("blocks", &m) == 0 && m == GFX_BLOCKS);
  ASSERT(gfx_parse("none", &m) == 0 && m == GFX_NONE);
  ASSERT(gfx_parse("auto", &m) == 0 && m == GFX_AUTO);
  ASSERT(gfx_parse("kitty", &m) == -1);
  for (int i = 0; i < 4; i++) ASSERT(gfx_parse(gfx_name((GfxMode)i), &m) == 0 && m == (GfxMode)i);
}
