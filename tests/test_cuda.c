// test_cuda.c — every op of the CUDA backend against the CPU reference backend; and our own
// kernels, run by the CPU emulator of tests/cuda_emu, against it in every build.
//
// Each test feeds the same random inputs to backend_cpu_ref_create() and to the backend under
// test, runs the op on both and compares the outputs by relative L2 error,
// ||cuda - ref|| / ||ref|| <= 1e-4, printing the error of every comparison. Backward ops start
// from random gradients and run twice, so the "+=" of the contract is checked too.
//
// The cuda_* tests run on a GPU (TF32 off), on small odd shapes (edge handling) and the default
// model's (B = 64, C = 64, 32x32). The cuda_emu_* tests run the same checks on the emulated
// backend (backend_cuda_emu_create: the same backend code compiled for tests/cuda_emu, our
// kernels as fibers resumed in a random order, cuBLAS and cuDNN emulated with their argument
// checks), on the small shapes and a few medium ones sized for CI: they catch indexing,
// reduction, barrier, descriptor, leading-dimension and accumulate-versus-overwrite mistakes in
// every build, GPU or not. tests/cuda_emu/test_cuda_emu.cpp tests the emulator itself.
#include "test.h"

#include <stdlib.h>
#include <sys/wait.h>

#include "engine/rng.h"
#include "kernels/backend.h"
#include "tests/cuda_emu/backend_cuda_emu.h"
#include "tests/models.h"

#define TOL 1e-4

// The backends are made once for all tests and live until the process ends. gpu_be is the
// backend under test: the first line of every test picks it, have_backends() the CUDA backend,
// have_emu() the emulated one. Without a usable device the GPU tests skip, or fail when
// STEPSCOPE_REQUIRE_CUDA=1 (set on the GPU machine, where a skip would hide a broken setup).
static Backend *ref_be, *gpu_be;
// How to make another backend of the kind under test (for tests of creation options).
static Backend *(*create_under_test)(const BackendOpts *opts, Err *err);

#ifdef STEPSCOPE_CUDA
#define GPU_TEST(fn) TEST(fn)
static Backend *cuda_be;
static char why_skip[600];

static int have_backends(void) {
  static int tried;
  if (!tried) {
    tried = 1;
    Err err = {{0}};
    cuda_be = backend_cuda_create(NULL, &err);
    if (!cuda_be) snprintf(why_skip, sizeof why_skip, "no usable CUDA device: %s", err.msg);
    else if (!ref_be && !(ref_be = backend_cpu_ref_create())) snprintf(why_skip, sizeof why_skip, "no CPU reference backend");
  }
  gpu_be = cuda_be;
  create_under_test = backend_cuda_create;
  if (gpu_be && ref_be) return 1;
  const char *req = getenv("STEPSCOPE_REQUIRE_CUDA");
  if (req && strcmp(req, "1") == 0) test_fail(__FILE__, __LINE__, "%s (STEPSCOPE_REQUIRE_CUDA=1)", why_skip);
  else test_skip(why_skip);
  return 0;
}
#else
// Built without CUDA the GPU tests of our kernels are compiled (they share their checks with
// the emulated ones) but not registered; the test cuda_backend at the end says why.
#define GPU_TEST(fn) __attribute__((unused)) static void fn(void)
static int have_backends(void) { return 0; }
#endif

// The emulated backend, with the emulator's schedule seeded afresh for each test: a test runs
// the same schedule however the suite was filtered (STEPSCOPE_EMU_SEED overrides the seed).
static int have_emu(void) {
  static Backend *emu;
  if (!emu) emu = backend_cuda_emu_create();
  if (!ref_be) ref_be = backend_cpu_ref_create();
  if (!emu || !ref_be) {
    test_fail(__FILE__, __LINE__, "could not create the emulated backend or the reference backend");
    return 0;
  }
  gpu_be = emu;
  create_under_test = backend_cuda_emu_create_opts;
  cuda_emu_seed(1);
  return 1;
}

// ---- one tensor, held by both backends ----

typedef struct { float *ref, *gpu; size_t n; } Buf;

static Buf buf_from(const float *host, size_t n) {
  Buf b = {ref_be->alloc(ref_be, n), gpu_be->alloc(gpu_be, n), n};
  ref_be->upload(ref_be, b.ref, host, n);
  gpu_be->upload(gpu_be, b.gpu, host, n);
  return b;
}

static Buf buf_randn(Rng *r, size_t n, float sd) {
  float *h = calloc(n ? n : 1, sizeof *h);  // calloc: malloc draws a false GCC 12 warning
  for (size_t i = 0; i < n; i++) h[i] = sd * rng_normal(r);
  Buf b = buf_from(h, n);
  free(h);
  return b;
}

static Buf buf_uniform(Rng *r, size_t n, float lo, float hi) {
  float *h = malloc(n * sizeof *h);
  for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * rng_uniform(r);
  Buf b = buf_from(h, n);
  free(h);
  return b;
}

static void bufs_free(const Buf *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    ref_be->free(ref_be, b[i].ref);
    gpu_be->free(gpu_be, b[i].gpu);
  }
}
// BUF_FREE(a, b, ...) frees each of the buffers named.
#define BUF_FREE(...) bufs_free((const Buf[]){__VA_ARGS__}, sizeof((const Buf[]){__VA_ARGS__}) / sizeof(Buf))

// ||gpu - ref|| / ||ref|| (the absolute norm when ref is all zeros), printed as "what: error".
static double buf_err(const char *what, Buf b) {
  float *r = malloc(b.n * sizeof *r), *g = malloc(b.n * sizeof *g);
  ref_be->download(ref_be, r, b.ref, b.n);
  gpu_be->download(gpu_be, g, b.gpu, b.n);
  double e = test_rel_l2(g, r, b.n);
  free(r);
  free(g);
  printf("    %-52s rel L2 error %.2e  (n = %zu)\n", what, e, b.n);
  return e;
}

#define EXPECT_CLOSE(what, buf) do { double e_ = buf_err(what, buf); \
    ASSERTF(e_ <= TOL, "%s: relative L2 error %.3g > %g", what, e_, TOL); } while (0)

// Runs one backend call on the reference, then on CUDA; inside it ON(buf) is buf's copy on
// the backend being run and `be` that backend.
#define BOTH(call) do { for (int side_ = 0; side_ < 2; side_++) { \
    Backend *be = side_ ? gpu_be : ref_be; call; } } while (0)
#define ON(buf) (side_ ? (buf).gpu : (buf).ref)

static char label_buf[160];
#define LABEL(...) (snprintf(label_buf, sizeof label_buf, __VA_ARGS__), label_buf)

// ---- memory ----

// nb blocks of up to max_len floats churned through the arena, then one of `big` floats.
static void check_memory(int nb, int max_len, size_t big) {
  Backend *g = gpu_be;
  Rng r;
  rng_seed(&r, 1);

  // alloc is zeroed; upload/download and copy are exact; fill sets every value.
  enum { N = 100003 };
  float *h = malloc(N * sizeof *h), *back = malloc(N * sizeof *back);
  for (int i = 0; i < N; i++) h[i] = rng_normal(&r);
  float *a = g->alloc(g, N), *b = g->alloc(g, N);
  g->download(g, back, a, N);
  for (int i = 0; i < N; i++) ASSERTF(back[i] == 0.0f, "alloc not zeroed at %d", i);
  g->upload(g, a, h, N);
  g->copy(g, b, a, N);
  g->download(g, back, b, N);
  ASSERT(memcmp(back, h, N * sizeof *h) == 0);
  g->fill(g, b, 2.5f, N);
  g->download(g, back, b, N);
  for (int i = 0; i < N; i++) ASSERTF(back[i] == 2.5f, "fill wrong at %d", i);
  g->free(g, a);
  g->free(g, b);
  g->free(g, NULL);

  // Arena churn: blocks of random sizes, each filled with its own value, half of them freed and
  // reallocated, then every live block must still hold its value (no overlaps).
  enum { NB = 300 };
  float *blk[NB];
  size_t len[NB];
  if (nb > NB) nb = NB;
  for (int i = 0; i < nb; i++) {
    len[i] = 1 + (size_t)rng_int(&r, 2 * max_len / 3);
    blk[i] = g->alloc(g, len[i]);
    g->fill(g, blk[i], (float)i, len[i]);
  }
  for (int i = 0; i < nb; i += 2) g->free(g, blk[i]);
  for (int i = 0; i < nb; i += 2) {
    len[i] = 1 + (size_t)rng_int(&r, max_len);
    blk[i] = g->alloc(g, len[i]);
    g->fill(g, blk[i], (float)i, len[i]);
  }
  for (int i = 0; i < nb; i++) {
    float first, last;
    g->download(g, &first, blk[i], 1);
    g->download(g, &last, blk[i] + len[i] - 1, 1);
    ASSERTF(first == (float)i && last == (float)i, "block %d of %zu floats holds %g..%g", i, len[i], first, last);
  }
  for (int i = 0; i < nb; i++) g->free(g, blk[i]);

  // A block larger than the first chunk makes the arena grow; it too comes back zeroed.
  float *p = g->alloc(g, big);
  g->download(g, back, p + big - N, N);
  for (int i = 0; i < N; i++) ASSERTF(back[i] == 0.0f, "big alloc not zeroed");
  g->free(g, p);
  free(h);
  free(back);
}

GPU_TEST(cuda_memory) { if (have_backends()) check_memory(300, 300000, (size_t)100 << 20); }  // 400 MB
TEST(cuda_emu_memory) { if (have_emu()) check_memory(60, 20000, (size_t)72 << 20); }  // past the 256 MB chunk

// A second, independent instance with TF32 on: a GEMM stays close (TF32 keeps 10 mantissa bits).
static void check_create_destroy_tf32(void) {
  Err err = {{0}};
  Backend *t = create_under_test(&(BackendOpts){.tf32 = 1}, &err);
  ASSERTF(t, "backend creation with tf32=1: %s", err.msg);
  ASSERT(strcmp(t->name, gpu_be->name) == 0);
  enum { M = 64, N = 48, K = 96 };
  Rng r;
  rng_seed(&r, 2);
  float A[M * K], B[K * N], C[M * N];
  for (int i = 0; i < M * K; i++) A[i] = rng_normal(&r);
  for (int i = 0; i < K * N; i++) B[i] = rng_normal(&r);
  float *a = t->alloc(t, M * K), *b = t->alloc(t, K * N), *c = t->alloc(t, M * N);
  t->upload(t, a, A, M * K);
  t->upload(t, b, B, K * N);
  t->gemm(t, 1, 0, 0, M, N, K, 1.0f, a, 0, b, 0, 0.0f, c, 0);
  t->download(t, C, c, M * N);
  double num = 0, den = 0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)A[i * K + k] * B[k * N + j];
      num += (C[i * N + j] - s) * (C[i * N + j] - s);
      den += s * s;
    }
  printf("    %-52s rel L2 error %.2e\n", "gemm with TF32 on (vs double, tolerance 1e-2)", sqrt(num / den));
  ASSERT(sqrt(num / den) < 1e-2);
  t->destroy(t);
}

GPU_TEST(cuda_create_destroy_tf32) { if (have_backends()) check_create_destroy_tf32(); }
TEST(cuda_emu_create_destroy_tf32) { if (have_emu()) check_create_destroy_tf32(); }

// ---- dense algebra ----

static void check_gemm(int batch, int tA, int tB, int M, int N, int K, float alpha, float beta, int pad) {
  Rng r;
  rng_seed(&r, 100 + M + 7 * N + 13 * K + tA + 2 * tB);
  long sA = (long)M * K + pad, sB = (long)K * N + pad, sC = (long)M * N + pad;
  Buf A = buf_randn(&r, (size_t)batch * sA, 1), B = buf_randn(&r, (size_t)batch * sB, 1);
  Buf C = buf_randn(&r, (size_t)batch * sC, 1);
  BOTH(be->gemm(be, batch, tA, tB, M, N, K, alpha, ON(A), sA, ON(B), sB, beta, ON(C), sC));
  EXPECT_CLOSE(LABEL("gemm b%d %c%c M%d N%d K%d a%g b%g", batch, tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, alpha, beta), C);
  BUF_FREE(A, B, C);
}

// Every transpose combination, odd sizes, padded batch strides; then attention's shapes with
// `tokens` tokens (256 at the default model's 16x16 attention).
static void check_gemms(int tokens) {
  for (int tA = 0; tA < 2; tA++)
    for (int tB = 0; tB < 2; tB++) {
      check_gemm(1, tA, tB, 7, 13, 5, 1.0f, 0.0f, 0);
      check_gemm(3, tA, tB, 17, 9, 33, 0.5f, 1.0f, 5);  // padded batch strides, beta = 1
      if (test_failed()) return;
    }
  // Attention-sized: scores = Q K^T for (B*heads) = 64 slices of N = 256 tokens, d = 64, then
  // out = P V, and the gradient shapes of both.
  const int n = tokens;
  check_gemm(64, 0, 1, n, n, 64, 0.125f, 0.0f, 0);
  check_gemm(64, 0, 0, n, 64, n, 1.0f, 0.0f, 0);
  check_gemm(64, 1, 0, n, 64, n, 1.0f, 1.0f, 0);
  check_gemm(64, 0, 1, 64, n, n, 1.0f, 1.0f, 0);
}

GPU_TEST(cuda_gemm) { if (have_backends()) check_gemms(256); }
TEST(cuda_emu_gemm) { if (have_emu()) check_gemms(16); }

// ---- convolution ----

// Backward ops run `reps` times into random gradients (the reference is slow on big shapes).
// Every tensor starts `off` floats into its buffer (1: views that are not 16-byte aligned).
static void check_conv_at(ConvDesc d, int bias, int reps, size_t off) {
  Rng r;
  rng_seed(&r, 200 + d.B + d.Cin * 3 + d.H * 5 + d.Cout * 7 + d.K * 11 + d.stride);
  size_t nx = (size_t)d.B * d.Cin * d.H * d.W, nw = (size_t)d.Cout * d.Cin * d.K * d.K;
  size_t ny = (size_t)d.B * d.Cout * d.Ho * d.Wo;
  float wsd = 1.0f / sqrtf((float)d.Cin * d.K * d.K);
  Buf all[8] = {buf_randn(&r, off + nx, 1), buf_randn(&r, off + nw, wsd), buf_randn(&r, off + d.Cout, 1),
                buf_randn(&r, off + ny, 1),  // y: garbage, the forward must overwrite it
                buf_randn(&r, off + ny, 1), buf_randn(&r, off + nx, 1), buf_randn(&r, off + nw, 1),
                buf_randn(&r, off + d.Cout, 1)};
  Buf v[8];
  for (int i = 0; i < 8; i++) v[i] = (Buf){all[i].ref + off, all[i].gpu + off, all[i].n - off};
  Buf x = v[0], w = v[1], b = v[2], y = v[3], dy = v[4], dx = v[5], dw = v[6], db = v[7];
  char shape[112];
  snprintf(shape, sizeof shape, "x(%d,%d,%d,%d) w(%d,%d,%d) s%d p%d%s", d.B, d.Cin, d.H, d.W, d.Cout, d.K, d.K,
           d.stride, d.pad, off ? " unaligned" : "");

  BOTH(be->conv2d_fwd(be, &d, ON(x), ON(w), bias ? ON(b) : NULL, ON(y)));
  EXPECT_CLOSE(LABEL("conv fwd %s%s", shape, bias ? " +bias" : ""), y);
  for (int rep = 0; rep < reps; rep++) {
    BOTH(be->conv2d_bwd_data(be, &d, ON(dy), ON(w), ON(dx)));
    BOTH(be->conv2d_bwd_filter(be, &d, ON(x), ON(dy), ON(dw), bias ? ON(db) : NULL));
  }
  EXPECT_CLOSE(LABEL("conv bwd data x%d %s", reps, shape), dx);
  EXPECT_CLOSE(LABEL("conv bwd filter x%d %s", reps, shape), dw);
  if (bias) EXPECT_CLOSE(LABEL("conv bwd bias x%d %s", reps, shape), db);
  bufs_free(all, 8);
}

static void check_conv(ConvDesc d, int bias, int reps) { check_conv_at(d, bias, reps, 0); }

static void check_convs_small(void) {
  check_conv(conv_desc(3, 5, 7, 9, 4, 3, 1, 1), 1, 2);  // odd, non-square
  if (test_failed()) return;
  check_conv(conv_desc(2, 3, 9, 9, 6, 3, 2, 1), 1, 2);  // stride 2 (downsampling)
  if (test_failed()) return;
  check_conv(conv_desc(2, 7, 5, 5, 3, 1, 1, 0), 0, 2);  // 1x1, no bias
  if (test_failed()) return;
  check_conv(conv_desc(1, 2, 6, 6, 5, 5, 1, 2), 1, 2);  // 5x5
  if (test_failed()) return;
  check_conv(conv_desc(3, 5, 7, 9, 4, 3, 1, 1), 1, 1);  // the first shape again: its cached plan
}

GPU_TEST(cuda_conv_small) { if (have_backends()) check_convs_small(); }
TEST(cuda_emu_conv_small) { if (have_emu()) check_convs_small(); }

GPU_TEST(cuda_conv_model) {
  if (!have_backends()) return;
  check_conv(conv_desc(64, 64, 32, 32, 64, 3, 1, 1), 1, 1);  // the default model's ResBlock conv
  if (test_failed()) return;
  check_conv(conv_desc(64, 64, 32, 32, 64, 3, 2, 1), 1, 1);  // its downsampling conv
  if (test_failed()) return;
  check_conv(conv_desc(64, 1, 32, 32, 64, 3, 1, 1), 1, 1);   // stem
}

// A second backend made with nondeterministic = 1 and wrapped by the profiler: its convolutions
// still match the reference, the profiler counts them, and conv_algos lists each planned
// direction with the fastest algorithm chosen. The deterministic backend's choice for the same
// shape is never faster than the fastest (Find sorts by time). Both reports are printed.
static void check_conv_nondeterministic_profiled(void) {
  Err err = {{0}};
  Backend *nd = create_under_test(&(BackendOpts){.nondeterministic = 1}, &err);
  ASSERTF(nd, "backend creation with nondeterministic = 1: %s", err.msg);
  Backend *prof = backend_profile_wrap(nd), *det = gpu_be;
  ASSERT(prof->capture_begin == NULL && prof->conv_algos != NULL);
  const ConvDesc d = conv_desc(8, 16, 16, 16, 24, 3, 1, 1);
  gpu_be = prof;  // check_conv runs on gpu_be
  check_conv(d, 1, 1);
  gpu_be = det;
  long calls = -1;
  ASSERT(backend_profile_get(prof, "conv2d_fwd", &calls, NULL) == 0);
  ASSERT_EQ_INT(calls, 1);
  ConvAlgo a[4];
  ASSERT_EQ_INT(prof->conv_algos(prof, a, 4), 3);  // a fresh backend: this shape's three directions
  for (int i = 0; i < 3; i++) {
    ASSERTF(!strcmp(a[i].chosen, a[i].fastest), "dir %d: chose %s, fastest %s", a[i].dir, a[i].chosen, a[i].fastest);
    ASSERT(a[i].chosen_ms == a[i].fastest_ms);
  }
  backend_profile_report(prof, stdout, 1.0, 1);
  prof->destroy(prof);

  check_conv(d, 1, 1);  // plans the shape on the deterministic backend too
  int n = det->conv_algos(det, NULL, 0);
  ConvAlgo *all = calloc(n, sizeof *all);
  ASSERT_EQ_INT(det->conv_algos(det, all, n), n);
  int seen = 0;
  for (int i = 0; i < n; i++) {
    const ConvAlgo *x = &all[i];
    if (x->d.B != d.B || x->d.Cin != d.Cin || x->d.H != d.H || x->d.Cout != d.Cout) continue;
    seen++;
    printf("    deterministic: dir %d chose %s (%.3f ms), fastest %s%s (%.3f ms)\n", x->dir, x->chosen, x->chosen_ms,
           x->fastest, x->fastest_deterministic ? "" : "*", x->fastest_ms);
    if (x->chosen_ms >= 0) ASSERT(x->chosen_ms >= x->fastest_ms);
  }
  free(all);
  ASSERT_EQ_INT(seen, 3);
}

GPU_TEST(cuda_conv_nondeterministic_profiled) { if (have_backends()) check_conv_nondeterministic_profiled(); }
TEST(cuda_emu_conv_nondeterministic_profiled) { if (have_emu()) check_conv_nondeterministic_profiled(); }

// Backends that also search cuDNN's graph-API engines (BackendOpts.engine_search), under both
// policies: their convolutions match the reference (the backward ones accumulate, as the legacy
// ones do), also on views that are not 16-byte aligned (those run the legacy choice), and
// conv_algos reports times measured alike for every contender: the chosen one never slower than
// the fastest, and the fastest when the policy allows any. On the emulator, whose engines are
// known (cudnn_graph_emu.cpp): never its nondeterministic engine (4) under the deterministic
// policy, never a tensor-core, down-converting or run-time compiled one (6, 39, 27) without
// TF32, never its stride-1 engine (11) on a strided shape, at least one engine chosen, and every
// graph-API descriptor gone with the backend.
static void check_conv_engine_search(int emu) {
  const long live_before = emu ? cuda_emu_backend_descriptors() : 0;
  for (int nondet = 0; nondet < 2 && !test_failed(); nondet++) {
    Err err = {{0}};
    Backend *es = create_under_test(&(BackendOpts){.nondeterministic = nondet, .engine_search = 1}, &err);
    ASSERTF(es, "backend creation with engine_search = 1: %s", err.msg);
    Backend *saved = gpu_be;
    gpu_be = es;
    check_convs_small();
    if (!test_failed()) check_conv_at(conv_desc(2, 3, 8, 8, 4, 3, 1, 1), 1, 1, 1);
    gpu_be = saved;
    int n = es->conv_algos(es, NULL, 0), engines = 0;
    ConvAlgo *a = calloc(n ? n : 1, sizeof *a);
    es->conv_algos(es, a, n);
    for (int i = 0; i < n && !test_failed(); i++) {
      const ConvAlgo *x = &a[i];
      printf("    %s: dir %d x(%d,%d,%d,%d) s%d chose %s (%.3f ms), fastest %s%s (%.3f ms)\n",
             nondet ? "fastest" : "deterministic", x->dir, x->d.B, x->d.Cin, x->d.H, x->d.W, x->d.stride, x->chosen,
             x->chosen_ms, x->fastest, x->fastest_deterministic ? "" : "*", x->fastest_ms);
      if (x->chosen_ms >= 0 && x->fastest_ms >= 0) ASSERT(x->chosen_ms >= x->fastest_ms);
      if (nondet) ASSERTF(!strcmp(x->chosen, x->fastest), "chose %s, fastest %s", x->chosen, x->fastest);
      engines += !strncmp(x->chosen, "engine", 6);
      int id;
      if (emu && sscanf(x->chosen, "engine %d", &id) == 1) {
        ASSERTF(id != 6 && id != 39 && id != 27, "engine %d without TF32", id);
        ASSERTF(nondet || id != 4, "nondeterministic engine %d under the deterministic policy", id);
        ASSERTF(x->d.stride == 1 || id != 11, "the stride-1 engine on stride %d", x->d.stride);
      }
    }
    free(a);
    printf("    %d of %d planned directions run a graph-API engine\n", engines, n);
    if (emu) ASSERT(engines > 0);
    es->destroy(es);
  }
  if (emu) ASSERT_EQ_INT(cuda_emu_backend_descriptors(), live_before);
}

GPU_TEST(cuda_conv_engine_search) { if (have_backends()) check_conv_engine_search(0); }
TEST(cuda_emu_conv_engine_search) { if (have_emu()) check_conv_engine_search(1); }

// Emulator only: the graph API's failures. Each case runs in a child (what it prints to stderr,
// and a fatal one exits): `engine_case` says which.
static int engine_case;
static void engine_failure_child(void) {
  Err err = {{0}};
  Backend *es = create_under_test(&(BackendOpts){.engine_search = 1}, &err);
  if (!es) exit(3);
  gpu_be = es;
  const ConvDesc d = conv_desc(2, 3, 9, 9, 6, 3, 2, 1);  // the emulator's engine 58 wins its forward
  if (engine_case == 0) {
    cuda_emu_fail_call("cudnnBackendFinalize", 1);  // the very first graph cannot be built
    check_conv(d, 1, 1);
    check_conv(conv_desc(3, 5, 7, 9, 4, 3, 1, 1), 1, 1);
    ConvAlgo a[6];
    ASSERT_EQ_INT(es->conv_algos(es, a, 6), 6);
    for (int i = 0; i < 6; i++)  // (the planning order: the failed graph was the first forward)
      if (a[i].d.B == 2 && a[i].dir == CONV_FWD) ASSERTF(strncmp(a[i].chosen, "engine", 6), "chose %s", a[i].chosen);
    exit(test_failed() ? 4 : 0);
  }
  if (engine_case == 2) {  // a plan that finalized but fails to run while timed: out of the race
    cuda_emu_fail_call("cudnnBackendExecute", 1);
    check_conv(d, 1, 1);
    exit(test_failed() ? 4 : 0);
  }
  check_conv(d, 0, 1);  // plans: the engine runs from now on
  cuda_emu_fail_call("cudnnBackendExecute", 1);
  float *x = es->alloc(es, 2 * 3 * 81), *w = es->alloc(es, 6 * 3 * 9), *y = es->alloc(es, 2 * 6 * 25);
  es->conv2d_fwd(es, &d, x, w, NULL, y);
  exit(5);  // not reached: the failure is fatal
}

TEST(cuda_emu_conv_engine_failures) {
  if (!have_emu()) return;
  static char msg[8192];
  engine_case = 0;
  int status = test_in_child(engine_failure_child, 120, msg, sizeof msg);
  const char *said = strstr(msg, "stepscope: cuDNN's graph API refused a convolution");
  printf("    a graph refused: %.*s\n", said ? (int)strcspn(said, "\n") : 0, said ? said : "");
  ASSERTF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child ended with status %d:\n%s", status, msg);
  ASSERTF(said && !strstr(said + 1, "stepscope: cuDNN's graph API refused"), "said %s once:\n%s",
          said ? "more than" : "not even", msg);
  ASSERT(strstr(said, "cudnnBackendFinalize"));

  engine_case = 2;
  status = test_in_child(engine_failure_child, 120, msg, sizeof msg);
  ASSERTF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "an engine failing while timed: the child ended with "
          "status %d:\n%s", status, msg);
  ASSERTF(strstr(msg, "cudnnBackendExecute fails, as the test asked"), "the failure was not injected:\n%s", msg);
  printf("    an engine failing while timed: the planning went on\n");

  engine_case = 1;
  status = test_in_child(engine_failure_child, 120, msg, sizeof msg);
  said = strstr(msg, "stepscope: cuDNN error");
  printf("    an engine fails to run: %.*s\n", said ? (int)strcspn(said, "\n") : 0, said ? said : "");
  ASSERTF(WIFEXITED(status) && WEXITSTATUS(status) == 1, "the child ended with status %d:\n%s", status, msg);
  ASSERTF(said && strstr(said, "CUDNN_STATUS_EXECUTION_FAILED") && strstr(said, "in cudnnBackendExecute") &&
              strstr(said, "kernels/cuda/conv_engines.cu:"),
          "the message does not name the library, call and place:\n%s", msg);
}

// ---- normalisation and activations ----

static void check_groupnorm(int B, int C, int HW, int G) {
  Rng r;
  rng_seed(&r, 300 + B + C + HW + G);
  size_t n = (size_t)B * C * HW;
  // x ~ N(3, 2^2): a mean away from zero, which a one-pass variance would partly cancel.
  float *hx = malloc(n * sizeof *hx);
  for (size_t i = 0; i < n; i++) hx[i] = 3.0f + 2.0f * rng_normal(&r);
  Buf x = buf_from(hx, n), gamma = buf_randn(&r, C, 1), beta = buf_randn(&r, C, 1);
  free(hx);
  Buf y = buf_randn(&r, n, 1), mean = buf_randn(&r, (size_t)B * G, 1), rstd = buf_randn(&r, (size_t)B * G, 1);
  BOTH(be->groupnorm_fwd(be, B, C, HW, G, ON(x), ON(gamma), ON(beta), ON(y), ON(mean), ON(rstd)));
  EXPECT_CLOSE(LABEL("groupnorm fwd y B%d C%d HW%d G%d", B, C, HW, G), y);
  EXPECT_CLOSE(LABEL("groupnorm fwd mean B%d C%d HW%d G%d", B, C, HW, G), mean);
  EXPECT_CLOSE(LABEL("groupnorm fwd rstd B%d C%d HW%d G%d", B, C, HW, G), rstd);
  Buf dy = buf_randn(&r, n, 1), dx = buf_randn(&r, n, 1), dg = buf_randn(&r, C, 1), db = buf_randn(&r, C, 1);
  for (int rep = 0; rep < 2; rep++)
    BOTH(be->groupnorm_bwd(be, B, C, HW, G, ON(x), ON(dy), ON(gamma), ON(mean), ON(rstd), ON(dx), ON(dg), ON(db)));
  EXPECT_CLOSE(LABEL("groupnorm bwd dx x2 B%d C%d HW%d G%d", B, C, HW, G), dx);
  EXPECT_CLOSE(LABEL("groupnorm bwd dgamma x2 B%d C%d HW%d G%d", B, C, HW, G), dg);
  EXPECT_CLOSE(LABEL("groupnorm bwd dbeta x2 B%d C%d HW%d G%d", B, C, HW, G), db);
  BUF_FREE(x, gamma, beta, y, mean, rstd, dy, dx, dg, db);
}

// check_groupnorm for each {B, C, HW, G}: first the small cases both tests share, then the
// test's own, until one fails.
static void check_groupnorms(const int (*cases)[4], int n) {
  static const int small[][4] = {
      {3, 6, 35, 3},
      {2, 8, 4, 8},  // one channel per group
      {5, 12, 49, 4},
  };
  for (int k = 0; k < 3 + n && !test_failed(); k++) {
    const int *c = k < 3 ? small[k] : cases[k - 3];
    check_groupnorm(c[0], c[1], c[2], c[3]);
  }
}

GPU_TEST(cuda_groupnorm) {
  static const int cases[][4] = {
      {64, 64, 1024, 32},  // the default model
      {64, 128, 256, 32},
      {2, 64, 1024, 2},  // 32 768 values per group: more than the forward caches
  };
  if (have_backends()) check_groupnorms(cases, 3);
}

TEST(cuda_emu_groupnorm) {
  static const int cases[][4] = {
      {2, 16, 100, 4},    // 400 values per group: 256 threads, each over two
      {2, 160, 9, 32},    // 160 channels: two blocks sum the dgamma/dbeta columns
      {2, 64, 1024, 32},  // the GPU test's 64 channels of 32x32, at batch 2
      {2, 24, 1024, 8},   // 3 072 values per group: the forward's large cache
      {1, 64, 1024, 2},   // 32 768 values per group: more than the forward caches
  };
  if (have_emu()) check_groupnorms(cases, 5);
}

// check(r, n) for each of the sizes, one Rng seeded with `seed` throughout, until one fails.
static void check_sizes(void (*check)(Rng *, size_t), uint64_t seed, const size_t *sizes, int count) {
  Rng r;
  rng_seed(&r, seed);
  for (int k = 0; k < count && !test_failed(); k++) check(&r, sizes[k]);
}
#define CHECK_SIZES(check, seed, ...) \
  check_sizes(check, seed, (const size_t[]){__VA_ARGS__}, sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t))

static void check_silu(Rng *r, size_t n) {
  Buf x = buf_randn(r, n, 4), y = buf_randn(r, n, 1), dy = buf_randn(r, n, 1), dx = buf_randn(r, n, 1);
  BOTH(be->silu_fwd(be, n, ON(x), ON(y)));
  EXPECT_CLOSE(LABEL("silu fwd n%zu", n), y);
  for (int rep = 0; rep < 2; rep++) BOTH(be->silu_bwd(be, n, ON(x), ON(dy), ON(dx)));
  EXPECT_CLOSE(LABEL("silu bwd x2 n%zu", n), dx);
  BUF_FREE(x, y, dy, dx);
}

GPU_TEST(cuda_silu) { if (have_backends()) CHECK_SIZES(check_silu, 400, 1, 1000003, (size_t)64 * 64 * 1024); }
TEST(cuda_emu_silu) { if (have_emu()) CHECK_SIZES(check_silu, 400, 1, 257, 70001); }

static void check_softmax(int rows, int n, float scale) {
  Rng r;
  rng_seed(&r, 500 + rows + n);
  size_t total = (size_t)rows * n;
  Buf x = buf_randn(&r, total, 3), y = buf_randn(&r, total, 1), dy = buf_randn(&r, total, 1);
  Buf dx = buf_randn(&r, total, 1);
  BOTH(be->softmax_fwd(be, rows, n, scale, ON(x), ON(y)));
  EXPECT_CLOSE(LABEL("softmax fwd rows%d n%d scale%g", rows, n, scale), y);
  for (int rep = 0; rep < 2; rep++) BOTH(be->softmax_bwd(be, rows, n, scale, ON(y), ON(dy), ON(dx)));
  EXPECT_CLOSE(LABEL("softmax bwd x2 rows%d n%d scale%g", rows, n, scale), dx);
  BUF_FREE(x, y, dy, dx);
}

// Odd shapes, one column, long rows, then attention over 16x16 tokens at batch B.
static void check_softmaxes(int B) {
  static const struct { int rows, n; float scale; } cases[] = {{37, 19, 0.7f}, {3, 1, 1.0f}, {5, 1000, 0.125f}};
  for (int k = 0; k < 3 && !test_failed(); k++) check_softmax(cases[k].rows, cases[k].n, cases[k].scale);
  if (!test_failed()) check_softmax(B * 256, 256, 0.125f);
}

GPU_TEST(cuda_softmax) { if (have_backends()) check_softmaxes(64); }
TEST(cuda_emu_softmax) { if (have_emu()) check_softmaxes(2); }

// ---- elementwise and layout ----

static void check_elementwise(Rng *r, size_t n) {
  Buf a = buf_randn(r, n, 1), b = buf_randn(r, n, 1), y = buf_randn(r, n, 1);
  BOTH(be->add(be, n, ON(a), ON(b), ON(y)));
  EXPECT_CLOSE(LABEL("add n%zu", n), y);
  BOTH(be->axpy(be, n, -0.3f, ON(a), ON(y)));
  EXPECT_CLOSE(LABEL("axpy n%zu", n), y);
  BOTH(be->scale(be, n, 1.7f, ON(y)));
  EXPECT_CLOSE(LABEL("scale n%zu", n), y);
  BOTH(be->mul_acc(be, n, ON(a), ON(b), ON(y)));
  EXPECT_CLOSE(LABEL("mul_acc n%zu", n), y);
  BOTH(be->mul(be, n, ON(a), ON(b), ON(y)));
  EXPECT_CLOSE(LABEL("mul n%zu", n), y);
  BOTH(be->fill(be, ON(y), -1.25f, n));
  EXPECT_CLOSE(LABEL("fill n%zu", n), y);
  BOTH(be->copy(be, ON(y), ON(a), n));
  EXPECT_CLOSE(LABEL("copy n%zu", n), y);
  BUF_FREE(a, b, y);
}

GPU_TEST(cuda_elementwise) { if (have_backends()) CHECK_SIZES(check_elementwise, 600, 1, 33, 1000003); }
TEST(cuda_emu_elementwise) { if (have_emu()) CHECK_SIZES(check_elementwise, 600, 1, 33, 70001); }

static void check_bcast(int B, int C, int HW, int per_sample) {
  Rng r;
  rng_seed(&r, 700 + B + C + HW);
  int vstride = per_sample ? C : 0;
  size_t nv = per_sample ? (size_t)B * C : (size_t)C, n = (size_t)B * C * HW;
  Buf v = buf_randn(&r, nv, 1), y = buf_randn(&r, n, 1), dv = buf_randn(&r, nv, 1);
  BOTH(be->bcast_add(be, B, C, HW, ON(v), vstride, ON(y)));
  EXPECT_CLOSE(LABEL("bcast_add B%d C%d HW%d vstride %d", B, C, HW, vstride), y);
  for (int rep = 0; rep < 2; rep++) BOTH(be->bcast_add_bwd(be, B, C, HW, ON(y), vstride, ON(dv)));
  EXPECT_CLOSE(LABEL("bcast_add_bwd x2 B%d C%d HW%d vstride %d", B, C, HW, vstride), dv);
  BUF_FREE(v, y, dv);
}

GPU_TEST(cuda_bcast_add) {
  if (!have_backends()) return;
  for (int ps = 0; ps < 2; ps++) {
    check_bcast(3, 5, 7, ps);
    check_bcast(2, 3, 1, ps);
    check_bcast(64, 64, 1024, ps);
    check_bcast(64, 256, 64, ps);
    if (test_failed()) return;
  }
}

TEST(cuda_emu_bcast_add) {
  if (!have_emu()) return;
  for (int ps = 0; ps < 2; ps++) {
    check_bcast(3, 5, 7, ps);
    check_bcast(2, 3, 1, ps);
    check_bcast(3, 130, 300, ps);  // rows of 300 over 256 threads; 130 channels: two column blocks
    check_bcast(2, 64, 1024, ps);   // 64 channels of 32x32, at batch 2
    if (test_failed()) return;
  }
}

static void check_chan_copy(int B, int HW, int src_C, int src_off, int dst_C, int dst_off, int nc) {
  Rng r;
  rng_seed(&r, 800 + B + HW + nc);
  Buf src = buf_randn(&r, (size_t)B * src_C * HW, 1), dst = buf_randn(&r, (size_t)B * dst_C * HW, 1);
  BOTH(be->chan_copy(be, B, nc, HW, ON(src), src_C, src_off, ON(dst), dst_C, dst_off, 0.0f));
  EXPECT_CLOSE(LABEL("chan_copy beta0 B%d HW%d %d[%d..] -> %d[%d..] nc%d", B, HW, src_C, src_off, dst_C, dst_off, nc), dst);
  BOTH(be->chan_copy(be, B, nc, HW, ON(src), src_C, src_off, ON(dst), dst_C, dst_off, 1.0f));
  EXPECT_CLOSE(LABEL("chan_copy beta1 B%d HW%d %d[%d..] -> %d[%d..] nc%d", B, HW, src_C, src_off, dst_C, dst_off, nc), dst);
  BUF_FREE(src, dst);
}

// An odd slice, then the model's concat of 64 + 64 channels of 32x32 at batch B.
static void check_chan_copies(int B) {
  check_chan_copy(3, 9, 7, 2, 10, 5, 4);
  check_chan_copy(B, 1024, 64, 0, 128, 64, 64);  // concat's second half
  check_chan_copy(B, 1024, 128, 64, 64, 0, 64);  // its backward's slice
}

GPU_TEST(cuda_chan_copy) { if (have_backends()) check_chan_copies(64); }
TEST(cuda_emu_chan_copy) { if (have_emu()) check_chan_copies(2); }

static void check_upsample(int B, int C, int H, int W) {
  Rng r;
  rng_seed(&r, 900 + B + C + H + W);
  size_t n = (size_t)B * C * H * W;
  Buf x = buf_randn(&r, n, 1), y = buf_randn(&r, 4 * n, 1), dx = buf_randn(&r, n, 1);
  BOTH(be->upsample2x_fwd(be, B, C, H, W, ON(x), ON(y)));
  EXPECT_CLOSE(LABEL("upsample2x fwd B%d C%d %dx%d", B, C, H, W), y);
  for (int rep = 0; rep < 2; rep++) BOTH(be->upsample2x_bwd(be, B, C, H, W, ON(y), ON(dx)));
  EXPECT_CLOSE(LABEL("upsample2x bwd x2 B%d C%d %dx%d", B, C, H, W), dx);
  BUF_FREE(x, y, dx);
}

// Odd and single sizes, then B images of 64 channels of 16x16.
static void check_upsamples(int B) {
  check_upsample(3, 5, 7, 9);
  check_upsample(1, 1, 1, 1);
  check_upsample(B, 64, 16, 16);
}

GPU_TEST(cuda_upsample2x) { if (have_backends()) check_upsamples(64); }
TEST(cuda_emu_upsample2x) { if (have_emu()) check_upsamples(2); }

// ---- loss and optimiser ----

static void check_mse(int B, int D, int weighted) {
  Rng r;
  rng_seed(&r, 1000 + B + D);
  Buf pred = buf_randn(&r, (size_t)B * D, 1), target = buf_randn(&r, (size_t)B * D, 1);
  // dpred starts at the size of one step's gradient, so neither part hides the other.
  Buf w = buf_uniform(&r, B, 0.1f, 5.0f), loss = buf_randn(&r, B, 1);
  Buf dpred = buf_randn(&r, (size_t)B * D, 1.0f / ((float)B * D));
  for (int rep = 0; rep < 2; rep++)
    BOTH(be->mse_loss(be, B, D, ON(pred), ON(target), weighted ? ON(w) : NULL, ON(loss), ON(dpred)));
  EXPECT_CLOSE(LABEL("mse_loss loss B%d D%d %s", B, D, weighted ? "weighted" : "w=NULL"), loss);
  EXPECT_CLOSE(LABEL("mse_loss dpred x2 B%d D%d %s", B, D, weighted ? "weighted" : "w=NULL"), dpred);
  BUF_FREE(pred, target, w, loss, dpred);
}

// Odd and single sizes, then B images of 32x32x1 and 32x32x3.
static void check_mses(int B) {
  check_mse(5, 17, 1);
  check_mse(1, 1, 0);
  check_mse(B, 1024, 1);
  check_mse(B, 3072, 0);
}

GPU_TEST(cuda_mse_loss) { if (have_backends()) check_mses(64); }
TEST(cuda_emu_mse_loss) { if (have_emu()) check_mses(8); }

static void check_adamw_ema(size_t n) {
  Rng r;
  rng_seed(&r, 1100);
  Buf p = buf_randn(&r, n, 0.5f), m = buf_randn(&r, n, 0), v = buf_randn(&r, n, 0), e = buf_randn(&r, n, 0.5f);
  for (int step = 1; step <= 3; step++) {
    Buf g = buf_randn(&r, n, step == 2 ? 1e-3f : 1.0f);
    BOTH(be->adamw(be, n, ON(p), ON(g), ON(m), ON(v), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step));
    BOTH(be->ema(be, n, ON(e), ON(p), 0.999f));
    BUF_FREE(g);
  }
  EXPECT_CLOSE("adamw p (3 steps)", p);
  EXPECT_CLOSE("adamw m (3 steps)", m);
  EXPECT_CLOSE("adamw v (3 steps)", v);
  EXPECT_CLOSE("ema (3 steps)", e);
  BUF_FREE(p, m, v, e);
}

GPU_TEST(cuda_adamw_ema) {
  if (!have_backends()) return;
  check_adamw_ema(100003);
}

TEST(cuda_emu_adamw_ema) {
  if (!have_emu()) return;
  check_adamw_ema(20011);
}

static void check_sumsq(Rng *r, size_t n) {
  Buf x = buf_randn(r, n, 1);
  double a = ref_be->sumsq(ref_be, n, x.ref), b = gpu_be->sumsq(gpu_be, n, x.gpu);
  double e = fabs(b - a) / a;
  printf("    %-52s rel error    %.2e  (n = %zu)\n", "sumsq", e, n);
  ASSERTF(e <= TOL, "sumsq n %zu: %.17g vs %.17g", n, b, a);
  // The same input gives the same bits: the reduction order is fixed.
  ASSERT(gpu_be->sumsq(gpu_be, n, x.gpu) == b);
  BUF_FREE(x);
}

GPU_TEST(cuda_sumsq) { if (have_backends()) CHECK_SIZES(check_sumsq, 1200, 1, 1000, 1000003, (size_t)36 << 20); }
// The largest over all SUMSQ_BLOCKS blocks, looping.
TEST(cuda_emu_sumsq) { if (have_emu()) CHECK_SIZES(check_sumsq, 1200, 1, 1000, 300007); }

#ifndef STEPSCOPE_CUDA

TEST(cuda_backend) { test_skip("built without CUDA (nvcc or cuDNN not found, or CUDA=0)"); }

#endif
