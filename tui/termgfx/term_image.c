// term_image.c — byte buffers, --graphics names, fitting and framing of terminal images.
#include "tui/termgfx/term_image.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const gfx_names[] = {"auto", "sixel", "blocks", "none"};

const char *gfx_name(GfxMode m) { return (unsigned)m < 4 ? gfx_names[m] : "?"; }

int gfx_parse(const char *name, GfxMode *out) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, gfx_names[i])) { *out = (GfxMode)i; return 0; }
  return -1;
}

void bytes_append(Bytes *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > b->cap) b->cap *= 2;
    b->data = xrealloc(b->data, b->cap);
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;  // always a C string too, handy in tests and debuggers
}

void bytes_puts(Bytes *b, const char *s) { bytes_append(b, s, strlen(s)); }

void bytes_printf(Bytes *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  CHECK(n >= 0 && n < (int)sizeof tmp, "bytes_printf: %d bytes is more than it is for", n);
  bytes_append(b, tmp, (size_t)n);
}

void bytes_free(Bytes *b) {
  free(b->data);
  *b = (Bytes){0};
}

void term_image_free(TermImage *im) {
  bytes_free(&im->bytes);
  *im = (TermImage){0};
}

int term_image_render(const TermCaps *caps, const uint8_t *px, int w, int h, int ch,
                      int max_cols, int max_rows, TermImage *out, Err *e) {
  *out = (TermImage){0};
  if (caps->gfx == GFX_NONE) return 0;
  if (w < 1 || h < 1 || (ch != 1 && ch != 3))
    return err_set(e, "image: bad shape %dx%d with %d channels", w, h, ch);
  // Footprint in cells at scale s: blocks take s*w columns and ceil(s*h / 2) rows; a sixel
  // takes its pixels over the cell size, height rounded up to whole six-pixel bands.
  int scale = 1;
  for (int s = 2; s <= 64; s++) {
    int cols, rows;
    if (caps->gfx == GFX_SIXEL) {
      cols = (s * w + caps->cell_w - 1) / caps->cell_w;
      rows = ((s * h + 5) / 6 * 6 + caps->cell_h - 1) / caps->cell_h;
    } else {
      cols = s * w;
      rows = (s * h + 1) / 2;
    }
    if (cols > max_cols || rows > max_rows) break;
    scale = s;
  }
  if (caps->gfx == GFX_SIXEL)
    return term_image_sixel(px, w, h, ch, scale, caps->color == TERM_COLOR_NONE, caps->cell_w,
                            caps->cell_h, out, e);
  term_image_blocks(px, w, h, ch, scale, caps->color, out);
  return 0;
}

void term_image_frame(const TermImage *im, int row, int col, Bytes *out) {
  bytes_puts(out, "\x1b[?2026h\x1b" "7");
  bytes_printf(out, "\x1b[%d;%dH", row + 1, col + 1);
  if (im->mode == GFX_SIXEL) {
    bytes_append(out, im->bytes.data, im->bytes.len);
  } else {  // each '\n' becomes a move to the same column one row down
    const char *p = im->bytes.data, *end = p + im->bytes.len;
    for (int r = 0; p && p < end; r++) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      if (r > 0) bytes_printf(out, "\x1b[%d;%dH", row + r + 1, col + 1);
      bytes_append(out, p, (size_t)((nl ? nl : end) - p));
      p = nl ? nl + 1 : end;
    }
  }
  bytes_puts(out, "\x1b" "8\x1b[?2026l");
}

int term_image_write(int fd, const TermImage *im, int row, int col) {
  Bytes b = {0};
  term_image_frame(im, row, col, &b);
  size_t off = 0;
  while (off < b.len) {
    ssize_t n = write(fd, b.data + off, b.len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { bytes_free(&b); return -1; }
    off += (size_t)n;
  }
  bytes_free(&b);
  return 0;
}
