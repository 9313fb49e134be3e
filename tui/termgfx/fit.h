// fit.h — fitting an image to character cells: the cells w x h pixels cover, the largest
// whole upscale that fits a box, and the whole downscale that an image too large needs.
// The one place these formulas are written; the encoders, the CLI's grid layout and the
// explorer all ask here.
#pragma once
#include "tui/termgfx/gfx.h"
#include "tui/termgfx/term_detect.h"
#include <stdint.h>

enum { TERM_MAX_SCALE = 64 };

// Cells that W x H pixels cover, drawn as gfx: half blocks take a column per pixel and a
// row per two; a sixel takes its pixels over the cell size, its height rounded up to whole
// six-pixel bands (a terminal advances by bands).
void term_cells(GfxMode gfx, int cell_w, int cell_h, int W, int H, int *cols, int *rows);

// term_cells() of w x h pixels drawn through caps at whole upscale `scale`.
void term_footprint(const TermCaps *caps, int w, int h, int scale, int *cols, int *rows);

// The largest whole upscale (1..TERM_MAX_SCALE) at which w x h fits max_cols x max_rows;
// 0 when even scale 1 does not.
int term_fit_scale(const TermCaps *caps, int w, int h, int max_cols, int max_rows);

// The least whole downscale (1..TERM_MAX_SCALE) after which w x h fits at scale 1 — 1 when
// it fits as it is. Shrunk by f, an image is ceil(w/f) x ceil(h/f) pixels.
int term_fit_shrink(const TermCaps *caps, int w, int h, int max_cols, int max_rows);

// Box-filter downscale of px (w x h, ch interleaved channels) by a whole factor f: each
// output pixel is the rounded mean of its f x f block (the last partial block averages what
// it has). Returns a new buffer of *ow x *oh pixels (free it).
uint8_t *term_shrink(const uint8_t *px, int w, int h, int ch, int f, int *ow, int *oh);
