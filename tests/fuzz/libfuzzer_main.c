// libfuzzer_main.c — a fuzz target (fuzz.h) as a libFuzzer target (make fuzz, clang).
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) { return fuzz_one(data, n); }
