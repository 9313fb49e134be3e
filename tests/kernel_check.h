// kernel_check.h — fixtures of the CPU kernel tests (test_kernels_cpu.c: the reference by hand,
// finite differences and accumulation; test_kernels_fast.c: the fast kernels against the
// reference): two backends, seeded random buffers freed when the next test starts, and
// comparisons that report the worst entry.
//
// Tolerances, |got - want| <= atol + rtol*|want|:
//   fast vs reference          atol 1e-4, rtol 1e-4 (float sums vs double sums)
//   finite differences         central, in double, of L = sum(y * r) with a fixed random r;
//                              step h = 1e-2 for ops linear in the input (exact up to
//                              rounding), 3e-3 for non-linear ones; atol 2e-3, rtol 1e-2
//   accumulation (2 calls)     atol 1e-6, rtol 1e-6 (x + x is exact; summation order aside)
#pragma once
#include "engine/rng.h"
#include "kernels/backend.h"
#include "test.h"
#include <stdint.h>
#include <string.h>

extern Backend *REF, *FAST;  // the reference, and the fast backend on two threads
extern Rng kernels_rng;
extern float *scratch[256];
extern int nscratch;

void setup(uint64_t seed);                  // backends made once; scratch freed; rng seeded
float *zeros(size_t n);                     // scratch buffers
float *randn(size_t n, float sd);
float *dupf(const float *x, size_t n);  // a scratch copy (not dup: that is libc's)
double dot(const float *a, const float *b, size_t n);

// Reports the worst entry and how many are off; returns 0 when any is.
int expect_close(const char *file, int line, const char *what, const float *got, const float *want, size_t n,
                 double atol, double rtol);
#define EXPECT_CLOSE(what, got, want, n, atol, rtol) \
  do { if (!expect_close(__FILE__, __LINE__, what, got, want, n, atol, rtol)) return; } while (0)
static const double ATOL = 1e-4, RTOL = 1e-4;  // fast vs reference
// One op on the reference, then on the fast backend, compared (n floats, ATOL and RTOL). In
// `call`, `be` is the backend and `out` the op's output: want for the reference, got for the
// fast one. REF_VS_FAST("silu y", y1, y2, n, be->silu_fwd(be, n, x, out));
#define REF_VS_FAST(what, want, got, n, call) \
  do {                                        \
    {                                         \
      Backend *be = REF;                      \
      float *out = (want);                    \
      call;                                   \
    }                                         \
    {                                         \
      Backend *be = FAST;                     \
      float *out = (got);                     \
      call;                                   \
    }                                         \
    EXPECT_CLOSE(what, got, want, n, ATOL, RTOL); \
  } while (0)

// Checks g = dL/dp by central differences of loss(ctx), on every entry of p when there are
// few, else on 96 random ones (the first and last among them).
int grad_check(const char *file, int line, const char *what, double (*loss)(void *), void *ctx, float *p, size_t n,
               const float *g, double h);
#define GRAD_CHECK(what, loss, ctx, p, n, g, h) \
  do { if (!grad_check(__FILE__, __LINE__, what, loss, ctx, p, n, g, h)) return; } while (0)
#define H_LIN 1e-2
#define H_NONLIN 3e-3

// Convolution shapes every path must get right (odd sizes, strides, 1x1, batch 1, column-block
// tails), and the sizes of a convolution's x, w and y.
const ConvDesc *conv_shapes(int *n);
size_t xsize(const ConvDesc *d);
size_t wsize(const ConvDesc *d);
size_t ysize(const ConvDesc *d);
