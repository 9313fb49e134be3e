// test_png.c — PNG round trips, every kind of PNG read as 8-bit grey/RGB, corrupt files,
// text chunks, and the image grid.
#include "test.h"
#include "engine/image.h"
#include "engine/png_io.h"
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static void tmp_path(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", test_tmpdir(), name); }

static int file_exists(const char *path) { struct stat st; return stat(path, &st) == 0; }

static long file_size(const char *path) { struct stat st; return stat(path, &st) ? -1 : (long)st.st_size; }

static int write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t put = fwrite(b, 1, n, f);
  return fclose(f) == 0 && put == n ? 0 : -1;
}

static uint8_t *read_bytes(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  rewind(f);
  uint8_t *b = malloc(*n);
  if (fread(b, 1, *n, f) != (size_t)*n) { free(b); b = NULL; }
  fclose(f);
  return b;
}

// Writes a PNG straight through libpng, in formats png_write never makes: `rows` holds h
// packed rows of rowbytes each. Optional palette/tRNS, interlacing, and a text chunk after
// the image data.
typedef struct {
  int w, h, depth, color, interlace;
  const png_color *palette; int npalette;
  const uint8_t *trans; int ntrans;
  const char *late_key, *late_value;
} Raw;

static int write_raw(const char *path, const Raw *r, const uint8_t *rows, size_t rowbytes) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) { png_destroy_write_struct(&png, &info); fclose(f); return -1; }
  png_init_io(png, f);
  png_set_IHDR(png, info, r->w, r->h, r->depth, r->color, r->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (r->palette) png_set_PLTE(png, info, r->palette, r->npalette);
  if (r->trans) png_set_tRNS(png, info, r->trans, r->ntrans, NULL);
  png_write_info(png, info);
  int passes = png_set_interlace_handling(png);
  for (int p = 0; p < passes; p++)
    for (int y = 0; y < r->h; y++) png_write_row(png, rows + y * rowbytes);
  if (r->late_key) {
    png_text t = {.compression = PNG_TEXT_COMPRESSION_zTXt, .key = (char *)r->late_key, .text = (char *)r->late_value};
    png_set_text(png, info, &t, 1);
  }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return fclose(f);
}

// ---- round trips ----

static void roundtrip(int channels) {
  enum { W = 7, H = 5 };
  uint8_t pix[W * H * 3];
  for (int i = 0; i < W * H * channels; i++) pix[i] = (uint8_t)(i * 37 + 11);
  char path[512];
  tmp_path(path, sizeof path, channels == 1 ? "grey.png" : "rgb.png");
  const char *text[] = {"seed", "1234", "model", "assets/fmnist-base.safetensors", "sampler", "ddim", "steps", "50", NULL};
  Err e = {0};
  ASSERTF(png_write(path, pix, W, H, channels, text, &e) == 0, "%s", e.msg);
  uint8_t *back;
  int w, h, c;
  ASSERTF(png_read(path, &back, &w, &h, &c, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(w, W);
  ASSERT_EQ_INT(h, H);
  ASSERT_EQ_INT(c, channels);
  int same = !memcmp(back, pix, (size_t)W * H * channels);
  free(back);
  ASSERT(same);
  char val[64];
  for (int i = 0; text[i]; i += 2) {
    ASSERTF(png_read_text(path, text[i], val, sizeof val, &e) == 0, "%s", e.msg);
    ASSERTF(!strcmp(val, text[i + 1]), "%s = '%s', expected '%s'", text[i], val, text[i + 1]);
  }
  ASSERT(png_read_text(path, "nope", val, sizeof val, &e) == -1);
  ASSERTF(strstr(e.msg, path) && strstr(e.msg, "nope"), "%s", e.msg);
  ASSERT(png_read_text(path, "model", val, 5, &e) == -1);  // does not fit: an error, not a cut
}

TEST(png_roundtrip_grey) { roundtrip(1); }
TEST(png_roundtrip_rgb) { roundtrip(3); }

TEST(png_write_is_atomic) {
  char path[512], tmp[600];
  tmp_path(path, sizeof path, "atomic.png");
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  uint8_t a[4] = {1, 2, 3, 4}, b[4] = {9, 8, 7, 6};
  Err e = {0};
  ASSERTF(png_write(path, a, 2, 2, 1, NULL, &e) == 0, "%s", e.msg);
  ASSERTF(png_write(path, b, 2, 2, 1, NULL, &e) == 0, "%s", e.msg);  // replaces the file
  ASSERT(!file_exists(tmp));
  uint8_t *back;
  int w, h, c;
  ASSERTF(png_read(path, &back, &w, &h, &c, &e) == 0, "%s", e.msg);
  int same = !memcmp(back, b, 4);
  free(back);
  ASSERT(same);
  // An unwritable place: an error naming the file, and nothing left behind.
  char bad[600];
  snprintf(bad, sizeof bad, "%s/no/such/dir/x.png", test_tmpdir());
  ASSERT(png_write(bad, a, 2, 2, 1, NULL, &e) == -1);
  ASSERTF(strstr(e.msg, bad) && strstr(e.msg, "No such file or directory"), "%s", e.msg);
  ASSERT(png_write(path, a, 0, 2, 1, NULL, &e) == -1);
  ASSERT(png_write(path, a, 2, 2, 2, NULL, &e) == -1);
  const char *badkey[] = {"", "x", NULL};
  ASSERT(png_write(path, a, 2, 2, 1, badkey, &e) == -1);
}

// ---- reading what others write ----

static void expect_read(const char *name, const Raw *r, const uint8_t *rows, size_t rowbytes,
                        int want_c, const uint8_t *want) {
  char path[512];
  tmp_path(path, sizeof path, name);
  ASSERT(write_raw(path, r, rows, rowbytes) == 0);
  uint8_t *pix;
  int w, h, c;
  Err e = {0};
  ASSERTF(png_read(path, &pix, &w, &h, &c, &e) == 0, "%s: %s", name, e.msg);
  ASSERT_EQ_INT(w, r->w);
  ASSERT_EQ_INT(h, r->h);
  ASSERT_EQ_INT(c, want_c);
  for (int i = 0; i < r->w * r->h * want_c; i++)
    if (pix[i] != want[i]) { test_fail(__FILE__, __LINE__, "%s: byte %d = %d, expected %d", name, i, pix[i], want[i]); break; }
  free(pix);
}

TEST(png_read_palette_with_transparency) {
  const png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
  const uint8_t trans[4] = {0, 128, 255, 255};
  Raw r = {.w = 4, .h = 1, .depth = 2, .color = PNG_COLOR_TYPE_PALETTE, .palette = pal, .npalette = 4, .trans = trans, .ntrans = 4};
  const uint8_t row[1] = {0x1B};  // 2-bit indices 0,1,2,3
  const uint8_t want[12] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 30};
  expect_read("palette.png", &r, row, 1, 3, want);
}

TEST(png_read_16bit_rgba) {
  Raw r = {.w = 2, .h = 1, .depth = 16, .color = PNG_COLOR_TYPE_RGB_ALPHA};
  // big-endian 16-bit samples; k*257 scales to exactly k
  const uint16_t s[8] = {0, 65535, 128 * 257, 7, 200 * 257, 1 * 257, 65535, 0};
  uint8_t row[16];
  for (int i = 0; i < 8; i++) row[2 * i] = s[i] >> 8, row[2 * i + 1] = s[i] & 255;
  const uint8_t want[6] = {0, 255, 128, 200, 1, 255};
  expect_read("rgba16.png", &r, row, 16, 3, want);
}

TEST(png_read_grey_alpha_and_low_depth) {
  Raw ga = {.w = 3, .h = 1, .depth = 8, .color = PNG_COLOR_TYPE_GRAY_ALPHA};
  const uint8_t row[6] = {5, 0, 100, 255, 250, 7};
  const uint8_t want[3] = {5, 100, 250};
  expect_read("grey_alpha.png", &ga, row, 6, 1, want);
  if (test_failed()) return;
  Raw bit = {.w = 8, .h = 1, .depth = 1, .color = PNG_COLOR_TYPE_GRAY};
  const uint8_t bits[1] = {0xA5};
  const uint8_t want_bits[8] = {255, 0, 255, 0, 0, 255, 0, 255};
  expect_read("bits.png", &bit, bits, 1, 1, want_bits);
}

TEST(png_read_interlaced) {
  enum { W = 9, H = 7 };
  Raw r = {.w = W, .h = H, .depth = 8, .color = PNG_COLOR_TYPE_RGB, .interlace = PNG_INTERLACE_ADAM7};
  uint8_t rows[W * H * 3];
  for (int i = 0; i < W * H * 3; i++) rows[i] = (uint8_t)(i * 13);
  expect_read("adam7.png", &r, rows, W * 3, 3, rows);
}

TEST(png_text_after_image_data) {
  Raw r = {.w = 2, .h = 2, .depth = 8, .color = PNG_COLOR_TYPE_GRAY, .interlace = PNG_INTERLACE_ADAM7,
           .late_key = "seed", .late_value = "777"};
  const uint8_t rows[4] = {1, 2, 3, 4};
  char path[512], val[16];
  tmp_path(path, sizeof path, "late_text.png");
  ASSERT(write_raw(path, &r, rows, 2) == 0);
  Err e = {0};
  ASSERTF(png_read_text(path, "seed", val, sizeof val, &e) == 0, "%s", e.msg);
  ASSERT(!strcmp(val, "777"));
}

// ---- bad files ----

static void expect_error(const char *path, const char *words) {
  uint8_t *pix = (uint8_t *)"untouched";
  int w, h, c;
  Err e = {0};
  ASSERTF(png_read(path, &pix, &w, &h, &c, &e) == -1, "%s read without error", path);
  ASSERT(pix == NULL);
  ASSERTF(strstr(e.msg, path) && strstr(e.msg, words), "message '%s' lacks the path or '%s'", e.msg, words);
  char val[8];
  ASSERT(png_read_text(path, "seed", val, sizeof val, &e) == -1);
}

TEST(png_corrupt_files) {
  enum { W = 32, H = 32 };
  uint8_t pix[W * H * 3];
  for (int i = 0; i < W * H * 3; i++) pix[i] = (uint8_t)(i * 7 ^ i >> 5);
  char good[512], path[512];
  tmp_path(good, sizeof good, "good.png");
  Err e = {0};
  ASSERTF(png_write(good, pix, W, H, 3, NULL, &e) == 0, "%s", e.msg);
  long n;
  uint8_t *b = read_bytes(good, &n);
  ASSERT(b && n > 100);

  tmp_path(path, sizeof path, "missing.png");
  expect_error(path, "No such file or directory");
  tmp_path(path, sizeof path, "empty.png");
  ASSERT(write_bytes(path, "", 0) == 0);
  expect_error(path, "empty");
  tmp_path(path, sizeof path, "text.png");
  ASSERT(write_bytes(path, "hello, this is not a PNG at all", 31) == 0);
  expect_error(path, "not a PNG");
  tmp_path(path, sizeof path, "cut.png");
  ASSERT(write_bytes(path, b, n / 2) == 0);
  expect_error(path, "truncated at byte");
  tmp_path(path, sizeof path, "sig_only.png");
  ASSERT(write_bytes(path, b, 8) == 0);
  expect_error(path, "truncated at byte 8");
  // Flip bits inside the image data: a CRC or zlib error, not a crash.
  b[n / 2] ^= 0x55, b[n / 2 + 1] ^= 0xAA;
  tmp_path(path, sizeof path, "flipped.png");
  ASSERT(write_bytes(path, b, n) == 0);
  expect_error(path, "corrupt PNG");
  // A header claiming an enormous image.
  free(b);
  b = read_bytes(good, &n);
  b[16] = 0x7f;  // IHDR width's top byte; then a fresh CRC so that libpng reads on
  uint32_t crc = (uint32_t)crc32(0, b + 12, 17);
  b[29] = crc >> 24, b[30] = crc >> 16, b[31] = crc >> 8, b[32] = (uint8_t)crc;
  tmp_path(path, sizeof path, "huge.png");
  ASSERT(write_bytes(path, b, n) == 0);
  expect_error(path, "corrupt PNG");
  // Garbage after a valid signature.
  for (long i = 8; i < n; i++) b[i] = (uint8_t)(i * 2654435761u >> 13);
  tmp_path(path, sizeof path, "garbage.png");
  ASSERT(write_bytes(path, b, n) == 0);
  expect_error(path, "corrupt PNG");
  free(b);
  ASSERT(file_size(good) > 0);
}

// ---- grids ----

TEST(png_image_byte_mapping) {
  ASSERT_EQ_INT(image_byte(-1.0f), 0);
  ASSERT_EQ_INT(image_byte(1.0f), 255);
  ASSERT_EQ_INT(image_byte(0.0f), 128);  // 127.5 rounds up
  ASSERT_EQ_INT(image_byte(-5.0f), 0);
  ASSERT_EQ_INT(image_byte(5.0f), 255);
  ASSERT_EQ_INT(image_byte(NAN), 0);
  ASSERT_EQ_INT(image_byte(-1.0f + 2.0f * 51 / 255), 51);
}

TEST(png_grid_layout) {
  // 5 grey 2x3 tiles, each one flat shade, 3 columns, 1 pixel of padding:
  //   t0 | t1 | t2
  //   ---+----+---
  //   t3 | t4 | (empty)
  enum { N = 5, C = 1, H = 2, W = 3 };
  float x[N * C * H * W];
  for (int i = 0; i < N; i++)
    for (int k = 0; k < H * W; k++) x[i * H * W + k] = -1.0f + 2.0f * (i + 1) * 40 / 255;  // byte 40*(i+1)
  uint8_t *g;
  int gw, gh;
  image_grid(x, N, C, H, W, 3, 1, &g, &gw, &gh);
  ASSERT_EQ_INT(gw, 3 * W + 2);
  ASSERT_EQ_INT(gh, 2 * H + 1);
  for (int y = 0; y < gh; y++)
    for (int xx = 0; xx < gw; xx++) {
      int col = xx / (W + 1), row = y / (H + 1);
      int in_pad = xx % (W + 1) == W || y % (H + 1) == H;
      int tile = row * 3 + col;
      int want = in_pad || tile >= N ? IMAGE_GRID_PAD_VALUE : 40 * (tile + 1);
      if (g[y * gw + xx] != want) {
        test_fail(__FILE__, __LINE__, "grid(%d,%d) = %d, expected %d", xx, y, g[y * gw + xx], want);
        free(g);
        return;
      }
    }
  free(g);
  image_grid(x, 0, C, H, W, 3, 1, &g, &gw, &gh);
  ASSERT(g == NULL && gw == 0 && gh == 0);
}

TEST(png_grid_rgb_is_interleaved) {
  // Two 1x2 RGB images, planar in, interleaved out, no padding.
  const float x[2 * 3 * 2] = {-1, 1, 0, 0, 1, -1,    // image 0: R plane, G plane, B plane
                              1, 1, -1, -1, -1, -1};  // image 1
  uint8_t *g;
  int gw, gh;
  image_grid(x, 2, 3, 1, 2, 0, 0, &g, &gw, &gh);
  ASSERT_EQ_INT(gw, 4);
  ASSERT_EQ_INT(gh, 1);
  const uint8_t want[12] = {0, 128, 255, 255, 128, 0, 255, 0, 0, 255, 0, 0};
  int same = !memcmp(g, want, 12);
  free(g);
  ASSERT(same);
}

// Random bit flips, byte changes and cuts of a valid PNG: each read must return an image or
// an error naming the file, never crash (run under ASan to see the reads stay in bounds).
TEST(png_mutated_files_never_crash) {
  enum { W = 12, H = 9 };
  uint8_t pix[W * H * 3];
  for (int i = 0; i < W * H * 3; i++) pix[i] = (uint8_t)(i * 29);
  char good[512], path[512];
  tmp_path(good, sizeof good, "fuzz_src.png");
  tmp_path(path, sizeof path, "fuzz.png");
  const char *text[] = {"seed", "1", NULL};
  Err e = {0};
  ASSERTF(png_write(good, pix, W, H, 3, text, &e) == 0, "%s", e.msg);
  long n = 0;
  uint8_t *src = read_bytes(good, &n), *b = malloc(n);
  ASSERT(src && b);
  uint64_t s = 0x9E3779B97F4A7C15u;
  int errors = 0;
  for (int round = 0; round < 500; round++) {
    memcpy(b, src, n);
    long len = n;
    for (int k = 0; k < 1 + round % 4; k++) {
      s = s * 6364136223846793005u + 1442695040888963407u;
      long at = (long)(s >> 33) % n;
      if (k == 0 && round % 5 == 4) len = at;            // a cut
      else b[at] ^= (uint8_t)(1 + (s >> 20) % 255);      // a changed byte
    }
    ASSERT(write_bytes(path, b, len) == 0);
    uint8_t *out;
    int w, h, c;
    if (png_read(path, &out, &w, &h, &c, &e) == 0) free(out);
    else if (!strstr(e.msg, path)) { test_fail(__FILE__, __LINE__, "round %d: '%s'", round, e.msg); break; }
    else errors++;
    char val[16];
    png_read_text(path, "seed", val, sizeof val, &e);
  }
  free(src);
  free(b);
  ASSERT(errors > 250);  // nearly every mutation is caught (CRCs)
}
