// halfblock.h — images as Unicode upper half blocks ▀, two pixels a character cell.
#pragma once
#include "tui/termgfx/gfx.h"
#include <stdint.h>

// Half blocks: each cell shows two pixel rows, fg = upper, bg = lower; each source pixel
// becomes scale x scale pixels. Colour escapes are emitted only when they change along a
// line; each line ends with ESC [ 0 m (TERM_COLOR_NONE: shade characters, no escapes).
// An odd last pixel row leaves the background at its default.
void term_image_blocks(const uint8_t *px, int w, int h, int ch, int scale, TermColor color,
                       TermImage *out);

// 256-colour palette index nearest to (r,g,b): the 6x6x6 cube (16..231) or the grey ramp
// (232..255), whichever is closer.
int term_color256(int r, int g, int b);
