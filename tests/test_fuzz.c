// test_fuzz.c — the fuzz targets (tests/fuzz) in the test suite, and the regressions they found.
//
// fuzz_smoke_all_targets runs every target built beside run_tests (BUILD/fuzz/NAME) over its
// seed corpus, which holds every crash the fuzzing found (tests/fuzz/corpus/NAME/crash-*),
// plus a few hundred deterministic mutations. The other tests pin each fix's message.
#include "test.h"
#include "engine/checkpoint.h"
#include "engine/data.h"
#include "engine/png_io.h"
#include "tui/cli/args.h"
#include <libgen.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const targets[] = {"args", "checkpoint", "cifar", "classifier", "idx", "json", "plan", "png",
                                      "proposer", "safetensors"};

static const char *build_dir(void) {
  static char dir[4096];
  if (!dir[0]) {
    char self[4096] = {0};
    if (readlink("/proc/self/exe", self, sizeof self - 1) > 0) snprintf(dir, sizeof dir, "%s", dirname(self));
  }
  return dir;
}

TEST(fuzz_smoke_all_targets) {
  if (access("tests/fuzz/corpus", R_OK)) { test_skip("run from the repository root (tests/fuzz/corpus)"); return; }
  for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
    char bin[4200], cmd[9000];
    snprintf(bin, sizeof bin, "%s/fuzz/%s", build_dir(), targets[i]);
    if (access(bin, X_OK)) { test_skip("the fuzz targets are not built beside run_tests (make fuzz-smoke)"); return; }
    snprintf(cmd, sizeof cmd, "FUZZ_CRASH_DIR=%s %s tests/fuzz/corpus/%s 200 >/dev/null 2>%s/fuzz.err", test_tmpdir(),
             bin, targets[i], test_tmpdir());
    int st = system(cmd);
    ASSERTF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fuzz target %s failed (status %d); input in %s/fuzz-crash-%s",
            targets[i], st, test_tmpdir(), targets[i]);
  }
}

// ---- regressions, one per crash or hazard the fuzzing found ----

// A model config whose res blocks overflow the node table aborted ("too many parameters").
TEST(fuzz_regress_checkpoint_too_many_nodes) {
  Backend *be = backend_create("cpu", 1, &(Err){0});
  Err e;
  UNet *m = ckpt_load_model("tests/fuzz/corpus/checkpoint/crash-too-many-nodes.safetensors", be, 1, NULL, &e);
  ASSERT(m == NULL);
  ASSERTF(strstr(e.msg, "invalid model config"), "%s", e.msg);
  be->destroy(be);
}

// A 252-byte file whose config asked for 2.6 G parameters aborted in the allocator.
TEST(fuzz_regress_checkpoint_params_beyond_file) {
  Backend *be = backend_create("cpu", 1, &(Err){0});
  Err e;
  UNet *m = ckpt_load_model("tests/fuzz/corpus/checkpoint/crash-params-beyond-file.safetensors", be, 1, NULL, &e);
  ASSERT(m == NULL);
  ASSERTF(strstr(e.msg, "invalid model config") || strstr(e.msg, "more than the"), "%s", e.msg);
  // numbers beyond int's range in the config are refused, not cast (undefined behaviour)
  m = ckpt_load_model("tests/fuzz/corpus/checkpoint/crash-huge-number.safetensors", be, 1, NULL, &e);
  ASSERT(m == NULL);
  ASSERTF(strstr(e.msg, "invalid model config") || strstr(e.msg, "bad 'mult'"), "%s", e.msg);
  be->destroy(be);
}

// A 69-byte PNG claiming 16384x16384 RGB made png_read allocate 805 MB (an abort where memory is short).
TEST(fuzz_regress_png_dimensions_beyond_file) {
  uint8_t *pix;
  int w, h, c;
  Err e;
  ASSERT(png_read("tests/fuzz/corpus/png/crash-huge-dims.png", &pix, &w, &h, &c, &e) != 0);
  ASSERTF(strstr(e.msg, "cannot fit in a file of 69 bytes"), "%s", e.msg);
}

// A 122-byte PNG whose tEXt chunk claimed 1.8 GB made libpng allocate that much (make fuzz,
// libFuzzer: a 17 s "slow unit" at 2 GB RSS); chunks are now checked against the file's size.
TEST(fuzz_regress_png_chunk_beyond_file) {
  const char *path = "tests/fuzz/corpus/png/crash-huge-chunk.png";
  uint8_t *pix;
  int w, h, c;
  char text[64];
  Err e;
  ASSERT(png_read(path, &pix, &w, &h, &c, &e) != 0);
  ASSERTF(strstr(e.msg, "truncated at byte 122: chunk 'tEXt' at byte 52 claims 1811939347 bytes"), "%s", e.msg);
  ASSERT(png_read_text(path, "seed", text, sizeof text, &e) != 0);
  ASSERTF(strstr(e.msg, "claims 1811939347 bytes"), "%s", e.msg);
}

// A 66-byte pair of gzip'd IDX files promising 4 M images made the loader allocate 16 GiB.
TEST(fuzz_regress_idx_gzip_bomb) {
  FILE *f = fopen("tests/fuzz/corpus/idx/crash-gz-bomb", "rb");
  ASSERT(f);
  uint8_t buf[256];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  size_t L = buf[1] | (size_t)buf[2] << 8;
  char dir[600], path[700];
  snprintf(dir, sizeof dir, "%s/gzbomb", test_tmpdir());
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
  f = fopen(path, "wb");
  fwrite(buf + 3, 1, L, f);
  fclose(f);
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
  f = fopen(path, "wb");
  fwrite(buf + 3 + L, 1, n - 3 - L, f);
  fclose(f);
  Dataset ds;
  Err e;
  ASSERT(data_load_idx(dir, DATA_TEST, &ds, &e) != 0);
  ASSERTF(strstr(e.msg, "more than a gzip file of"), "%s", e.msg);
}

// Numbers on the command line: refused when out of range or negative for an unsigned option,
// never wrapped; nan and inf are not numbers.
TEST(fuzz_regress_cli_numbers) {
  int n = 5;
  uint64_t seed = 7;
  float lr = 1;
  Opt opts[] = {ARG_INT("--n", &n, "N", ""), ARG_U64("--seed", &seed, "N", ""), ARG_FLOAT("--lr", &lr, "X", "")};
  ArgSpec s = {.cmd = "sample", .usage = "", .about = "", ARGS_OPTS(opts)};
  const char *bad[][2] = {{"--n", "99999999999"}, {"--n", "2147483648"}, {"--n", " 5"},   {"--seed", "-5"},
                          {"--seed", " -5"},     {"--seed", "+5"},       {"--seed", "18446744073709551616"},
                          {"--lr", "nan"},       {"--lr", "inf"},        {"--lr", "1e99"}, {"--n", ""}};
  fflush(stderr);
  int saved = dup(2), null = open("/dev/null", O_WRONLY);
  dup2(null, 2);
  int rcs[sizeof bad / sizeof *bad];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) rcs[i] = args_parse(&s, 2, (char **)bad[i]);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(null);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    ASSERTF(rcs[i] == 2, "%s '%s' gave %d, not 2 (bad usage)", bad[i][0], bad[i][1], rcs[i]);
  ASSERT(n == 5 && seed == 7 && lr == 1);
  const char *good[] = {"--n", "2147483647", "--seed", "18446744073709551615", "--lr", "-0.5"};
  ASSERT_EQ_INT(args_parse(&s, 6, (char **)good), ARGS_OK);
  ASSERT(n == 2147483647 && seed == UINT64_MAX && lr == -0.5f);
}
