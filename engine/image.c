#include "image.h"
#include "common.h"
#include <math.h>
#include <string.h>

void image_grid(const float *x, int n, int c, int h, int w, int cols, int pad,
                uint8_t **out, int *gw, int *gh) {
  *out = NULL, *gw = *gh = 0;
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return;
  if (cols <= 0) cols = (int)ceil(sqrt((double)n));
  if (cols > n) cols = n;
  if (pad < 0) pad = 0;
  int rows = (n + cols - 1) / cols;
  int W = cols * w + (cols - 1) * pad, H = rows * h + (rows - 1) * pad;
  uint8_t *g = xmalloc((size_t)W * H * c);
  memset(g, IMAGE_GRID_PAD_VALUE, (size_t)W * H * c);
  for (int i = 0; i < n; i++) {
    const float *img = x + (size_t)i * c * h * w;        // planar (c,h,w)
    int x0 = (i % cols) * (w + pad), y0 = (i / cols) * (h + pad);
    for (int y = 0; y < h; y++) {
      uint8_t *dst = g + ((size_t)(y0 + y) * W + x0) * c;  // interleaved
      for (int xx = 0; xx < w; xx++)
        for (int k = 0; k < c; k++) dst[xx * c + k] = image_byte(img[((size_t)k * h + y) * w + xx]);
    }
  }
  *out = g, *gw = W, *gh = H;
}
