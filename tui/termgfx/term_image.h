// term_image.h — pictures in a terminal, shared by the CLI and the explorer: sixel
// graphics through libsixel, or Unicode half blocks ▀ as the fallback, and the detection
// that picks between them.
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
#include <stddef.h>
#include <stdint.h>

typedef enum { GFX_AUTO, GFX_SIXEL, GFX_BLOCKS, GFX_NONE } GfxMode;
typedef enum { TERM_COLOR_NONE, TERM_COLOR_256, TERM_COLOR_TRUE } TermColor;

const char *gfx_name(GfxMode m);               // "auto", "sixel", "blocks", "none"
int gfx_parse(const char *name, GfxMode *out);  // 0 ok, -1 unknown (for --graphics)

// A growable byte buffer.
typedef struct { char *data; size_t len, cap; } Bytes;
void bytes_append(Bytes *b, const void *p, size_t n);
void bytes_puts(Bytes *b, const char *s);
void bytes_printf(Bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bytes_free(Bytes *b);

// ---- detection (term_detect.c) ----

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

// ---- images (sixel.c, halfblock.c, term_image.c) ----

typedef struct {
  GfxMode mode;     // GFX_SIXEL or GFX_BLOCKS
  Bytes bytes;      // a sixel DCS string, or half-block lines joined by '\n' (none at the end)
  int cols, rows;   // character cells the image covers
} TermImage;

// Sixel of the image upscaled by a whole factor (nearest neighbour, so pixels stay
// square and sharp). grey = 1 (or ch = 1) encodes with libsixel's 256-level grey palette,
// else a 256-colour palette fitted to the image, without error diffusion. cell_w/cell_h
// give the footprint in cells. 0 or -1.
int term_image_sixel(const uint8_t *px, int w, int h, int ch, int scale, int grey,
                     int cell_w, int cell_h, TermImage *out, Err *e);

// Half blocks: each cell shows two pixel rows, fg = upper, bg = lower; each source pixel
// becomes scale x scale pixels. Colour escapes are emitted only when they change along a
// line; each line ends with ESC [ 0 m (TERM_COLOR_NONE: shade characters, no escapes).
// An odd last pixel row leaves the background at its default.
void term_image_blocks(const uint8_t *px, int w, int h, int ch, int scale, TermColor color,
                       TermImage *out);

// The largest whole upscale (>= 1) that fits in max_cols x max_rows cells, drawn the way
// caps says. caps->gfx == GFX_NONE leaves out empty and returns 0.
int term_image_render(const TermCaps *caps, const uint8_t *px, int w, int h, int ch,
                      int max_cols, int max_rows, TermImage *out, Err *e);

// Appends to out: ESC 7, the image with its top-left corner at the 0-based cell (row, col)
// (each half-block line placed with its own cursor move), ESC 8; wrapped in synchronized
// output (ESC [ ? 2026 h/l), which terminals that lack it ignore.
void term_image_frame(const TermImage *im, int row, int col, Bytes *out);

// term_image_frame() sent with one write (retried on short writes). 0 or -1 (errno set).
int term_image_write(int fd, const TermImage *im, int row, int col);

void term_image_free(TermImage *im);

// 256-colour palette index nearest to (r,g,b): the 6x6x6 cube (16..231) or the grey ramp
// (232..255), whichever is closer.
int term_color256(int r, int g, int b);
