// test_safetensors.c — the checkpoint container: round trips, exact bytes, atomic saves,
// and one crafted file for every way a file can be corrupt.
#include "engine/safetensors.h"
#include "tests/test.h"
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

// A fresh directory under the run's scratch directory, and a path inside it.
static const char *scratch(const char *sub) {
  static char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), sub);
  mkdir(dir, 0755);
  return dir;
}
static const char *in(const char *dir, const char *name) {
  static char path[4][600];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
  return path[k];
}

static int write_bytes(const char *path, const void *p, size_t n) {
  FILE *fp = fopen(path, "wb");
  if (!fp) return -1;
  size_t w = fwrite(p, 1, n, fp);
  return fclose(fp) || w != n ? -1 : 0;
}

static unsigned char *read_bytes(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  *n = 0;
  if (!fp) return NULL;
  unsigned char *buf = malloc(1 << 20);
  *n = fread(buf, 1, 1 << 20, fp);
  fclose(fp);
  return buf;
}

// A file as a hand-made header (length field written for it) followed by data bytes.
static int craft(const char *path, const char *header, const void *data, size_t ndata) {
  size_t h = strlen(header);
  unsigned char *buf = malloc(8 + h + ndata);
  for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)h >> (8 * k));
  memcpy(buf + 8, header, h);
  if (ndata) memcpy(buf + 8 + h, data, ndata);
  int rc = write_bytes(path, buf, 8 + h + ndata);
  free(buf);
  return rc;
}

// Names of the files in dir that look like our temporaries, joined; "" when there are none.
static const char *temporaries(const char *dir) {
  static char found[1024];
  found[0] = 0;
  DIR *d = opendir(dir);
  if (!d) return "(cannot open dir)";
  for (struct dirent *de; (de = readdir(d));)
    if (strstr(de->d_name, ".tmp.")) {
      strncat(found, de->d_name, sizeof found - strlen(found) - 2);
      strcat(found, " ");
    }
  closedir(d);
  return found;
}

static int same_bits(const float *a, const float *b, int64_t n) { return n == 0 || !memcmp(a, b, (size_t)n * 4); }

TEST(safetensors_roundtrip) {
  const char *dir = scratch("st_roundtrip");
  uint32_t nan_payload = 0x7fc01234u, neg_nan = 0xffa00001u;  // a quiet and a signalling NaN
  float special[6], denorm = 1e-45f;
  memcpy(&special[0], &nan_payload, 4);
  memcpy(&special[1], &neg_nan, 4);
  special[2] = INFINITY; special[3] = -INFINITY; special[4] = -0.0f; special[5] = denorm;
  float big[2 * 3 * 4];
  for (int i = 0; i < 24; i++) big[i] = (i - 11.5f) * 0.37f + (i == 7 ? FLT_MAX : 0) + (i == 8 ? FLT_MIN : 0);
  float one = 42.5f;
  int64_t s_special[] = {2, 3}, s_big[] = {2, 3, 4}, s_empty[] = {0, 4}, s_8d[] = {1, 1, 1, 1, 1, 1, 1, 2};

  StFile f;
  st_init(&f);
  st_add(&f, "down.0.res.1.conv1.weight", 2, s_special, special);
  st_add(&f, "mid.attn.qkv.bias", 3, s_big, big);
  st_add(&f, "step_scalar", 0, NULL, &one);
  st_add(&f, "empty", 2, s_empty, NULL);
  st_add(&f, "eight.dims", 8, s_8d, special);
  st_add(&f, "zeros", 1, (int64_t[]){3}, NULL);
  st_set_meta(&f, "config", "{\"ch\": [64, 128], \"name\": \"unet\"}");
  st_set_meta(&f, "step", "1");
  st_set_meta(&f, "unicode", "caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x98\x80");
  st_set_meta(&f, "empty", "");
  st_set_meta(&f, "step", "1200");  // replaces
  ASSERT_EQ_INT(f.nmeta, 4);
  Err e = {{0}};
  const char *path = in(dir, "m.safetensors");
  ASSERTF(st_save(path, &f, &e) == 0, "%s", e.msg);

  StFile g;
  ASSERTF(st_load(path, &g, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(g.n, f.n);
  for (int k = 0; k < f.n; k++) {  // same order, names, shapes, bits
    const StTensor *a = &f.t[k], *b = &g.t[k];
    ASSERTF(!strcmp(a->name, b->name), "%s vs %s", a->name, b->name);
    ASSERT_EQ_INT(b->ndim, a->ndim);
    for (int d = 0; d < a->ndim; d++) ASSERT_EQ_INT(b->shape[d], a->shape[d]);
    ASSERT_EQ_INT(st_numel(b), st_numel(a));
    ASSERTF(same_bits(a->data, b->data, st_numel(a)), "data of %s differs", a->name);
  }
  ASSERT(same_bits(st_find(&g, "down.0.res.1.conv1.weight")->data, special, 6));
  ASSERT(st_find(&g, "step_scalar")->data[0] == 42.5f && st_numel(st_find(&g, "step_scalar")) == 1);
  ASSERT(st_find(&g, "zeros")->data[2] == 0.0f);
  ASSERT(st_find(&g, "nope") == NULL);
  ASSERT_EQ_INT(g.nmeta, 4);
  ASSERT(!strcmp(st_meta(&g, "config"), "{\"ch\": [64, 128], \"name\": \"unet\"}"));
  ASSERT(!strcmp(st_meta(&g, "step"), "1200"));
  ASSERT(!strcmp(st_meta(&g, "unicode"), "caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x98\x80"));
  ASSERT(!strcmp(st_meta(&g, "empty"), ""));
  ASSERT(st_meta(&g, "absent") == NULL);
  ASSERT(!strcmp(g.meta_key[0], "config") && !strcmp(g.meta_key[3], "empty"));  // order kept

  // Saving what we loaded gives the same bytes.
  const char *path2 = in(dir, "m2.safetensors");
  ASSERTF(st_save(path2, &g, &e) == 0, "%s", e.msg);
  size_t n1, n2;
  unsigned char *b1 = read_bytes(path, &n1), *b2 = read_bytes(path2, &n2);
  ASSERT(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1));
  free(b1);
  free(b2);
  st_free(&f);
  st_free(&g);
  ASSERT(f.n == 0 && f.t == NULL && f.nmeta == 0);
  ASSERTF(!temporaries(dir)[0], "left behind: %s", temporaries(dir));
}

// Exact bytes of two tiny files, computed by hand.
TEST(safetensors_byte_layout) {
  const char *dir = scratch("st_layout");
  StFile f;
  st_init(&f);
  st_add(&f, "x", 1, (int64_t[]){2}, (float[]){1.0f, -2.0f});
  Err e = {{0}};
  ASSERTF(st_save(in(dir, "a.safetensors"), &f, &e) == 0, "%s", e.msg);
  // 54 bytes of JSON + 2 spaces = 56 = 0x38, so the data starts at byte 64.
  const char *hdr = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
  unsigned char want[72] = {0x38, 0, 0, 0, 0, 0, 0, 0};
  memcpy(want + 8, hdr, 56);
  memcpy(want + 64, (unsigned char[]){0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0}, 8);  // 1.0f, -2.0f
  size_t n;
  unsigned char *got = read_bytes(in(dir, "a.safetensors"), &n);
  ASSERT_EQ_INT(n, 72);
  for (size_t i = 0; i < n; i++) ASSERTF(got[i] == want[i], "byte %zu: 0x%02x, expected 0x%02x", i, got[i], want[i]);
  free(got);

  // With metadata: 79 bytes + 1 space = 80 = 0x50.
  st_set_meta(&f, "k", "v");
  ASSERTF(st_save(in(dir, "b.safetensors"), &f, &e) == 0, "%s", e.msg);
  const char *hdr2 = "{\"__metadata__\":{\"k\":\"v\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} ";
  got = read_bytes(in(dir, "b.safetensors"), &n);
  ASSERT_EQ_INT(n, 8 + 80 + 8);
  ASSERT(got[0] == 0x50 && !memcmp(got + 1, "\0\0\0\0\0\0\0", 7));
  ASSERTF(!memcmp(got + 8, hdr2, 80), "%.80s", (char *)got + 8);
  ASSERT(!memcmp(got + 88, want + 64, 8));
  free(got);

  // No tensors at all: "{}" padded to 8.
  StFile empty;
  st_init(&empty);
  ASSERTF(st_save(in(dir, "c.safetensors"), &empty, &e) == 0, "%s", e.msg);
  got = read_bytes(in(dir, "c.safetensors"), &n);
  ASSERT(n == 16 && got[0] == 8 && !memcmp(got + 8, "{}      ", 8));
  free(got);
  ASSERTF(st_load(in(dir, "c.safetensors"), &empty, &e) == 0, "%s", e.msg);
  ASSERT(empty.n == 0 && empty.nmeta == 0);
  st_free(&f);
}

// A save that fails leaves the old file as it was and no temporary file behind.
TEST(safetensors_atomic_save) {
  const char *dir = scratch("st_atomic");
  const char *path = in(dir, "ckpt.safetensors");
  StFile old, big;
  st_init(&old);
  st_init(&big);
  st_add(&old, "w", 1, (int64_t[]){4}, (float[]){1, 2, 3, 4});
  st_set_meta(&old, "step", "100");
  st_add(&big, "w", 1, (int64_t[]){1 << 16}, NULL);
  st_set_meta(&big, "step", "200");
  Err e = {{0}};
  ASSERTF(st_save(path, &old, &e) == 0, "%s", e.msg);
  size_t n0, n1;
  unsigned char *before = read_bytes(path, &n0);

  // 1. The disk "fills up" halfway: a file-size limit makes write() fail with EFBIG.
  struct rlimit lim, small;
  getrlimit(RLIMIT_FSIZE, &lim);
  small = lim;
  small.rlim_cur = 4096;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  int rc = setrlimit(RLIMIT_FSIZE, &small) == 0 ? st_save(path, &big, &e) : 0;
  setrlimit(RLIMIT_FSIZE, &lim);
  signal(SIGXFSZ, old_handler);
  ASSERTF(rc == -1, "save under a 4 KiB file-size limit succeeded");
  ASSERTF(strstr(e.msg, path) == e.msg && strstr(e.msg, "File too large"), "%s", e.msg);
  unsigned char *after = read_bytes(path, &n1);
  ASSERT(n0 == n1 && !memcmp(before, after, n0));
  free(after);
  ASSERTF(!temporaries(dir)[0], "left behind: %s", temporaries(dir));

  // 2. The target is a directory: rename fails.
  const char *dpath = in(dir, "adir.safetensors");
  mkdir(dpath, 0755);
  ASSERT(st_save(dpath, &old, &e) == -1);
  ASSERTF(strstr(e.msg, "adir.safetensors: cannot replace the file: Is a directory"), "%s", e.msg);
  struct stat sb;
  ASSERT(stat(dpath, &sb) == 0 && S_ISDIR(sb.st_mode));
  ASSERTF(!temporaries(dir)[0], "left behind: %s", temporaries(dir));

  // 3. The directory does not exist / is not writable: the temporary cannot be made.
  ASSERT(st_save(in(dir, "no/such/dir.safetensors"), &old, &e) == -1);
  ASSERTF(strstr(e.msg, "cannot create temporary file: No such file or directory"), "%s", e.msg);
  if (geteuid() != 0) {  // root writes anywhere
    chmod(dir, 0555);
    rc = st_save(path, &big, &e);
    chmod(dir, 0755);
    ASSERT(rc == -1 && strstr(e.msg, "Permission denied"));
  }

  // 4. Invalid contents are refused before anything is written.
  st_add(&big, "w", 0, NULL, NULL);
  ASSERT(st_save(path, &big, &e) == -1);
  ASSERTF(strstr(e.msg, "two tensors are named \"w\""), "%s", e.msg);
  after = read_bytes(path, &n1);
  ASSERT(n0 == n1 && !memcmp(before, after, n0));
  free(after);
  free(before);
  ASSERTF(!temporaries(dir)[0], "left behind: %s", temporaries(dir));

  // And a good save replaces the file.
  StFile g;
  ASSERT(st_save(path, &old, &e) == 0 && st_load(path, &g, &e) == 0 && !strcmp(st_meta(&g, "step"), "100"));
  st_free(&g);
  st_free(&old);
  st_free(&big);
}

// Each way a file can be broken, crafted byte by byte, with the message it must produce.
TEST(safetensors_corrupt_files) {
  const char *dir = scratch("st_corrupt");
  const char *path = in(dir, "m.safetensors");
  static const unsigned char data[64];  // zeros
  struct { const char *header; size_t ndata; const char *msg; } cases[] = {
    {"{\"x\": ", 0, "m.safetensors: header: json: unexpected end of input at byte 6"},
    {"{\"x\" 1}", 0, "m.safetensors: header: json: unexpected '1' at byte 5"},
    {"[1, 2]  ", 0, "m.safetensors: header is a JSON array, not an object"},
    {"\"str\"", 0, "m.safetensors: header is a JSON string, not an object"},
    {"  {}", 0, "m.safetensors: header must start with '{'"},
    {"{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
     "m.safetensors: tensor \"x\" has dtype I64; stepscope reads F32, F16, BF16 and F64"},
    {"{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "m.safetensors: tensor \"x\": no dtype string"},
    {"{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "m.safetensors: tensor \"x\": no shape array"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
     "m.safetensors: tensor \"x\": shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8"},
    {"{\"x\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8,
     "m.safetensors: tensor \"x\": shape [2, 3] of F16 needs 12 bytes but data_offsets [0, 8] hold 8"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
     "m.safetensors: tensor \"x\": shape [4294967296, 4294967296] of F32 needs more than 2^62 bytes"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
     "m.safetensors: tensor \"x\": shape[0] is not a non-negative integer"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1,-1],\"data_offsets\":[0,4]}}", 4,
     "m.safetensors: tensor \"x\": shape[1] is not a non-negative integer"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
     "m.safetensors: tensor \"x\": shape[0] is not a non-negative integer"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     "m.safetensors: tensor \"x\": shape has 9 dimensions (at most 8)"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
     "m.safetensors: tensor \"x\": data_offsets [0, 16] lie outside the data section [0, 8]"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
     "m.safetensors: tensor \"x\": data_offsets [8, 4] lie outside the data section [0, 8]"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
     "m.safetensors: tensor \"x\": data_offsets is not [begin, end] of non-negative integers"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
     "m.safetensors: tensor \"x\": data_offsets is not [begin, end] of non-negative integers"},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0-4\"}}", 4,
     "m.safetensors: tensor \"x\": data_offsets is not [begin, end] of non-negative integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
     "m.safetensors: tensors \"a\" and \"b\" overlap (bytes [0, 8) and [4, 12))"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
     "m.safetensors: tensor \"b\" starts at data byte 8, leaving a gap after byte 4"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
     "m.safetensors: tensor \"a\" starts at data byte 4, leaving a gap after byte 0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
     "m.safetensors: data section is 8 bytes but the tensors cover 4"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
     "m.safetensors: header: json: duplicate key \"a\" at byte 54"},
    {"{\"__metadata__\":{\"step\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
     "m.safetensors: metadata \"step\" is a number, not a string"},
    {"{\"__metadata__\":{\"ok\":\"1\",\"cfg\":{}}}", 0, "m.safetensors: metadata \"cfg\" is a object, not a string"},
    {"{\"__metadata__\":[\"a\"]}", 0, "m.safetensors: __metadata__ is a array, not an object"},
    {"{\"x\":[\"F32\",[1],[0,4]]}", 4, "m.safetensors: tensor \"x\": entry is a array, not an object"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    ASSERT(craft(path, cases[k].header, data, cases[k].ndata) == 0);
    StFile f;
    Err e = {{0}};
    int rc = st_load(path, &f, &e);
    const char *msg = strrchr(e.msg, '/') ? strrchr(e.msg, '/') + 1 : e.msg;  // drop the scratch dir
    ASSERTF(rc == -1, "accepted: %s", cases[k].header);
    ASSERTF(!strcmp(msg, cases[k].msg), "header %s\n      got:      %s\n      expected: %s", cases[k].header, msg,
            cases[k].msg);
    ASSERT(f.n == 0 && f.t == NULL && f.nmeta == 0);  // nothing to free
  }

  // Damage to the length field and the file itself.
  struct { const unsigned char *bytes; size_t n; const char *msg; } raw[] = {
    {(const unsigned char *)"", 0, "m.safetensors: file is 0 bytes, too short for a safetensors header"},
    {(const unsigned char *)"\x05\0\0\0\0", 5, "m.safetensors: file is 5 bytes, too short for a safetensors header"},
    {(const unsigned char *)"\x3f\x42\x0f\0\0\0\0\0{}      ", 16,
     "m.safetensors: header length 999999 exceeds file size 16"},
    {(const unsigned char *)"\x09\0\0\0\0\0\0\0{}      ", 16, "m.safetensors: header length 9 exceeds file size 16"},
    {(const unsigned char *)"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16,
     "m.safetensors: header length 727905341920923785 is absurd (limit 100000000); not a safetensors file?"},
    {(const unsigned char *)"\x01\xe1\xf5\x05\0\0\0\0{}", 10,
     "m.safetensors: header length 100000001 is absurd (limit 100000000); not a safetensors file?"},
    {(const unsigned char *)"\0\0\0\0\0\0\0\0{}", 10, "m.safetensors: header is empty"},
    {(const unsigned char *)"\x02\0\0\0\0\0\0\0{", 9, "m.safetensors: header length 2 exceeds file size 9"},
  };
  for (size_t k = 0; k < sizeof raw / sizeof *raw; k++) {
    ASSERT(write_bytes(path, raw[k].bytes, raw[k].n) == 0);
    StFile f;
    Err e = {{0}};
    ASSERTF(st_load(path, &f, &e) == -1, "case %zu accepted", k);
    const char *msg = strrchr(e.msg, '/') + 1;
    ASSERTF(!strcmp(msg, raw[k].msg), "case %zu\n      got:      %s\n      expected: %s", k, msg, raw[k].msg);
  }

  StFile f;
  Err e;
  ASSERT(st_load(in(dir, "missing.safetensors"), &f, &e) == -1);
  ASSERTF(strstr(e.msg, "missing.safetensors: No such file or directory"), "%s", e.msg);
  ASSERT(st_load(dir, &f, &e) == -1);
  ASSERTF(strstr(e.msg, "st_corrupt: not a regular file"), "%s", e.msg);
}

// Files other writers make: header order unlike data order, F16/BF16/F64 tensors.
TEST(safetensors_foreign_files) {
  const char *dir = scratch("st_foreign");
  const char *path = in(dir, "f.safetensors");
  unsigned char data[4 + 12 + 4 + 8];
  const uint16_t f16[] = {0x3C00 /* 1 */, 0xC000 /* -2 */, 0x7C00 /* inf */, 0x0001 /* 2^-24 */,
                          0x8000 /* -0 */, 0x3555 /* 0.333251953125 */};
  const uint16_t bf16[] = {0x3F80 /* 1 */, 0xC040 /* -3 */};
  const double f64 = 0.1;
  const float f32 = 2.5f;
  memcpy(data, &f32, 4);
  memcpy(data + 4, f16, 12);
  memcpy(data + 16, bf16, 4);
  memcpy(data + 20, &f64, 8);
  const char *header =
      "{\"half\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[4,16]},"
      "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[20,28]},"
      "\"__metadata__\":{\"format\":\"pt\"},"
      "\"brain\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]},"
      "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
  ASSERT(craft(path, header, data, sizeof data) == 0);
  StFile f;
  Err e = {{0}};
  ASSERTF(st_load(path, &f, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(f.n, 4);
  ASSERT(!strcmp(f.t[0].name, "half") && !strcmp(f.t[3].name, "s"));  // header order
  const float *h = st_find(&f, "half")->data;
  ASSERT(h[0] == 1.0f && h[1] == -2.0f && isinf(h[2]) && h[2] > 0 && h[3] == 0x1p-24f);
  ASSERT(h[4] == 0.0f && signbit(h[4]) && h[5] == 0.333251953125f);
  ASSERT(st_find(&f, "brain")->data[0] == 1.0f && st_find(&f, "brain")->data[1] == -3.0f);
  ASSERT(st_find(&f, "d")->data[0] == 0.1f);
  ASSERT(st_find(&f, "s")->data[0] == 2.5f && st_find(&f, "s")->ndim == 0);
  ASSERT(!strcmp(st_meta(&f, "format"), "pt"));
  st_free(&f);

  uint16_t nan16 = 0x7E01;  // F16 NaN stays NaN
  ASSERT(craft(path, "{\"n\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", &nan16, 2) == 0);
  ASSERTF(st_load(path, &f, &e) == 0, "%s", e.msg);
  ASSERT(isnan(f.t[0].data[0]));
  st_free(&f);
}

// Every truncation of a good file, and a corrupted byte anywhere in its header, fails
// cleanly (run under -fsanitize=address to see that nothing is read out of bounds).
TEST(safetensors_truncations_and_mutations) {
  const char *dir = scratch("st_trunc");
  const char *good = in(dir, "good.safetensors"), *bad = in(dir, "bad.safetensors");
  StFile f;
  st_init(&f);
  st_add(&f, "a", 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
  st_add(&f, "b", 1, (int64_t[]){3}, (float[]){5, 6, 7});
  st_set_meta(&f, "step", "7");
  Err e = {{0}};
  ASSERTF(st_save(good, &f, &e) == 0, "%s", e.msg);
  st_free(&f);
  size_t n;
  unsigned char *bytes = read_bytes(good, &n);
  for (size_t len = 0; len < n; len++) {
    ASSERT(write_bytes(bad, bytes, len) == 0);
    ASSERTF(st_load(bad, &f, &e) == -1, "accepted a file cut to %zu of %zu bytes", len, n);
    ASSERTF(strstr(e.msg, "bad.safetensors: "), "%s", e.msg);
  }
  const unsigned char subst[] = {'0', '9', '"', '{', '}', ',', ' ', 0xFF, 0x00};
  size_t hlen = bytes[0];
  for (size_t at = 0; at < 8 + hlen; at++)
    for (size_t k = 0; k < sizeof subst; k++) {
      unsigned char keep = bytes[at];
      bytes[at] = subst[k];
      ASSERT(write_bytes(bad, bytes, n) == 0);
      bytes[at] = keep;
      if (st_load(bad, &f, &e) == 0) st_free(&f);
      else ASSERTF(strstr(e.msg, "bad.safetensors: "), "%s", e.msg);
    }
  free(bytes);
}
