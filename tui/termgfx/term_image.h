// term_image.h — pictures in a terminal, shared by the CLI and the explorer: sixel
// graphics through libsixel, or Unicode half blocks ▀ as the fallback, and the detection
// that picks between them. No curses here: termgfx produces bytes, callers write them.
//
// The walk from pixels to the screen, one file a step:
//   term_detect.h  what the terminal draws and its cell size (TermCaps)
//   fit.h          the cells an image covers, the scale that fits a box, downscaling
//   sixel.h        encode as sixel          halfblock.h  encode as half blocks
//   frame.h        cursor moves and synchronized output around an image, the one write
//   bytes.h, gfx.h the byte buffer, the modes and the TermImage every step shares
// term_image_render() below is the usual entry: fit, then encode as caps says.
//
// Images come in as 8-bit pixels, row-major, channels interleaved: grey (ch = 1) or RGB
// (ch = 3). Rendering produces bytes, not writes; the caller sends a TermImage in ONE
// write framed by term_image_frame() (cursor saved and restored around it), after curses
// has flushed its own output. Keep images off the last screen row — a sixel touching it
// scrolls the screen — and redraw them after a clear, a resize or a dialog on top.
//
// NO_COLOR (set and not empty, see no-color.org) means no colour anywhere: sixels are
// drawn in grey (RGB turned into luma), half blocks become a five-step shade ramp of plain
// characters " ░▒▓█" with no escape sequences at all. A picture in grey still shows what
// the model made; an image without any picture would not.
#pragma once
#include "engine/common.h"
#include "tui/termgfx/bytes.h"
#include "tui/termgfx/fit.h"
#include "tui/termgfx/frame.h"
#include "tui/termgfx/gfx.h"
#include "tui/termgfx/halfblock.h"
#include "tui/termgfx/sixel.h"
#include "tui/termgfx/term_detect.h"

// The image drawn the way caps says, at the largest whole upscale (>= 1) that fits in
// max_cols x max_rows cells; one too large even at scale 1 is first shrunk by the least
// whole factor that makes it fit (term_fit_shrink). caps->gfx == GFX_NONE leaves out empty
// and returns 0. 0 or -1 with e set.
int term_image_render(const TermCaps *caps, const uint8_t *px, int w, int h, int ch,
                      int max_cols, int max_rows, TermImage *out, Err *e);
