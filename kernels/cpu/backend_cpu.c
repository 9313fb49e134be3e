// backend_cpu.c — the CPU backends: host memory plus the reference or the fast kernels.
#include "cpu.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>

double cpu_par_min_macs = 24e6;  // cpu.h: below it, products and convolutions run on one thread

float *cpu_scratch(int slot, size_t n) {
  static _Thread_local float *buf[CPU_NSCR];
  static _Thread_local size_t cap[CPU_NSCR];
  if (n > cap[slot]) {
    free(buf[slot]);
    cap[slot] = n + n / 4;
    buf[slot] = xmalloc(sizeof(float) * cap[slot]);
  }
  return buf[slot];
}

void cpu_pad_rows(const float *plane, int H, int W, int pad, int iy0, int R, float *dst) {
  const int Wp = W + 2 * pad;
  for (int r = 0; r < R; r++, dst += Wp) {
    const int iy = iy0 + r;
    if (iy < 0 || iy >= H) {
      memset(dst, 0, sizeof(float) * Wp);
      continue;
    }
    for (int j = 0; j < pad; j++) dst[j] = dst[pad + W + j] = 0;
    memcpy(dst + pad, plane + (long)iy * W, sizeof(float) * W);
  }
}

// ---- memory: plain host memory, 64-byte aligned (a cache line, an AVX-512 vector) ----

static float *cpu_alloc(Backend *be, size_t n) {
  size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;  // aligned_alloc wants a multiple
  float *p = aligned_alloc(64, bytes ? bytes : 64);
  CHECK(p, "out of memory allocating %zu floats", n);
  memset(p, 0, bytes);
  return p;
}

static void cpu_free(Backend *be, float *p) { free(p); }

static void cpu_memcpy(Backend *be, float *dst, const float *src, size_t n) {
  if (n && dst != src) memcpy(dst, src, n * sizeof(float));
}

static void cpu_fill(Backend *be, float *x, float v, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = v;
}

static void cpu_sync(Backend *be) {}  // every CPU op has finished when it returns

static void cpu_destroy(Backend *be) {
  if (!be) return;
  CpuCtx *ctx = be->ctx;
  for (int i = 0; i < ctx->nlanes; i++) cpu_destroy(ctx->lane[i]);
  free(ctx);
  free(be);
}

static Backend *cpu_new(const char *name, int threads) {
  Backend *be = xcalloc(1, sizeof *be);
  CpuCtx *ctx = xcalloc(1, sizeof *ctx);
  ctx->threads = threads;
  *be = (Backend){
      .name = name, .ctx = ctx, .alloc = cpu_alloc, .free = cpu_free, .upload = cpu_memcpy,
      .download = cpu_memcpy, .copy = cpu_memcpy, .fill = cpu_fill, .sync = cpu_sync,
      .destroy = cpu_destroy,
  };
  cpu_ref_ops(be);
  return be;
}

static Backend *cpu_fast_new(int threads) {
  Backend *be = cpu_new("cpu", threads);
  cpu_fast_ops(be);
  cpu_fast_blas_ops(be);
  return be;
}

// The lanes are made with the backend (a few hundred bytes each) and never change, so that
// threads asking for them at once find them there (cpu_set_direct sets theirs too).
static int cpu_lanes(Backend *be, Backend **lane, int cap) {
  CpuCtx *ctx = be->ctx;
  const int n = cap < ctx->nlanes ? cap : ctx->nlanes;
  for (int i = 0; i < n; i++) lane[i] = ctx->lane[i];
  return n;
}

Backend *backend_cpu_create(int threads) {
  Backend *be = cpu_fast_new(threads > 0 ? threads : omp_get_num_procs());
  CpuCtx *ctx = be->ctx;
  if (ctx->threads >= 2) {
    ctx->nlanes = ctx->threads < CPU_MAX_LANES ? ctx->threads : CPU_MAX_LANES;
    for (int i = 0; i < ctx->nlanes; i++) ctx->lane[i] = cpu_fast_new(1);
    be->lanes = cpu_lanes;
  }
  return be;
}

Backend *backend_cpu_ref_create(void) { return cpu_new("cpu-ref", 1); }
