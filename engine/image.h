// image.h — model tensors to displayable 8-bit pixels.
#pragma once
#include <stdint.h>

// A value in [-1, 1] to a byte: clamped (NaN counts as -1), mapped to 0..255, rounded.
static inline uint8_t image_byte(float v) {
  float u = (v + 1.0f) * 127.5f;
  if (!(u > 0.0f)) return 0;
  if (u >= 255.0f) return 255;
  return (uint8_t)(u + 0.5f);
}

// The shade of the gaps between tiles and of empty cells in the last row.
#define IMAGE_GRID_PAD_VALUE 40

// Lays out n images x (n,c,h,w), values in [-1,1], c = 1 or 3, as a grid of `cols` columns
// (cols <= 0: about square; at most n) and as many rows as needed, with `pad` pixels of dark grey
// between neighbouring tiles (none around the outside). The result is interleaved 8-bit
// pixels with c channels, ready for png_write: *gw = cols*w + (cols-1)*pad, likewise *gh.
// *out is malloc'd (caller frees); n <= 0 gives *out = NULL, *gw = *gh = 0.
void image_grid(const float *x, int n, int c, int h, int w, int cols, int pad,
                uint8_t **out, int *gw, int *gh);
