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
#include "data_common.h"

#define DATA_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

// Loads split (DATA_TRAIN or DATA_TEST) of the data set named by spec into *ds.
// On failure *ds is left empty and e names the file and what is wrong with it.
int data_load(const char *spec, int split, Dataset *ds, Err *e);  // data_free releases it
