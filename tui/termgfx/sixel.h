// sixel.h — images as DEC sixel graphics (libsixel encodes them into memory).
#pragma once
#include "engine/common.h"
#include "tui/termgfx/gfx.h"
#include <stdint.h>

// Sixel of the image upscaled by a whole factor (nearest neighbour, so pixels stay
// square and sharp). grey = 1 (or ch = 1) encodes with libsixel's 256-level grey palette,
// else a 256-colour palette fitted to the image, without error diffusion. cell_w/cell_h
// give the footprint in cells. 0 or -1.
int term_image_sixel(const uint8_t *px, int w, int h, int ch, int scale, int grey,
                     int cell_w, int cell_h, TermImage *out, Err *e);
