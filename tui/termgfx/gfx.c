// gfx.c — --graphics names and freeing a rendered image.
#include "tui/termgfx/gfx.h"
#include <string.h>

static const char *const gfx_names[] = {"auto", "sixel", "blocks", "none"};

const char *gfx_name(GfxMode m) { return (unsigned)m < 4 ? gfx_names[m] : "?"; }

int gfx_parse(const char *name, GfxMode *out) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, gfx_names[i])) { *out = (GfxMode)i; return 0; }
  return -1;
}

void term_image_free(TermImage *im) {
  bytes_free(&im->bytes);
  *im = (TermImage){0};
}
