// term_image.c — term_image_render(): fit an image to a box of cells, then encode it.
#include "tui/termgfx/term_image.h"
#include <stdlib.h>

int term_image_render(const TermCaps *caps, const uint8_t *px, int w, int h, int ch,
                      int max_cols, int max_rows, TermImage *out, Err *e) {
  *out = (TermImage){0};
  if (caps->gfx == GFX_NONE) return 0;
  if (w < 1 || h < 1 || (ch != 1 && ch != 3))
    return err_set(e, "image: bad shape %dx%d with %d channels", w, h, ch);
  const int f = term_fit_shrink(caps, w, h, max_cols, max_rows);
  int sw = w, sh = h;
  uint8_t *small = f > 1 ? term_shrink(px, w, h, ch, f, &sw, &sh) : NULL;
  const uint8_t *src = small ? small : px;
  int scale = term_fit_scale(caps, sw, sh, max_cols, max_rows), rc = 0;
  if (scale < 1) scale = 1;  // too large even shrunk TERM_MAX_SCALE times: drawn anyway
  if (caps->gfx == GFX_SIXEL)
    rc = term_image_sixel(src, sw, sh, ch, scale, caps->color == TERM_COLOR_NONE, caps->cell_w, caps->cell_h, out, e);
  else
    term_image_blocks(src, sw, sh, ch, scale, caps->color, out);
  free(small);
  return rc;
}
