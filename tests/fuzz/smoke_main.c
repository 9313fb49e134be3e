// smoke_main.c — runs a fuzz target (fuzz.h) without libFuzzer: every file of a seed corpus,
// then a fixed count of deterministic mutations of them (make fuzz-smoke).
//
//   fuzz_NAME CORPUS_DIR [MUTATIONS]   seeds, then MUTATIONS mutants (default 1000)
//   fuzz_NAME FILE...                  just those inputs (a crash reproducer, say)
//   fuzz_NAME --make-seeds DIR         writes the target's generated seeds, where it has any
//
// The mutations are libFuzzer's simplest kinds — bit flips, interesting bytes and integers
// (0, -1, 2^31, 2^63 ... in both byte orders), inserted and deleted runs, duplicated runs,
// splices of two seeds, digits turned into huge or negative numbers — from a fixed seed, so
// a failure reproduces: each input is written to $FUZZ_CRASH_DIR/fuzz-crash-NAME before it runs.
#include "tests/fuzz/fuzz.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_LEN (1 << 20)

typedef struct { uint8_t *p; size_t n; } Buf;

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {  // xorshift64*
  rs ^= rs >> 12, rs ^= rs << 25, rs ^= rs >> 27;
  return rs * 0x2545F4914F6CDD1Dull;
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static int read_file(const char *path, Buf *b) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  b->p = malloc(MAX_LEN);
  b->n = fread(b->p, 1, MAX_LEN, f);
  fclose(f);
  return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *name;  // the target, for messages

// Where the input being run is kept, so that a crash leaves its reproducer: $FUZZ_CRASH_DIR
// (default .)/fuzz-crash-NAME.
static void crash_path(char *path, size_t cap) {
  const char *d = getenv("FUZZ_CRASH_DIR");
  snprintf(path, cap, "%s/fuzz-crash-%s", d && *d ? d : ".", name);
}

// Runs one input; first saves it, so that a crash leaves its reproducer behind.
static void run_one(const uint8_t *p, size_t n, int save) {
  if (save) {
    char path[600];
    crash_path(path, sizeof path);
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(p, 1, n, f); fclose(f); }
  }
  uint8_t *copy = malloc(n ? n : 1);  // exactly n bytes: ASan sees any read past the end
  memcpy(copy, p, n);
  fuzz_one(copy, n);
  free(copy);
}

static void insert(Buf *b, size_t at, const void *src, size_t k) {
  if (b->n + k > MAX_LEN) return;
  memmove(b->p + at + k, b->p + at, b->n - at);
  memcpy(b->p + at, src, k);
  b->n += k;
}

static void mutate(Buf *b, const Buf *seeds, int nseeds) {
  static const uint64_t interesting[] = {0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000u,
                                         0xFFFFFFFFu, 0x100000000ull, 0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull,
                                         0xFFFFFFFFFFFFFFFFull, 1000, 4096, 65536};
  static const char *numbers[] = {"0", "-1", "99999999999", "-5", "1e308", "1e999", "-0", "4294967296",
                                  "9223372036854775808", "nan", "inf", "2147483648", "0.0000001", "1e-320"};
  int steps = 1 + (int)below(4);
  for (int s = 0; s < steps; s++) {
    size_t at = below(b->n + 1);
    switch (below(9)) {
      case 0: if (b->n) b->p[below(b->n)] ^= (uint8_t)(1u << below(8)); break;
      case 1: if (b->n) b->p[below(b->n)] = (uint8_t)rnd(); break;
      case 2: {  // an interesting integer of 1, 2, 4 or 8 bytes, either byte order
        uint64_t v = interesting[below(sizeof interesting / sizeof *interesting)];
        size_t w = (size_t)1 << below(4);
        uint8_t le[8];
        int big = (int)below(2);
        for (size_t k = 0; k < w; k++) le[big ? w - 1 - k : k] = (uint8_t)(v >> (8 * k));
        if (at + w <= b->n) memcpy(b->p + at, le, w);
        break;
      }
      case 3: {  // delete a run
        size_t k = 1 + below(b->n > 64 ? 64 : b->n + 1);
        if (at + k <= b->n) { memmove(b->p + at, b->p + at + k, b->n - at - k); b->n -= k; }
        break;
      }
      case 4: {  // insert random bytes
        uint8_t r[16];
        size_t k = 1 + below(16);
        for (size_t i = 0; i < k; i++) r[i] = (uint8_t)rnd();
        insert(b, at, r, k);
        break;
      }
      case 5: {  // duplicate a run
        if (!b->n) break;
        size_t from = below(b->n), k = 1 + below(b->n - from < 256 ? b->n - from : 256);
        uint8_t tmp[256];
        memcpy(tmp, b->p + from, k);
        insert(b, at, tmp, k);
        break;
      }
      case 6: {  // splice: the tail of another seed
        const Buf *o = &seeds[below((size_t)nseeds)];
        size_t from = below(o->n + 1), k = o->n - from;
        if (at + k <= MAX_LEN) { memcpy(b->p + at, o->p + from, k); b->n = at + k; }
        break;
      }
      case 7: {  // a digit run becomes a huge, negative or odd number
        size_t i = at;
        while (i < b->n && !(b->p[i] >= '0' && b->p[i] <= '9')) i++;
        if (i >= b->n) break;
        size_t j = i;
        while (j < b->n && b->p[j] >= '0' && b->p[j] <= '9') j++;
        const char *num = numbers[below(sizeof numbers / sizeof *numbers)];
        memmove(b->p + i, b->p + j, b->n - j);
        b->n -= j - i;
        insert(b, i, num, strlen(num));
        break;
      }
      case 8: b->n = below(b->n + 1); break;  // truncate
    }
  }
}

int main(int argc, char **argv) {
  const char *slash = strrchr(argv[0], '/');
  name = slash ? slash + 1 : argv[0];
  if (argc == 3 && !strcmp(argv[1], "--make-seeds")) {
    if (!fuzz_make_seeds) { fprintf(stderr, "%s: makes no seeds\n", name); return 2; }
    return fuzz_make_seeds(argv[2]) ? 1 : 0;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS] | FILE... | --make-seeds DIR\n", name);
    return 2;
  }
  struct stat st;
  if (stat(argv[1], &st) == 0 && !S_ISDIR(st.st_mode)) {  // reproducers
    for (int i = 1; i < argc; i++) {
      Buf b;
      if (read_file(argv[i], &b)) { perror(argv[i]); return 2; }
      run_one(b.p, b.n, 0);
      free(b.p);
    }
    printf("%s: %d inputs ran\n", name, argc - 1);
    return 0;
  }
  long mutations = argc > 2 ? atol(argv[2]) : 1000;
  DIR *d = opendir(argv[1]);
  if (!d) { perror(argv[1]); return 2; }
  char **files = NULL;
  int nf = 0;
  for (struct dirent *ent; (ent = readdir(d));) {
    if (ent->d_name[0] == '.') continue;
    files = realloc(files, sizeof *files * (size_t)(nf + 1));
    files[nf++] = strdup(ent->d_name);
  }
  closedir(d);
  if (!nf) { fprintf(stderr, "%s: %s: no seeds\n", name, argv[1]); return 2; }
  qsort(files, (size_t)nf, sizeof *files, by_name);
  Buf *seeds = calloc((size_t)nf, sizeof *seeds);
  for (int i = 0; i < nf; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], files[i]);
    if (read_file(path, &seeds[i])) { perror(path); return 2; }
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < nf; i++) run_one(seeds[i].p, seeds[i].n, 1);
  Buf m = {malloc(MAX_LEN), 0};
  for (long k = 0; k < mutations; k++) {
    const Buf *s = &seeds[k % nf];
    memcpy(m.p, s->p, s->n);
    m.n = s->n;
    mutate(&m, seeds, nf);
    run_one(m.p, m.n, 1);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  char path[600];
  crash_path(path, sizeof path);
  remove(path);  // nothing crashed
  printf("%-24s %4d seeds + %6ld mutants ran in %6.2f s\n", name, nf, mutations,
         (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
  for (int i = 0; i < nf; i++) { free(seeds[i].p); free(files[i]); }
  free(seeds);
  free(files);
  free(m.p);
  return 0;
}
