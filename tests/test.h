// test.h — a tiny test harness. Each TEST registers itself at load time; the runner
// (tests/runner.c) runs them all, or those whose names contain argv[1].
#pragma once
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {  // tests written in C++ (tests/cuda_emu) register with the same runner
#endif
typedef struct { const char *name; void (*fn)(void); } TestCase;
void test_register(const char *name, void (*fn)(void));
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void test_skip(const char *reason);  // marks the current test skipped (call, then return)
int test_failed(void);               // has the current test failed so far?
const char *test_tmpdir(void);       // a fresh scratch directory for this run
// Runs fn in a child process (no core file; killed by SIGALRM after timeout_s seconds) and
// returns its wait status (-1 when it could not start), with what it wrote to stderr in err.
// For tests of what must end the program: an abort, an exit with a message, a fault.
int test_in_child(void (*fn)(void), int timeout_s, char *err, size_t cap);
#ifdef __cplusplus
}
#endif

#define TEST(fn)                                                        \
  static void fn(void);                                                 \
  __attribute__((constructor)) static void reg_##fn(void) { test_register(#fn, fn); } \
  static void fn(void)

#define ASSERT(c) do { if (!(c)) { test_fail(__FILE__, __LINE__, "%s", #c); return; } } while (0)
#define ASSERTF(c, ...) do { if (!(c)) { test_fail(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
#define ASSERT_EQ_INT(a, b) do { long long a_ = (a), b_ = (b); if (a_ != b_) { \
    test_fail(__FILE__, __LINE__, "%s == %lld, expected %lld", #a, a_, b_); return; } } while (0)
// |a - b| <= atol + rtol*|b|
#define ASSERT_NEAR(a, b, atol, rtol) do { double a_ = (a), b_ = (b); \
    if (!(fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_))) { \
    test_fail(__FILE__, __LINE__, "%s = %.9g, expected %.9g (atol %g, rtol %g)", #a, a_, b_, (double)(atol), (double)(rtol)); return; } } while (0)
