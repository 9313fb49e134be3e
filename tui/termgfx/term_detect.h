// term_detect.h — what the terminal can draw and how large its cells are: asked of the
// terminal, read from the environment, or set by the user's --graphics.
#pragma once
#include "tui/termgfx/gfx.h"

typedef struct {
  GfxMode gfx;          // resolved: GFX_SIXEL, GFX_BLOCKS or GFX_NONE, never GFX_AUTO
  TermColor color;
  int cell_w, cell_h;   // pixels per character cell
  int rows, cols;       // screen size in cells (0 when unknown)
  int da1_sixel;        // the terminal answered DA1 with parameter 4
  const char *why;      // how gfx was chosen, one short phrase (for `stepscope info`)
} TermCaps;

// COLORTERM=truecolor|24bit -> TRUE, else 256; NO_COLOR set and non-empty -> NONE.
TermColor term_color_from_env(void);

// Fills caps for drawing on fd (normally STDOUT_FILENO). want = GFX_AUTO asks the
// terminal: DA1 (ESC [ c) on /dev/tty in raw mode, answered within 250 ms, parameter 4
// meaning sixel; cell size from TIOCGWINSZ's pixel fields, else ESC [ 16 t (asked in the
// same round trip, before DA1, which every terminal answers), else 10x20. Auto gives sixel,
// else blocks, and none when fd is not a terminal or TERM is "dumb". An explicit
// GFX_SIXEL or GFX_BLOCKS is honoured even into a pipe (the user asked for it).
// Call it before curses takes the terminal.
void term_detect(int fd, GfxMode want, TermCaps *caps);

// What a terminal said, parsed from raw reply bytes (pure; exposed for tests).
typedef struct {
  int da1;               // a complete DA1 reply (ESC [ ? ... c) was seen
  int sixel;             // ... and it listed parameter 4
  int cell_w, cell_h;    // from ESC [ 6 ; h ; w t, else 0
} TermReply;
void term_parse_reply(const char *buf, size_t n, TermReply *r);
