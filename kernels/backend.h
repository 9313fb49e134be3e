// backend.h — the compute interface: every number the model crunches goes through here.
//
// Tensors are float32, NCHW, row-major, in memory owned by the backend (host memory for the
// CPU backend, device memory for CUDA). Conventions that hold for every op:
//   - forward ops OVERWRITE their output;
//   - backward ops ACCUMULATE (+=) into every gradient they produce (dx, dw, db, ...),
//     so a tensor feeding two branches simply receives both contributions. Callers zero
//     gradient buffers before a backward pass.
//   - pointers may be NULL where noted (e.g. a conv without bias).
// Kernels never know about models: shapes come in as plain integers.
#pragma once
#include <stddef.h>
#include <stdio.h>
#include "base.h"

typedef struct Backend Backend;
typedef struct BackendGraph BackendGraph;  // a recorded sequence of ops (see capture_begin)

// A 2-D convolution, square kernel, same stride/padding in both directions.
// x is (B,Cin,H,W), w is (Cout,Cin,K,K), b is (Cout), y is (B,Cout,Ho,Wo).
typedef struct {
  int B, Cin, H, W;
  int Cout, K, stride, pad;
  int Ho, Wo;  // filled by conv_desc()
} ConvDesc;

static inline ConvDesc conv_desc(int B, int Cin, int H, int W, int Cout, int K, int stride, int pad) {
  ConvDesc d = {B, Cin, H, W, Cout, K, stride, pad, 0, 0};
  d.Ho = (H + 2 * pad - K) / stride + 1;
  d.Wo = (W + 2 * pad - K) / stride + 1;
  return d;
}

// The same convolution (Ho and Wo follow from the rest).
static inline int conv_desc_equal(const ConvDesc *a, const ConvDesc *b) {
  return a->B == b->B && a->Cin == b->Cin && a->H == b->H && a->W == b->W && a->Cout == b->Cout && a->K == b->K &&
         a->stride == b->stride && a->pad == b->pad;
}

// Convolution directions, as conv_algos and the profiler name them.
typedef enum { CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER } ConvDir;

// What a backend chose for one convolution shape and direction (CUDA: cuDNN's algorithm, from
// cudnnFind* when the shape was first planned), beside the fastest one it could have used.
typedef struct {
  ConvDesc d;
  ConvDir dir;
  char chosen[24], fastest[24];  // algorithm names
  float chosen_ms, fastest_ms;   // time per call as Find (or the engine search) measured it;
                                 // < 0: unknown (heuristic pick)
  int fastest_deterministic;     // the fastest gives the same result on every run
} ConvAlgo;

struct Backend {
  const char *name;  // "cpu", "cpu-ref", "cuda"
  void *ctx;         // backend-private state

  // ---- memory (counts are in floats) ----
  float *(*alloc)(Backend *, size_t n);  // zero-initialised
  void (*free)(Backend *, float *p);
  void (*upload)(Backend *, float *dst, const float *host_src, size_t n);
  void (*download)(Backend *, float *host_dst, const float *src, size_t n);
  void (*copy)(Backend *, float *dst, const float *src, size_t n);
  void (*fill)(Backend *, float *x, float v, size_t n);
  void (*sync)(Backend *);  // wait until all queued work is done

  // ---- dense algebra ----
  // For b in [0,batch): C_b = alpha * op(A_b) * op(B_b) + beta * C_b, row-major, where
  // op(A_b) is (M,K) (A_b stored (K,M) when transA), op(B_b) is (K,N) (stored (N,K) when
  // transB), C_b is (M,N); X_b = X + b * strideX. Leading dimensions are the natural ones.
  void (*gemm)(Backend *, int batch, int transA, int transB, int M, int N, int K, float alpha,
               const float *A, long strideA, const float *B, long strideB, float beta, float *C,
               long strideC);

  // ---- convolution ----
  void (*conv2d_fwd)(Backend *, const ConvDesc *, const float *x, const float *w, const float *b,
                     float *y);  // b may be NULL
  void (*conv2d_bwd_data)(Backend *, const ConvDesc *, const float *dy, const float *w, float *dx);
  void (*conv2d_bwd_filter)(Backend *, const ConvDesc *, const float *x, const float *dy, float *dw,
                            float *db);  // db may be NULL

  // ---- normalisation and activations ----
  // GroupNorm over (C/G channels x HW) per sample and group, eps = 1e-5. x,y are (B,C,HW);
  // mean and rstd are (B,G), written by the forward and read by the backward. C must be a
  // multiple of G; gamma and beta are never NULL.
  void (*groupnorm_fwd)(Backend *, int B, int C, int HW, int G, const float *x, const float *gamma,
                        const float *beta, float *y, float *mean, float *rstd);
  void (*groupnorm_bwd)(Backend *, int B, int C, int HW, int G, const float *x, const float *dy,
                        const float *gamma, const float *mean, const float *rstd, float *dx,
                        float *dgamma, float *dbeta);
  // GroupNorm then SiLU in one pass over x (optional: NULL where a backend has none; callers then
  // run groupnorm_fwd and silu_fwd): a = what groupnorm_fwd writes as y (a may be NULL: not
  // kept), y = silu(a), mean and rstd as groupnorm_fwd's.
  void (*groupnorm_silu_fwd)(Backend *, int B, int C, int HW, int G, const float *x, const float *gamma,
                             const float *beta, float *a, float *y, float *mean, float *rstd);
  // Its backward in one pass (optional as well: callers then run silu_bwd into a zeroed buffer
  // and groupnorm_bwd): dy is the gradient of y = silu(a), where a, the GroupNorm output, is
  // made again from x, mean, rstd, gamma and beta (so the forward need not keep it); dx, dgamma,
  // dbeta accumulate as groupnorm_bwd's do.
  void (*groupnorm_silu_bwd)(Backend *, int B, int C, int HW, int G, const float *x, const float *dy,
                             const float *gamma, const float *beta, const float *mean, const float *rstd, float *dx,
                             float *dgamma, float *dbeta);
  void (*silu_fwd)(Backend *, size_t n, const float *x, float *y);                    // y = x*sigmoid(x)
  void (*silu_bwd)(Backend *, size_t n, const float *x, const float *dy, float *dx);  // dx += dy*silu'(x)
  // Row-wise softmax of (rows, n): y = softmax(scale * x). Backward: dx += scale * y*(dy - sum(dy*y)).
  void (*softmax_fwd)(Backend *, int rows, int n, float scale, const float *x, float *y);
  void (*softmax_bwd)(Backend *, int rows, int n, float scale, const float *y, const float *dy,
                      float *dx);

  // ---- elementwise and layout ----
  void (*add)(Backend *, size_t n, const float *a, const float *b, float *y);  // y = a + b
  void (*axpy)(Backend *, size_t n, float alpha, const float *x, float *y);    // y += alpha*x
  void (*scale)(Backend *, size_t n, float alpha, float *x);                   // x *= alpha
  void (*mul)(Backend *, size_t n, const float *a, const float *b, float *y);  // y = a*b
  void (*mul_acc)(Backend *, size_t n, const float *a, const float *b, float *y);  // y += a*b
  // Broadcast add over HW: y[b,c,:] += v[b*vstride + c]. vstride = 0 adds a bias (C),
  // vstride = C adds a per-sample vector (B,C) such as the time embedding.
  void (*bcast_add)(Backend *, int B, int C, int HW, const float *v, int vstride, float *y);
  // Its backward: dv[b*vstride + c] += sum over HW of dy[b,c,:] (summed over b when vstride = 0).
  void (*bcast_add_bwd)(Backend *, int B, int C, int HW, const float *dy, int vstride, float *dv);
  // Channel-slice copy: dst[b, dst_off + c, :] = beta*dst[...] + src[b, src_off + c, :] for c < nc.
  // src has src_C channels, dst has dst_C; beta is 0 (concat forward) or 1 (its backward).
  void (*chan_copy)(Backend *, int B, int nc, int HW, const float *src, int src_C, int src_off,
                    float *dst, int dst_C, int dst_off, float beta);
  // Nearest-neighbour 2x upsampling: x (B,C,H,W) -> y (B,C,2H,2W); backward accumulates.
  void (*upsample2x_fwd)(Backend *, int B, int C, int H, int W, const float *x, float *y);
  void (*upsample2x_bwd)(Backend *, int B, int C, int H, int W, const float *dy, float *dx);

  // ---- loss and optimiser ----
  // Weighted MSE over B samples of D values: loss_b = mean_i (pred-target)^2 is written to
  // loss (B floats, backend memory); dpred += 2 * w_b * (pred - target) / (B*D), so the
  // gradient is that of sum_b w_b loss_b / B. w (B floats) may be NULL for all-ones;
  // dpred may be NULL when only the loss is wanted (evaluation).
  void (*mse_loss)(Backend *, int B, int D, const float *pred, const float *target, const float *w,
                   float *loss, float *dpred);
  // AdamW with bias correction (step counts from 1), as PyTorch does it:
  // p -= lr * (wd * p + mhat / (sqrt(vhat) + eps)), i.e. the decay is scaled by lr.
  void (*adamw)(Backend *, size_t n, float *p, const float *g, float *m, float *v, float lr,
                float beta1, float beta2, float eps, float wd, int step);
  void (*ema)(Backend *, size_t n, float *e, const float *p, float decay);  // e = d*e + (1-d)*p
  double (*sumsq)(Backend *, size_t n, const float *x);  // sum of squares (for grad clipping)

  // ---- graphs (optional: all four NULL where a backend has none) ----
  // Ops queued between capture_begin and capture_end are recorded instead of run, and
  // graph_launch replays them with the same pointers and scalars: on CUDA one launch instead
  // of hundreds. Between begin and end only queued ops may be called (no alloc, free, upload,
  // download, sync or sumsq). capture_end returns NULL when the capture failed; the caller
  // then runs the ops directly.
  int (*capture_begin)(Backend *);  // 0, or -1 when no capture could start
  BackendGraph *(*capture_end)(Backend *);
  void (*graph_launch)(Backend *, BackendGraph *);
  void (*graph_destroy)(Backend *, BackendGraph *);

  // ---- introspection (optional: NULL where a backend picks no algorithms, as on the CPU) ----
  // Fills out[0..min(n, cap)) with the algorithm of every convolution shape and direction
  // planned so far and returns n, how many there are.
  int (*conv_algos)(Backend *, ConvAlgo *out, int cap);

  // ---- lanes (optional: NULL where a backend has none, as on CUDA and in decorators) ----
  // Backends of one thread each that share this one's memory, for work that splits into
  // independent parts better than each op splits across threads: the CPU's inference forward
  // runs a share of the batch per lane (engine/unet_lanes.c), with no barrier between ops.
  // Fills lane[0..n) with n = min(cap, the backend's threads) and returns n; the lanes are
  // the backend's (destroyed with it, the same ones at every call).
  int (*lanes)(Backend *, Backend **lane, int cap);

  void (*destroy)(Backend *);
};

// Backends available in this build. `name` is "cpu", "cpu-ref", "cuda" or "auto" (or NULL,
// meaning auto). Ops are safe to call from several threads on different data: the CPU
// kernels take scratch memory per call.
// auto takes CUDA when a device is present and works, else the CPU (with one line on stderr).
// Returns NULL and fills err for an unknown or unavailable backend.
Backend *backend_create(const char *name, int threads, Err *err);
// Choices that only CUDA reads; all zero (or opts NULL) is the default.
typedef struct {
  int tf32;              // allow TF32 tensor-core math in cuBLAS and cuDNN (else exact fp32)
  int nondeterministic;  // let cuDNN take its fastest algorithms, even those whose results vary
                         // run to run (atomics); the default takes the fastest deterministic one
  int engine_search;     // also time the engines of cuDNN's graph API (those PyTorch's
                         // cudnn.benchmark picks from) against the legacy algorithms, per shape
} BackendOpts;
Backend *backend_create_opts(const char *name, int threads, const BackendOpts *opts, Err *err);
void backend_destroy(Backend *b);

Backend *backend_cpu_create(int threads);      // fast kernels (BLAS + OpenMP)
Backend *backend_cpu_ref_create(void);         // plain reference kernels, single-threaded
#ifdef STEPSCOPE_CUDA
Backend *backend_cuda_create(const BackendOpts *opts, Err *err);  // NULL + err when no usable device
#endif

// ---- profiling (backend_profile.c) ----
// A decorator: a Backend whose every op forwards to `inner`, counted and timed per op name
// ("conv2d_fwd", "gemm", "alloc", ...), convolutions also per shape. Each op is timed between
// two inner->sync calls, so queued GPU work is charged to the op that queued it; the syncs
// cost a little per call (and keep the GPU from running ahead of the host), so a profiled
// step is slower than a plain one. Results are bit-identical to inner's op by op. The name is
// inner's; graph capture and lanes are not offered (NULL: work that would split across lanes
// runs op by op). Destroying the wrapper destroys inner.
Backend *backend_profile_wrap(Backend *inner);
void backend_profile_reset(Backend *prof);  // forget everything counted so far (warm-up)
// Calls and seconds of the op named `op` since the last reset; -1 when no op has that name.
int backend_profile_get(Backend *prof, const char *op, long *calls, double *sec);
// The table, per step of `steps` that took wall_ms in all (measured by the caller around them):
// ops by time, the sum of op times against wall_ms, the 10 costliest convolution shapes, and,
// when the inner backend has conv_algos, each shape's algorithms and what determinism costs.
void backend_profile_report(Backend *prof, FILE *f, double wall_ms, int steps);
