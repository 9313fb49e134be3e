// data_common.h — a data set in memory, and what the loaders of data_load (data.h) share.
#pragma once
#include "common.h"
#include <stdint.h>

typedef struct {
  int n, c, h, w;
  float *x;          // n*c*h*w, planar per image (c,h,w), in [-1,1]
  uint8_t *labels;   // n class indices (0..9), or NULL when the data set has none
  char name[64];     // "fashion-mnist", "mnist", "cifar10" or "png"
} Dataset;

enum { DATA_TRAIN = 0, DATA_TEST = 1 };

void data_free(Dataset *ds);  // frees x and labels and empties *ds

// The loaders data_load (data.c) picks from, one file each (data_idx.c, data_cifar.c,
// data_png.c). They fill n, c, h, w, x and labels; data_load sets the name.
int data_load_idx(const char *dir, int split, Dataset *ds, Err *e);
int data_load_cifar(const char *dir, int split, Dataset *ds, Err *e);
int data_load_png(const char *dir, Dataset *ds, Err *e);

// Helpers the loaders share (data_common.c).
int data_path(char *buf, size_t cap, const char *dir, const char *file, Err *e);  // dir/file
int data_alloc(Dataset *ds, long n, int c, int h, int w, int with_labels, const char *what, Err *e);
