// sixel.c — images as DEC sixel graphics, encoded by libsixel into a memory buffer.
#include "tui/termgfx/sixel.h"
#include "tui/termgfx/fit.h"
#include <sixel.h>
#include <stdlib.h>
#include <string.h>

// libsixel hands us the encoded bytes in pieces; collect them.
static int collect(char *data, int size, void *priv) {
  bytes_append(priv, data, (size_t)size);
  return size;
}

// ---- palette: exact for images of <= 256 colours, else median cut polished by k-means ----

typedef struct { uint8_t c[3]; uint32_t count; } Swatch;  // a distinct colour and its pixel count

static uint32_t pack(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}
#define CMP_CHANNEL(k) \
  static int cmp_ch##k(const void *a, const void *b) { \
    return ((const Swatch *)a)->c[k] - ((const Swatch *)b)->c[k]; }
CMP_CHANNEL(0) CMP_CHANNEL(1) CMP_CHANNEL(2)
static int (*const cmp_channel[3])(const void *, const void *) = {cmp_ch0, cmp_ch1, cmp_ch2};

static int dist2(const uint8_t *a, const uint8_t *b) {
  int d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
  return d0 * d0 + d1 * d1 + d2 * d2;
}

static int nearest(const uint8_t *pal, int k, const uint8_t *c) {
  int best = 0, bd = dist2(pal, c);
  for (int j = 1; j < k && bd; j++) {
    int d = dist2(pal + 3 * j, c);
    if (d < bd) bd = d, best = j;
  }
  return best;
}

// The widest channel of sw[0..n) and its range.
static int widest(const Swatch *sw, int n, int *range) {
  int lo[3] = {255, 255, 255}, hi[3] = {0, 0, 0}, ch = 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 3; k++) {
      if (sw[i].c[k] < lo[k]) lo[k] = sw[i].c[k];
      if (sw[i].c[k] > hi[k]) hi[k] = sw[i].c[k];
    }
  for (int k = 1; k < 3; k++)
    if (hi[k] - lo[k] > hi[ch] - lo[ch]) ch = k;
  *range = hi[ch] - lo[ch];
  return ch;
}

// Median cut (Heckbert 1982): split the box of widest extent at its pixel-weighted median
// until there are 256 boxes; then a few Lloyd (k-means) rounds move each palette colour to
// the mean of the pixels nearest to it. Returns the number of colours.
static int quantize(Swatch *sw, int n, uint8_t *pal) {
  int start[257] = {0}, nbox = 1;  // box b is sw[start[b] .. start[b+1])
  start[1] = n;
  while (nbox < 256) {
    int pick = -1, best = 0;
    for (int b = 0; b < nbox; b++) {
      int range;
      if (start[b + 1] - start[b] < 2) continue;
      widest(sw + start[b], start[b + 1] - start[b], &range);
      if (range > best) best = range, pick = b;
    }
    if (pick < 0) break;
    int lo = start[pick], hi = start[pick + 1], range;
    int ch = widest(sw + lo, hi - lo, &range);
    qsort(sw + lo, (size_t)(hi - lo), sizeof *sw, cmp_channel[ch]);
    uint64_t total = 0, acc = 0;
    for (int i = lo; i < hi; i++) total += sw[i].count;
    int mid = lo + 1;
    for (int i = lo; i < hi - 1; i++) {
      acc += sw[i].count;
      mid = i + 1;
      if (2 * acc >= total) break;
    }
    memmove(start + pick + 2, start + pick + 1, sizeof(int) * (size_t)(nbox - pick));
    start[pick + 1] = mid;
    nbox++;
  }
  for (int round = 0; round <= 4; round++) {
    uint64_t sum[256][3] = {{0}}, cnt[256] = {0};
    for (int b = 0; b < nbox; b++)
      for (int i = start[b]; i < start[b + 1]; i++) {
        int j = round == 0 ? b : nearest(pal, nbox, sw[i].c);  // round 0: the boxes
        for (int k = 0; k < 3; k++) sum[j][k] += (uint64_t)sw[i].c[k] * sw[i].count;
        cnt[j] += sw[i].count;
      }
    for (int j = 0; j < nbox; j++)
      if (cnt[j])
        for (int k = 0; k < 3; k++) pal[3 * j + k] = (uint8_t)((sum[j][k] + cnt[j] / 2) / cnt[j]);
  }
  return nbox;
}

// Fits a palette of at most 256 colours to n RGB pixels and writes each pixel's palette
// index to idx. Returns the number of colours.
static int fit_palette(const uint8_t *rgb, long n, uint8_t *pal, uint8_t *idx) {
  uint32_t *key = xmalloc(sizeof(uint32_t) * (size_t)n);
  for (long i = 0; i < n; i++) key[i] = pack(rgb + 3 * i);
  uint32_t *uniq = xmalloc(sizeof(uint32_t) * (size_t)n);
  memcpy(uniq, key, sizeof(uint32_t) * (size_t)n);
  qsort(uniq, (size_t)n, sizeof *uniq, cmp_u32);
  Swatch *sw = xmalloc(sizeof(Swatch) * (size_t)n);
  int nu = 0;
  for (long i = 0; i < n; i++) {
    if (i == 0 || uniq[i] != uniq[i - 1]) {
      uniq[nu] = uniq[i];
      sw[nu++] = (Swatch){{uniq[i] >> 16, uniq[i] >> 8 & 255, uniq[i] & 255}, 0};
    }
    sw[nu - 1].count++;
  }
  int k;
  if (nu <= 256) {  // every colour gets its own entry: exact
    for (int i = 0; i < nu; i++) memcpy(pal + 3 * i, sw[i].c, 3);
    k = nu;
  } else {
    k = quantize(sw, nu, pal);  // reorders sw, uniq keeps the sorted keys
  }
  // Palette index per distinct colour, then per pixel by binary search of its key.
  uint8_t *uidx = xmalloc((size_t)nu);
  for (int i = 0; i < nu; i++) {
    uint8_t c[3] = {uniq[i] >> 16, uniq[i] >> 8 & 255, uniq[i] & 255};
    uidx[i] = (uint8_t)(nu <= 256 ? i : nearest(pal, k, c));
  }
  for (long i = 0; i < n; i++) {
    const uint32_t *hit = bsearch(&key[i], uniq, (size_t)nu, sizeof *uniq, cmp_u32);
    idx[i] = uidx[hit - uniq];
  }
  free(key); free(uniq); free(sw); free(uidx);
  return k;
}

static int sixel_fail(Err *e, SIXELSTATUS st, const char *what) {
  return err_set(e, "sixel: %s: %s", what, sixel_helper_format_error(st));
}

int term_image_sixel(const uint8_t *px, int w, int h, int ch, int scale, int grey,
                     int cell_w, int cell_h, TermImage *out, Err *e) {
  *out = (TermImage){.mode = GFX_SIXEL};
  if (w < 1 || h < 1 || (ch != 1 && ch != 3) || scale < 1 || cell_w < 1 || cell_h < 1)
    return err_set(e, "sixel: bad image %dx%dx%d at scale %d, cell %dx%d", w, h, ch, scale, cell_w, cell_h);
  const int W = w * scale, H = h * scale, oc = grey || ch == 1 ? 1 : 3;
  if ((long)W * H > 16L << 20) return err_set(e, "sixel: %dx%d pixels is too large", W, H);

  // One byte per source pixel: its grey level (G8), or its index into a palette fitted to
  // the image (PAL8) — our own, in place of sixel_dither_initialize(), whose coarse
  // histogram put colours 46 levels off on an image of only 120 colours.
  const long n = (long)w * h;
  uint8_t *small = xmalloc((size_t)n), pal[256 * 3];
  int ncolors = 256;
  if (oc == 1)
    for (long i = 0; i < n; i++)
      small[i] = ch == 1 ? px[i] : (uint8_t)((299 * px[3 * i] + 587 * px[3 * i + 1] + 114 * px[3 * i + 2] + 500) / 1000);
  else
    ncolors = fit_palette(px, n, pal, small);
  uint8_t *big = xmalloc((size_t)W * H);  // nearest-neighbour upscale: square, sharp pixels
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) big[(long)y * W + x] = small[(long)(y / scale) * w + x / scale];
  free(small);

  sixel_output_t *output = NULL;
  sixel_dither_t *dither = NULL;
  SIXELSTATUS st = sixel_output_new(&output, collect, &out->bytes, NULL);
  if (SIXEL_FAILED(st)) { sixel_fail(e, st, "output"); goto fail; }
  if (oc == 1) {
    dither = sixel_dither_get(SIXEL_BUILTIN_G8);  // 256 greys, each byte its own index
    if (!dither) { err_set(e, "sixel: no built-in grey palette"); goto fail; }
    sixel_dither_set_pixelformat(dither, SIXEL_PIXELFORMAT_G8);
  } else {
    st = sixel_dither_new(&dither, ncolors, NULL);
    if (SIXEL_FAILED(st)) { sixel_fail(e, st, "palette"); goto fail; }
    sixel_dither_set_palette(dither, pal);
    sixel_dither_set_pixelformat(dither, SIXEL_PIXELFORMAT_PAL8);
  }
  st = sixel_encode(big, W, H, 0, dither, output);
  if (SIXEL_FAILED(st)) { sixel_fail(e, st, "encode"); goto fail; }
  sixel_dither_unref(dither);
  sixel_output_unref(output);
  free(big);
  term_cells(GFX_SIXEL, cell_w, cell_h, W, H, &out->cols, &out->rows);
  return 0;

fail:
  if (dither) sixel_dither_unref(dither);
  if (output) sixel_output_unref(output);
  free(big);
  term_image_free(out);
  return -1;
}
