// data.h — training images, loaded whole into memory as floats in [-1, 1].
//
// Data sets are named by a spec:
//   fashion-mnist        Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
//   fashion-mnist:DIR    the same files in DIR
//   mnist:DIR            MNIST IDX files in DIR: {train,t10k}-{images-idx3,labels-idx1}-ubyte,
//                        each gzip'd (.gz) or not
//   cifar10:DIR          CIFAR-10 binary batches: data_batch_1..5.bin (train),
//                        test_batch.bin (test); DIR may also be their parent folder
//   png:DIR              every *.png in DIR, sorted by name; one size and channel count
//                        for all; no labels; both splits are the whole folder
// IDX images (28×28 for MNIST) are centred on a black 32×32 canvas (pad value -1).
// Pixels p in 0..255 become p/127.5 - 1.
#pragma once
#include "common.h"
#include <stdint.h>

#define DATA_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
  int n, c, h, w;
  float *x;          // n*c*h*w, planar per image (c,h,w), in [-1,1]
  uint8_t *labels;   // n class indices (0..9), or NULL when the data set has none
  char name[64];     // "fashion-mnist", "mnist", "cifar10" or "png"
} Dataset;

enum { DATA_TRAIN = 0, DATA_TEST = 1 };

// Loads split (DATA_TRAIN or DATA_TEST) of the data set named by spec into *ds.
// On failure *ds is left empty and e names the file and what is wrong with it.
int data_load(const char *spec, int split, Dataset *ds, Err *e);
void data_free(Dataset *ds);

// The loaders behind data_load, one file each (data_idx.c, data_cifar.c, data_png.c).
// They fill n, c, h, w, x and labels; data_load sets the name.
int data_load_idx(const char *dir, int split, Dataset *ds, Err *e);
int data_load_cifar(const char *dir, int split, Dataset *ds, Err *e);
int data_load_png(const char *dir, Dataset *ds, Err *e);

// Helpers shared by the loaders.
int data_path(char *buf, size_t cap, const char *dir, const char *file, Err *e);  // dir/file
int data_alloc(Dataset *ds, long n, int c, int h, int w, int with_labels, const char *what, Err *e);
