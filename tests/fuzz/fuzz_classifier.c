// fuzz_classifier.c — the FID-FMNIST feature network's loader (engine/classifier.c) on a
// safetensors file: format and config metadata (JSON in a string), tensor names and shapes
// against the network the config describes.
#include "engine/classifier.h"
#include "tests/fuzz/fuzz.h"
#include <stdio.h>

static Backend *be;

int fuzz_one(const uint8_t *data, size_t n) {
  if (!be) be = backend_create("cpu", 1, &(Err){0});
  const char *path = fuzz_file("in.safetensors", data, n);
  Err e;
  Classifier *m = classifier_load(path, be, &e);
  if (m) {
    char hash[17];
    classifier_hash(m, hash);
    classifier_free(m);
  }
  return 0;
}

// Seeds: a very small network (widths 4, 6, 8 on 8×8 images, 3 classes).
int fuzz_make_seeds(const char *dir) {
  if (!be) be = backend_create("cpu", 1, &(Err){0});
  ClassifierConfig c = {.in_ch = 1, .img = 8, .width = {4, 6, 8}, .groups = 2, .nclass = 3};
  Err e;
  Classifier *m = classifier_create(&c, be, &e);
  if (!m) { fprintf(stderr, "%s\n", e.msg); return -1; }
  classifier_init_params(m, 1);
  char path[600];
  snprintf(path, sizeof path, "%s/tiny-classifier.safetensors", dir);
  if (classifier_save(path, m, NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return -1; }
  classifier_free(m);
  return 0;
}
