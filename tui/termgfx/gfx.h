// gfx.h — the values every part of termgfx shares: the graphics modes, the colour depth,
// and a rendered image (its bytes and the cells it covers).
#pragma once
#include "tui/termgfx/bytes.h"

typedef enum { GFX_AUTO, GFX_SIXEL, GFX_BLOCKS, GFX_NONE } GfxMode;
typedef enum { TERM_COLOR_NONE, TERM_COLOR_256, TERM_COLOR_TRUE } TermColor;

const char *gfx_name(GfxMode m);               // "auto", "sixel", "blocks", "none"
int gfx_parse(const char *name, GfxMode *out);  // 0 ok, -1 unknown (for --graphics)

typedef struct {
  GfxMode mode;     // GFX_SIXEL or GFX_BLOCKS
  Bytes bytes;      // a sixel DCS string, or half-block lines joined by '\n' (none at the end)
  int cols, rows;   // character cells the image covers
} TermImage;

void term_image_free(TermImage *im);
