// frame.c — the cursor moves and framing around an image (frame.h).
#include "tui/termgfx/frame.h"
#include <string.h>

// Appends the image between ESC 7 and ESC 8; line r of a half-block image starts with the
// move to its row: absolute (up < 0: row + r, col) or relative (up rows above the cursor,
// then one row down a line).
static void place(const TermImage *im, int row, int col, int up, Bytes *out) {
  bytes_puts(out, "\x1b" "7");
  if (up < 0) bytes_printf(out, "\x1b[%d;%dH", row + 1, col + 1);
  else bytes_printf(out, "\x1b[%dA\r", up);
  if (im->mode == GFX_SIXEL) {
    bytes_append(out, im->bytes.data, im->bytes.len);
  } else {
    const char *p = im->bytes.data, *end = p + im->bytes.len;
    for (int r = 0; p && p < end; r++) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      if (r > 0 && up < 0) bytes_printf(out, "\x1b[%d;%dH", row + r + 1, col + 1);
      else if (r > 0) bytes_puts(out, "\r\x1b[1B");
      bytes_append(out, p, (size_t)((nl ? nl : end) - p));
      p = nl ? nl + 1 : end;
    }
  }
  bytes_puts(out, "\x1b" "8");
}

void term_image_place(const TermImage *im, int row, int col, Bytes *out) { place(im, row, col, -1, out); }

void term_image_place_up(const TermImage *im, int up, Bytes *out) { place(im, 0, 0, up, out); }

void term_image_frame(const TermImage *im, int row, int col, Bytes *out) {
  bytes_puts(out, TERM_SYNC_BEGIN);
  term_image_place(im, row, col, out);
  bytes_puts(out, TERM_SYNC_END);
}

int term_image_write(int fd, const TermImage *im, int row, int col) {
  Bytes b = {0};
  term_image_frame(im, row, col, &b);
  int rc = bytes_write(fd, &b);
  bytes_free(&b);
  return rc;
}
