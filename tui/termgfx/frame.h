// frame.h — putting a rendered image on the screen: the cursor saved, a move to the
// image's corner, the image (each half-block line placed with its own move), the cursor
// restored; all in one write, inside synchronized output (ESC [ ? 2026 h/l), which
// terminals that lack it ignore.
#pragma once
#include "tui/termgfx/bytes.h"
#include "tui/termgfx/gfx.h"

#define TERM_SYNC_BEGIN "\x1b[?2026h"
#define TERM_SYNC_END "\x1b[?2026l"

// Appends ESC 7, the image with its top-left corner at the 0-based cell (row, col), ESC 8.
void term_image_place(const TermImage *im, int row, int col, Bytes *out);

// The same, with the corner `up` rows above the cursor's row at column 0: for drawing
// inline, below a command line, where the screen row is not known.
void term_image_place_up(const TermImage *im, int up, Bytes *out);

// term_image_place() inside synchronized output.
void term_image_frame(const TermImage *im, int row, int col, Bytes *out);

// term_image_frame() sent with one write (retried on short writes). 0 or -1 (errno set).
int term_image_write(int fd, const TermImage *im, int row, int col);
