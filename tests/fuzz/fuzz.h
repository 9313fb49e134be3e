// fuzz.h — what the fuzz targets (tests/fuzz/fuzz_*.c) share.
//
// A target defines   int fuzz_one(const uint8_t *data, size_t n);   which must return 0 and
// must neither crash, leak, hang nor trip a sanitizer for any input. It is built two ways:
//   make fuzz-smoke   with smoke_main.c: the seed corpus tests/fuzz/corpus/<name>/ plus a
//                     fixed count of deterministic mutations (any C compiler)
//   make fuzz         with libfuzzer_main.c: a clang libFuzzer target (coverage-guided)
// The parsers read files, so a target writes its input to a scratch folder first.
#pragma once
#include <stddef.h>
#include <stdint.h>

int fuzz_one(const uint8_t *data, size_t n);
// Optional: writes seed inputs into dir (`fuzz_<name> --make-seeds DIR`); targets whose seeds
// are easier to make in C than by hand define it.
int fuzz_make_seeds(const char *dir) __attribute__((weak));

// The scratch folder of this process (made on first use, removed at exit).
const char *fuzz_dir(void);
// Writes data to fuzz_dir()/name (name may hold one sub-folder, made as needed); returns the
// path (a static buffer, one per call of the last 4).
const char *fuzz_file(const char *name, const void *data, size_t n);
