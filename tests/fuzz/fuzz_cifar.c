// fuzz_cifar.c — CIFAR-10 binary batches (engine/data_cifar.c): the input is test_batch.bin.
#include "engine/data.h"
#include "tests/fuzz/fuzz.h"
#include <stdio.h>

int fuzz_one(const uint8_t *data, size_t n) {
  fuzz_file("cifar/test_batch.bin", data, n);
  char dir[600];
  snprintf(dir, sizeof dir, "%s/cifar", fuzz_dir());
  Dataset ds;
  Err e;
  if (data_load_cifar(dir, DATA_TEST, &ds, &e) == 0) data_free(&ds);
  return 0;
}
