// fuzz_idx.c — IDX image and label files (engine/data_idx.c), gzip'd or plain.
//
// Input: byte 0 picks the file names (bit 0: the images file is called *.gz, bit 1: the labels
// file), bytes 1-2 (little-endian) the length L of the labels file, then L bytes of labels
// file and the rest is the images file. The bytes are written as they are: a .gz name on
// plain bytes is read as plain data by zlib, as it is by stepscope.
#include "engine/data.h"
#include "tests/fuzz/fuzz.h"
#include <stdio.h>
#include <unistd.h>

int fuzz_one(const uint8_t *data, size_t n) {
  if (n < 3) return 0;
  int mode = data[0];
  size_t L = (size_t)data[1] | (size_t)data[2] << 8;
  if (L > n - 3) L = n - 3;
  const uint8_t *lab = data + 3, *img = lab + L;
  size_t nimg = n - 3 - L;
  char p[600];
  const char *names[] = {"idx/t10k-images-idx3-ubyte", "idx/t10k-images-idx3-ubyte.gz",
                         "idx/t10k-labels-idx1-ubyte", "idx/t10k-labels-idx1-ubyte.gz"};
  for (int k = 0; k < 4; k++) { snprintf(p, sizeof p, "%s/%s", fuzz_dir(), names[k]); unlink(p); }
  fuzz_file(names[mode & 1], img, nimg);
  fuzz_file(names[2 + (mode >> 1 & 1)], lab, L);
  snprintf(p, sizeof p, "%s/idx", fuzz_dir());
  Dataset ds;
  Err e;
  if (data_load_idx(p, DATA_TEST, &ds, &e) == 0) data_free(&ds);
  return 0;
}
