// test_data.c — the real Fashion-MNIST, and crafted IDX, CIFAR-10 and PNG-folder data sets,
// good and bad, written into the scratch directory.
#include "test.h"
#include "engine/data.h"
#include "engine/png_io.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#define FMNIST DATA_FASHION_MNIST_DIR

// A fresh directory under the scratch directory.
static const char *scratch(const char *name) {
  static char dir[4][512];
  static int next;
  char *d = dir[next++ % 4];
  snprintf(d, 512, "%s/%s", test_tmpdir(), name);
  mkdir(d, 0755);
  return d;
}

static int put_file(const char *dir, const char *name, const void *b, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t put = fwrite(b, 1, n, f);
  return fclose(f) == 0 && put == n ? 0 : -1;
}

static int has(const Err *e, const char *a, const char *b) { return strstr(e->msg, a) && (!b || strstr(e->msg, b)); }

// ---- the real thing ----

static int fmnist_installed(void) {
  struct stat st;
  return stat(FMNIST "/train-images-idx3-ubyte.gz", &st) == 0;
}

// Reads n bytes at offset off of a gzip'd file, straight through zlib.
static int gz_bytes(const char *path, long off, uint8_t *buf, int n) {
  gzFile f = gzopen(path, "rb");
  if (!f) return -1;
  int ok = gzseek(f, off, SEEK_SET) == off && gzread(f, buf, n) == n;
  gzclose(f);
  return ok ? 0 : -1;
}

static void check_fmnist(int split, int n) {
  if (!fmnist_installed()) { test_skip("dataset-fashion-mnist is not installed"); return; }
  Dataset ds;
  Err e = {0};
  ASSERTF(data_load("fashion-mnist", split, &ds, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(ds.n, n);
  ASSERT_EQ_INT(ds.c, 1);
  ASSERT_EQ_INT(ds.h, 32);
  ASSERT_EQ_INT(ds.w, 32);
  ASSERT(!strcmp(ds.name, "fashion-mnist"));
  ASSERT(ds.labels != NULL);
  long bad_range = 0, bad_border = 0, count[10] = {0}, bad_label = 0;
  for (long i = 0; i < (long)n * 32 * 32; i++) {
    float v = ds.x[i];
    int y = i / 32 % 32, x = i % 32;
    bad_range += !(v >= -1.0f && v <= 1.0f);
    bad_border += (y < 2 || y >= 30 || x < 2 || x >= 30) && v != -1.0f;  // 28x28 centred in 32x32
  }
  for (int i = 0; i < n; i++) ds.labels[i] < 10 ? count[ds.labels[i]]++ : bad_label++;
  // The first image and label, byte for byte from the files.
  const char *pre = split ? "t10k" : "train";
  char path[256];
  uint8_t label, pix[28 * 28];
  snprintf(path, sizeof path, FMNIST "/%s-labels-idx1-ubyte.gz", pre);
  int got_label = gz_bytes(path, 8, &label, 1);
  snprintf(path, sizeof path, FMNIST "/%s-images-idx3-ubyte.gz", pre);
  int got_pix = gz_bytes(path, 16, pix, sizeof pix);
  float first[32 * 32];
  memcpy(first, ds.x, sizeof first);
  int first_label = ds.labels[0];
  data_free(&ds);
  ASSERT(ds.x == NULL && ds.labels == NULL && ds.n == 0);
  ASSERT_EQ_INT(bad_range, 0);
  ASSERT_EQ_INT(bad_border, 0);
  ASSERT_EQ_INT(bad_label, 0);
  for (int k = 0; k < 10; k++) ASSERT_EQ_INT(count[k], n / 10);  // Fashion-MNIST is balanced
  ASSERT(got_label == 0 && got_pix == 0);
  ASSERT_EQ_INT(first_label, label);
  for (int y = 0; y < 28; y++)
    for (int x = 0; x < 28; x++) ASSERT_NEAR(first[(y + 2) * 32 + x + 2], pix[y * 28 + x] / 127.5 - 1, 1e-6, 0);
}

TEST(data_fashion_mnist_train) { check_fmnist(DATA_TRAIN, 60000); }
TEST(data_fashion_mnist_test) { check_fmnist(DATA_TEST, 10000); }

// ---- crafted IDX files ----

static void be32(uint8_t *b, uint32_t v) { b[0] = v >> 24, b[1] = v >> 16, b[2] = v >> 8, b[3] = (uint8_t)v; }

// An IDX images file of n rows×cols images (pixel i of the file = i*7 mod 256), in buf.
static size_t idx_images(uint8_t *buf, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols) {
  be32(buf, magic), be32(buf + 4, n), be32(buf + 8, rows), be32(buf + 12, cols);
  size_t len = 16 + (size_t)n * rows * cols;
  for (size_t i = 16; i < len; i++) buf[i] = (uint8_t)((i - 16) * 7);
  return len;
}

// An IDX labels file of n labels (label i = i mod 10), in buf.
static size_t idx_labels(uint8_t *buf, uint32_t magic, uint32_t n) {
  be32(buf, magic), be32(buf + 4, n);
  for (uint32_t i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i % 10);
  return 8 + n;
}

static uint8_t img_buf[16 + 3 * 28 * 28 + 64], lab_buf[64];
#define IMAGES "train-images-idx3-ubyte"
#define LABELS "train-labels-idx1-ubyte"

// A good 3-image MNIST-style set in a fresh dir; returns the dir.
static const char *good_idx(const char *name, size_t *img_len, size_t *lab_len) {
  const char *dir = scratch(name);
  *img_len = idx_images(img_buf, 0x803, 3, 28, 28);
  *lab_len = idx_labels(lab_buf, 0x801, 3);
  put_file(dir, IMAGES, img_buf, *img_len);
  put_file(dir, LABELS, lab_buf, *lab_len);
  return dir;
}

// data_load("KIND:DIR", split) must fail, leave no data and say both words (words2: NULL for
// none).
static void expect_load_fail(const char *kind, const char *dir, int split, const char *words, const char *words2) {
  char spec[600];
  snprintf(spec, sizeof spec, "%s:%s", kind, dir);
  Dataset ds;
  Err e = {0};
  ASSERTF(data_load(spec, split, &ds, &e) == -1, "%s loaded", spec);
  ASSERT(ds.x == NULL && ds.labels == NULL && ds.n == 0);
  ASSERTF(has(&e, words, words2), "message '%s' lacks '%s' or '%s'", e.msg, words, words2 ? words2 : "");
}

// The same for a message holding DIR/file and `words`.
static void expect_file_fail(const char *kind, const char *dir, int split, const char *file, const char *words) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  expect_load_fail(kind, dir, split, path, words);
}

TEST(data_idx_small_plain) {
  size_t li, ll;
  const char *dir = good_idx("idx_ok", &li, &ll);
  char spec[600];
  snprintf(spec, sizeof spec, "mnist:%s", dir);
  Dataset ds;
  Err e = {0};
  ASSERTF(data_load(spec, DATA_TRAIN, &ds, &e) == 0, "%s", e.msg);
  ASSERT(!strcmp(ds.name, "mnist"));
  ASSERT(ds.n == 3 && ds.c == 1 && ds.h == 32 && ds.w == 32);
  float got = ds.x[32 * 32 * 2 + (5 + 2) * 32 + 9 + 2], border = ds.x[32 * 32 * 2 + 31];
  int label = ds.labels[2];
  data_free(&ds);
  ASSERT_NEAR(got, (uint8_t)((2 * 784 + 5 * 28 + 9) * 7) / 127.5 - 1, 1e-6, 0);  // image 2, row 5, col 9
  ASSERT_NEAR(border, -1, 0, 0);
  ASSERT_EQ_INT(label, 2);
}

TEST(data_idx_gzip) {
  const char *dir = scratch("idx_gz");
  size_t li = idx_images(img_buf, 0x803, 3, 28, 28), ll = idx_labels(lab_buf, 0x801, 3);
  char path[600];
  snprintf(path, sizeof path, "%s/" IMAGES ".gz", dir);
  gzFile f = gzopen(path, "wb");
  ASSERT(f && gzwrite(f, img_buf, li) == (int)li && gzclose(f) == Z_OK);
  put_file(dir, LABELS, lab_buf, ll);  // plain labels beside gzip'd images
  char spec[600];
  snprintf(spec, sizeof spec, "mnist:%s", dir);
  Dataset ds;
  Err e = {0};
  ASSERTF(data_load(spec, DATA_TRAIN, &ds, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(ds.n, 3);
  data_free(&ds);
  // A gzip stream cut short.
  long n;
  FILE *g = fopen(path, "rb");
  ASSERT(g);
  fseek(g, 0, SEEK_END);
  n = ftell(g);
  rewind(g);
  uint8_t *z = malloc(n);
  ASSERT(fread(z, 1, n, g) == (size_t)n);
  fclose(g);
  put_file(dir, IMAGES ".gz", z, n / 2);
  free(z);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES ".gz", "truncated at byte");
}

TEST(data_idx_truncated) {
  size_t li, ll;
  const char *dir = good_idx("idx_trunc", &li, &ll);
  put_file(dir, IMAGES, img_buf, 900);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "truncated at byte 900 (expected 2368)");
  put_file(dir, IMAGES, img_buf, 10);  // inside the header
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "truncated at byte 10 (expected 16)");
  put_file(dir, IMAGES, img_buf, li);
  put_file(dir, LABELS, lab_buf, ll - 1);
  expect_file_fail("mnist", dir, DATA_TRAIN, LABELS, "truncated at byte 10 (expected 11)");
}

TEST(data_idx_wrong_magic) {
  size_t li, ll;
  const char *dir = good_idx("idx_magic", &li, &ll);
  put_file(dir, IMAGES, lab_buf, ll);  // a label file where the images should be
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "holds IDX labels");
  put_file(dir, IMAGES, img_buf, li);
  put_file(dir, LABELS, img_buf, li);  // and the other way round
  expect_file_fail("mnist", dir, DATA_TRAIN, LABELS, "holds IDX images");
  put_file(dir, LABELS, lab_buf, ll);
  be32(img_buf, 0x00000D03);           // float elements: not ours
  put_file(dir, IMAGES, img_buf, li);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "not an IDX images file (magic 0x00000d03");
}

TEST(data_idx_count_mismatch) {
  size_t li, ll;
  const char *dir = good_idx("idx_count", &li, &ll);
  ll = idx_labels(lab_buf, 0x801, 2);
  put_file(dir, LABELS, lab_buf, ll);
  expect_file_fail("mnist", dir, DATA_TRAIN, LABELS, "2 labels for the 3 images");
}

TEST(data_idx_trailing_bytes) {
  size_t li, ll;
  const char *dir = good_idx("idx_long", &li, &ll);
  put_file(dir, IMAGES, img_buf, li + 5);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "longer than the 2368 bytes");
}

TEST(data_idx_empty_and_garbage) {
  size_t li, ll;
  const char *dir = good_idx("idx_garbage", &li, &ll);
  put_file(dir, IMAGES, "", 0);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "empty file");
  uint8_t junk[4096];
  for (int i = 0; i < (int)sizeof junk; i++) junk[i] = (uint8_t)(i * 2654435761u >> 11);
  put_file(dir, IMAGES, junk, sizeof junk);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "not an IDX images file");
  // A gzip header followed by junk.
  junk[0] = 0x1f, junk[1] = 0x8b, junk[2] = 8, junk[3] = 0;
  put_file(dir, IMAGES ".gz", junk, sizeof junk);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES ".gz", "");
}

TEST(data_idx_absurd_dims) {
  size_t li, ll;
  const char *dir = good_idx("idx_dims", &li, &ll);
  be32(img_buf + 8, 0xFFFFFFFF);  // rows
  put_file(dir, IMAGES, img_buf, li);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "absurd image size");
  be32(img_buf + 8, 28);
  be32(img_buf + 4, 0);           // no images
  put_file(dir, IMAGES, img_buf, 16);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "holds no images");
  // Billions of images, and labels to match: found short before anything is allocated.
  be32(img_buf + 4, 0xFFFFFFF0);
  put_file(dir, IMAGES, img_buf, li);
  be32(lab_buf + 4, 0xFFFFFFF0);
  put_file(dir, LABELS, lab_buf, ll);
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "truncated at byte 2368");
}

TEST(data_idx_bad_label) {
  size_t li, ll;
  const char *dir = good_idx("idx_label", &li, &ll);
  lab_buf[8 + 1] = 10;
  put_file(dir, LABELS, lab_buf, ll);
  expect_file_fail("mnist", dir, DATA_TRAIN, LABELS, "label 10 at index 1");
}

TEST(data_missing_and_unknown) {
  const char *dir = scratch("idx_none");
  expect_file_fail("mnist", dir, DATA_TRAIN, IMAGES, "No such file or directory");
  size_t li, ll;
  dir = good_idx("idx_nolabels", &li, &ll);
  char path[600];
  snprintf(path, sizeof path, "%s/" LABELS, dir);
  remove(path);
  expect_file_fail("mnist", dir, DATA_TRAIN, LABELS, "No such file or directory");
  Dataset ds;
  Err e = {0};
  ASSERT(data_load("imagenet", DATA_TRAIN, &ds, &e) == -1);
  ASSERTF(has(&e, "imagenet", "unknown data set"), "%s", e.msg);
  ASSERT(data_load("mnist:", DATA_TRAIN, &ds, &e) == -1);
  ASSERT(data_load("fashion-mnist", 2, &ds, &e) == -1);
}

// ---- CIFAR-10 ----

#define REC 3073

// A batch of n records: label (first + i) % 10, pixel k of record i = (i + k) mod 256.
static int put_cifar(const char *dir, const char *name, int n, int first, size_t extra) {
  size_t len = (size_t)n * REC + extra;
  uint8_t *b = calloc(len, 1);
  for (int i = 0; i < n; i++) {
    b[i * REC] = (uint8_t)((first + i) % 10);
    for (int k = 0; k < 3072; k++) b[i * REC + 1 + k] = (uint8_t)(i + k);
  }
  int rc = put_file(dir, name, b, len);
  free(b);
  return rc;
}

static const char *good_cifar(const char *name) {
  const char *dir = scratch(name);
  char file[32];
  for (int i = 1; i <= 5; i++) {
    snprintf(file, sizeof file, "data_batch_%d.bin", i);
    put_cifar(dir, file, 2, 2 * (i - 1), 0);
  }
  put_cifar(dir, "test_batch.bin", 3, 0, 0);
  return dir;
}

TEST(data_cifar_loads) {
  const char *dir = good_cifar("cifar_ok");
  char spec[600];
  snprintf(spec, sizeof spec, "cifar10:%s", dir);
  Dataset ds;
  Err e = {0};
  ASSERTF(data_load(spec, DATA_TRAIN, &ds, &e) == 0, "%s", e.msg);
  ASSERT(ds.n == 10 && ds.c == 3 && ds.h == 32 && ds.w == 32 && !strcmp(ds.name, "cifar10"));
  int labels_ok = 1;
  for (int i = 0; i < 10; i++) labels_ok &= ds.labels[i] == i;
  // record 1 of data_batch_3 is image 5; its green plane starts at byte 1024
  float g0 = ds.x[5 * 3072 + 1024], b_last = ds.x[5 * 3072 + 3071];
  data_free(&ds);
  ASSERT(labels_ok);
  ASSERT_NEAR(g0, (uint8_t)(1 + 1024) / 127.5 - 1, 1e-6, 0);
  ASSERT_NEAR(b_last, (uint8_t)(1 + 3071) / 127.5 - 1, 1e-6, 0);
  ASSERTF(data_load(spec, DATA_TEST, &ds, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(ds.n, 3);
  data_free(&ds);
  // The parent of cifar-10-batches-bin works too.
  const char *parent = scratch("cifar_parent");
  char sub[600];
  snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", parent);
  ASSERT(rename(dir, sub) == 0);
  snprintf(spec, sizeof spec, "cifar10:%s", parent);
  ASSERTF(data_load(spec, DATA_TEST, &ds, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(ds.n, 3);
  data_free(&ds);
}


TEST(data_cifar_bad_files) {
  const char *dir = good_cifar("cifar_bad");
  put_cifar(dir, "data_batch_3.bin", 2, 0, 5);
  expect_file_fail("cifar10", dir, DATA_TRAIN, "data_batch_3.bin", "size 6151 is not a whole number of 3073-byte");
  put_cifar(dir, "data_batch_3.bin", 0, 0, 0);
  expect_file_fail("cifar10", dir, DATA_TRAIN, "data_batch_3.bin", "empty file");
  put_cifar(dir, "data_batch_3.bin", 2, 0, 0);
  char path[600];
  snprintf(path, sizeof path, "%s/data_batch_5.bin", dir);
  remove(path);
  expect_file_fail("cifar10", dir, DATA_TRAIN, "data_batch_5.bin", "No such file or directory");
  uint8_t rec[REC] = {200};
  put_file(dir, "test_batch.bin", rec, REC);
  expect_file_fail("cifar10", dir, DATA_TEST, "test_batch.bin", "label 200 in record 0");
}

// ---- PNG folders ----

static void put_png(const char *dir, const char *name, int w, int h, int c, uint8_t shade) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  uint8_t *pix = malloc((size_t)w * h * c);
  for (int i = 0; i < w * h * c; i++) pix[i] = (uint8_t)(shade + i);
  Err e;
  if (png_write(path, pix, w, h, c, NULL, &e)) test_fail(__FILE__, __LINE__, "%s", e.msg);
  free(pix);
}

TEST(data_png_folder) {
  const char *dir = scratch("png_ok");
  put_png(dir, "b.png", 4, 3, 3, 100);
  put_png(dir, "a.png", 4, 3, 3, 0);
  put_png(dir, "c.PNG", 4, 3, 3, 200);
  put_file(dir, "notes.txt", "hi", 2);
  char spec[600];
  snprintf(spec, sizeof spec, "png:%s", dir);
  Dataset ds;
  Err e = {0};
  ASSERTF(data_load(spec, DATA_TRAIN, &ds, &e) == 0, "%s", e.msg);
  ASSERT(ds.n == 3 && ds.c == 3 && ds.h == 3 && ds.w == 4 && ds.labels == NULL && !strcmp(ds.name, "png"));
  // name order a, b, c; planar: image 1's green plane starts at float 12 = byte 1 of the file
  float a0 = ds.x[0], b_g0 = ds.x[36 + 12], c_b_last = ds.x[72 + 35];
  data_free(&ds);
  ASSERT_NEAR(a0, 0 / 127.5 - 1, 1e-6, 0);
  ASSERT_NEAR(b_g0, 101 / 127.5 - 1, 1e-6, 0);
  ASSERT_NEAR(c_b_last, (uint8_t)(200 + 35) / 127.5 - 1, 1e-6, 0);
}


TEST(data_png_mismatch_and_corrupt) {
  const char *dir = scratch("png_bad");
  put_png(dir, "a.png", 4, 4, 1, 0);
  put_png(dir, "b.png", 4, 4, 1, 0);
  put_png(dir, "c.png", 5, 4, 1, 0);
  char path[600];
  snprintf(path, sizeof path, "%s/c.png", dir);
  expect_load_fail("png", dir, DATA_TRAIN, path, "5x4 grey, but");
  put_png(dir, "c.png", 4, 4, 3, 0);
  expect_load_fail("png", dir, DATA_TRAIN, path, "4x4 RGB, but");
  put_file(dir, "c.png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDRjunk", 20);
  expect_load_fail("png", dir, DATA_TRAIN, path, "truncated");
  const char *empty = scratch("png_empty");
  expect_load_fail("png", empty, DATA_TRAIN, empty, "no .png files");
  snprintf(path, sizeof path, "%s/nowhere", test_tmpdir());
  expect_load_fail("png", path, DATA_TRAIN, path, "No such file or directory");
}

// Random changes to the headers and cuts of a small IDX set: loaded or refused, never a crash.
TEST(data_idx_mutated_headers_never_crash) {
  size_t li, ll;
  const char *dir = good_idx("idx_fuzz", &li, &ll);
  char spec[600];
  snprintf(spec, sizeof spec, "mnist:%s", dir);
  uint8_t img[sizeof img_buf], lab[sizeof lab_buf];
  memcpy(img, img_buf, li);
  memcpy(lab, lab_buf, ll);
  uint64_t s = 12345;
  for (int round = 0; round < 300; round++) {
    memcpy(img_buf, img, li);
    memcpy(lab_buf, lab, ll);
    s = s * 6364136223846793005u + 1442695040888963407u;
    uint8_t *b = round % 2 ? img_buf : lab_buf;
    b[(s >> 33) % 16 % (round % 2 ? 16 : 8)] ^= (uint8_t)(1 + (s >> 20) % 255);
    size_t cut = round % 3 == 0 ? (s >> 40) % (round % 2 ? li : ll) : 0;
    put_file(dir, IMAGES, img_buf, round % 2 && cut ? cut : li);
    put_file(dir, LABELS, lab_buf, !(round % 2) && cut ? cut : ll);
    Dataset ds;
    Err e = {0};
    if (data_load(spec, DATA_TRAIN, &ds, &e) == 0) data_free(&ds);
    else ASSERTF(strstr(e.msg, dir), "round %d: '%s'", round, e.msg);
  }
}
