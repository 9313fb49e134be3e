// fuzz_png.c — PNG files through libpng (engine/png_io.c) and a PNG folder data set
// (engine/data_png.c): the input is the folder's one image; its text chunks are read too.
#include "engine/data.h"
#include "engine/png_io.h"
#include "tests/fuzz/fuzz.h"
#include <stdio.h>
#include <stdlib.h>

int fuzz_one(const uint8_t *data, size_t n) {
  const char *path = fuzz_file("png/0.png", data, n);
  char dir[600], text[64];
  snprintf(dir, sizeof dir, "%s/png", fuzz_dir());
  Dataset ds;
  Err e;
  if (data_load_png(dir, &ds, &e) == 0) data_free(&ds);
  (void)png_read_text(path, "seed", text, sizeof text, &e);
  return 0;
}

// Seeds: grey and RGB images, one with text chunks.
int fuzz_make_seeds(const char *dir) {
  uint8_t pix[8 * 6 * 3];
  for (int i = 0; i < (int)sizeof pix; i++) pix[i] = (uint8_t)(i * 37);
  const char *text[] = {"seed", "42", "model", "m.safetensors", NULL};
  char path[600];
  Err e;
  snprintf(path, sizeof path, "%s/grey.png", dir);
  if (png_write(path, pix, 8, 6, 1, NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
  snprintf(path, sizeof path, "%s/rgb-text.png", dir);
  if (png_write(path, pix, 8, 6, 3, text, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
  return 0;
}
