// cpu.h — private to the CPU backend: its context and the functions that fill the vtable.
//
// The CPU backend is layered: backend_cpu.c fills the memory ops, ref.c every compute op
// with a plain loop, and fast.c / fast_blas.c then overwrite the compute ops with the
// OpenMP / OpenBLAS versions ("cpu"). "cpu-ref" stops after ref.c.
#pragma once
#include "../backend.h"

enum { CPU_MAX_LANES = 64 };
typedef struct {
  int threads;    // OpenMP threads for the fast kernels (>= 1)
  int no_direct;  // 1: convolutions keep to im2col + product (tests compare both paths)
  Backend *lane[CPU_MAX_LANES];  // "cpu" with threads >= 2: one-thread twins (backend.h, lanes)
  int nlanes;
} CpuCtx;

static inline int cpu_threads(const Backend *be) { return ((const CpuCtx *)be->ctx)->threads; }
static inline int cpu_direct(const Backend *be) { return !((const CpuCtx *)be->ctx)->no_direct; }
static inline void cpu_set_direct(Backend *be, int on) {  // the backend's and its lanes'
  CpuCtx *ctx = be->ctx;
  ctx->no_direct = !on;
  for (int i = 0; i < ctx->nlanes; i++) ((CpuCtx *)ctx->lane[i]->ctx)->no_direct = !on;
}

// Threads for an op of `macs` multiply-adds (a convolution, a product): all nt when the work
// pays for a parallel region, else 1, and then no region opens at all. What a region costs is
// more than its fork and join: after each one libgomp's idle threads spin for milliseconds
// (GOMP_SPINCOUNT), and on this 2-core machine that spinning slowed a sampler at batch 1, whose
// ~150 ops per step are all small, from 2.5 ms per step on one thread to 13 ms on two. With no
// region in a batch-1 step the second thread stays asleep. 24 M multiply-adds are about 0.3 ms
// of one core: every convolution of the default model at batch 1 is below it, every 3x3 one at
// batch 16 above. The elementwise ops have their own threshold in floats (fast.c, PAR_MIN).
// Tests set it to 0 to run every product and convolution on all threads.
extern double cpu_par_min_macs;  // default 24e6 (backend_cpu.c)
static inline int cpu_threads_for(int nt, double macs) { return macs >= cpu_par_min_macs ? nt : 1; }
static inline double conv_macs(const ConvDesc *d) {
  return (double)d->B * d->Ho * d->Wo * d->Cout * d->Cin * d->K * d->K;
}

// Scratch memory per thread and purpose (backend_cpu.c), kept from call to call and grown as
// needed (a few hundred KB each): a fresh malloc of that size per call is an mmap, page faults
// while it is first written, and an munmap — ~10 % of a forward at batch 16 when im2col's
// columns came from it. Never freed (the threads of OpenMP's pool live as long as the process).
// Contents are not kept: each caller writes before it reads.
enum { CPU_SCR_COL, CPU_SCR_DWT, CPU_SCR_DYT, CPU_SCR_PART, CPU_SCR_XP, CPU_SCR_PACK, CPU_SCR_GN, CPU_SCR_BT, CPU_NSCR };
float *cpu_scratch(int slot, size_t n);

// Rows [iy0, iy0 + R) of an H x W plane into dst, each zero-padded to W + 2 pad columns; rows
// outside the plane are zeros (backend_cpu.c): the padded input blocks of backward-filter.
void cpu_pad_rows(const float *plane, int H, int W, int pad, int iy0, int R, float *dst);

void cpu_ref_ops(Backend *be);        // every compute op, reference loops
void cpu_fast_ops(Backend *be);       // elementwise, norm, softmax, optimiser (OpenMP)
void cpu_fast_blas_ops(Backend *be);  // gemm and convolution (OpenBLAS sgemm + OpenMP)

// C (M, n; row stride ldc) = A (M, K) . B (K, n; row stride ldb), plus C's own values with acc,
// one thread, without packing
// either operand (gemm_panel.c): for a convolution's column block. A's element (m, k) is
// A[m * rs + k * cs]: rs = K, cs = 1 for a row-major A; rs = 1, cs = M for the transpose of a
// row-major (K, M) one. Returns 0, doing nothing, where the build lacks AVX-512 (OpenBLAS is
// then the one to call).
int gemm_panel(int M, int n, int K, const float *A, long rs, long cs, const float *B, int ldb, float *C, int ldc,
               int acc);
int gemm_panel_available(void);  // whether gemm_panel runs in this build

// Same-size convolutions (stride 1, 2*pad = K-1) read straight from the activation, no im2col
// (conv_direct.c, AVX-512): y = conv(x, w) + bias, and dx += the convolution's adjoint of dy.
// Each runs on nt OpenMP threads and returns 0, doing nothing, where it does not apply (another
// shape, or a build without AVX-512).
int conv_direct_ok(const ConvDesc *d);
int conv_direct_fwd(const ConvDesc *d, const float *x, const float *w, const float *bias, float *y, int nt);
int conv_direct_bwd_data(const ConvDesc *d, const float *dy, const float *w, float *dx, int nt);
// Backward-filter of a same-size 3x3 convolution (conv_direct_ok, W a multiple of 4) over
// nimg consecutive samples from x and dy, all nine taps of an input channel in one register
// block (conv_dw_taps.c): dwQ (Cin*9, Cout, 4) += their products, each weight's four partial
// sums (one per pixel of a quad) to be added by the caller. xp and dyQ are scratch of
// conv_dw_quads_xp_size and conv_dw_quads_dyq_size floats; conv_dw_quads_imgs is the nimg that
// suits the image size. conv_dw_quads_ok is 0 for other shapes and without AVX-512.
int conv_dw_quads_ok(const ConvDesc *d);
int conv_dw_quads_imgs(const ConvDesc *d);
size_t conv_dw_quads_xp_size(const ConvDesc *d);
size_t conv_dw_quads_dyq_size(const ConvDesc *d);
void conv_dw_quads(const ConvDesc *d, const float *x, const float *dy, int nimg, float *xp, float *dyQ, float *dwQ);
extern long conv_direct_pack_min;  // weights are packed from this many output pixels per call up
