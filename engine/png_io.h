// png_io.h — PNG files through libpng: 8-bit grey or RGB pixels, tEXt metadata.
//
// Pixels are interleaved rows, top to bottom: pix[(y*w + x)*channels + k].
// Every function returns 0 on success, -1 with *e filled ("FILE: what is wrong") on
// failure; a corrupt or hostile file gives an error, never a crash.
#pragma once
#include "common.h"
#include <stdint.h>

// Writes a w×h image with 1 (grey) or 3 (RGB) channels. text, when not NULL, is a
// NULL-terminated list of key, value, key, value, ... stored as tEXt chunks (keys are
// 1..79 printable Latin-1 characters, e.g. "seed", "model", "sampler", "steps").
// Atomic: the image goes to PATH.tmp.<pid>, is fsync'd, then renamed over PATH.
int png_write(const char *path, const uint8_t *pix, int w, int h, int channels,
              const char *const *text, Err *e);

// Reads any PNG (palette, 1..16-bit, grey, RGB, with or without alpha or tRNS) as 8-bit
// grey (*channels = 1) or RGB (*channels = 3); alpha is dropped, 16-bit samples are
// rounded to 8 bits. *pix is malloc'd (caller frees). Images are limited to 16384 pixels
// a side.
int png_read(const char *path, uint8_t **pix, int *w, int *h, int *channels, Err *e);

// Copies the value of the text chunk (tEXt, zTXt or iTXt, before or after the image
// data) named key into out (NUL-terminated). A missing key or a value that does not fit
// in cap bytes is an error.
int png_read_text(const char *path, const char *key, char *out, int cap, Err *e);
