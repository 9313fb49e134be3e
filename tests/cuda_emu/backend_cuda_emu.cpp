// backend_cuda_emu.cpp — the emulated CUDA backend: our kernels under the emulator, everything
// else from the CPU reference backend.
//
// It plays the part of backend_cuda.cu for the emulated kernel files: the CudaCtx their host
// code reads (stream, scratch, the partials of sumsq), cuda_fatal and the process lock, all in
// namespace emulated beside them (emulated.h says why). Device memory is host memory, so the
// reference backend's alloc, copies, GEMM and convolutions work on the same pointers.
#include "tests/cuda_emu/emulated.h"
#include "tests/cuda_emu/backend_cuda_emu.h"

namespace emulated {

void cuda_fatal(const char *what, const char *detail, const char *call, const char *file, int line) {
  fprintf(stderr, "stepscope: %s error: %s\n  in %s\n  at %s:%d\n", what, detail, call, file, line);
  exit(1);
}

// Nothing is ever recorded here: every failure is fatal.
void cuda_check_failed(const char *what, const char *detail, const char *call, const char *file, int line) {
  cuda_fatal(what, detail, call, file, line);
}

static pthread_mutex_t process_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
void cuda_lock(void) { pthread_mutex_lock(&process_lock); }
void cuda_unlock(void) { pthread_mutex_unlock(&process_lock); }

// CudaCtx first, so that the kernel files' cuda_ctx(be) finds it at be->ctx.
struct EmuCtx {
  CudaCtx cuda;
  Backend *ref;  // the CPU reference backend: memory and the ops we do not emulate
};

static Backend *ref_of(Backend *be) { return ((EmuCtx *)be->ctx)->ref; }

static float *emu_alloc(Backend *be, size_t n) { Backend *r = ref_of(be); return r->alloc(r, n); }
static void emu_free(Backend *be, float *p) { Backend *r = ref_of(be); r->free(r, p); }
static void emu_upload(Backend *be, float *dst, const float *src, size_t n) {
  Backend *r = ref_of(be);
  r->upload(r, dst, src, n);
}
static void emu_download(Backend *be, float *dst, const float *src, size_t n) {
  Backend *r = ref_of(be);
  r->download(r, dst, src, n);
}
static void emu_copy(Backend *be, float *dst, const float *src, size_t n) {
  Backend *r = ref_of(be);
  r->copy(r, dst, src, n);
}
static void emu_sync(Backend *be) {}  // every emulated launch has finished when it returns
static void emu_gemm(Backend *be, int batch, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                     long strideA, const float *B, long strideB, float beta, float *C, long strideC) {
  Backend *r = ref_of(be);
  r->gemm(r, batch, transA, transB, M, N, K, alpha, A, strideA, B, strideB, beta, C, strideC);
}
static void emu_conv_fwd(Backend *be, const ConvDesc *d, const float *x, const float *w, const float *b, float *y) {
  Backend *r = ref_of(be);
  r->conv2d_fwd(r, d, x, w, b, y);
}
static void emu_conv_bwd_data(Backend *be, const ConvDesc *d, const float *dy, const float *w, float *dx) {
  Backend *r = ref_of(be);
  r->conv2d_bwd_data(r, d, dy, w, dx);
}
static void emu_conv_bwd_filter(Backend *be, const ConvDesc *d, const float *x, const float *dy, float *dw,
                                float *db) {
  Backend *r = ref_of(be);
  r->conv2d_bwd_filter(r, d, x, dy, dw, db);
}

static void emu_destroy(Backend *be) {
  if (!be) return;
  EmuCtx *e = (EmuCtx *)be->ctx;
  CudaCtx *c = &e->cuda;
  if (c->scratch) CUDA_CHECK(cudaFree(c->scratch));
  if (c->partials) CUDA_CHECK(cudaFree(c->partials));
  free(c->partials_host);
  e->ref->destroy(e->ref);
  free(e);
  free(be);
}

static Backend *create(void) {
  Backend *ref = backend_cpu_ref_create();
  if (!ref) return NULL;
  Backend *be = (Backend *)calloc(1, sizeof *be);
  EmuCtx *e = (EmuCtx *)calloc(1, sizeof *e);
  if (!be || !e) abort();
  e->ref = ref;
  CudaCtx *c = &e->cuda;
  c->deterministic = 1;
  c->stream = NULL;  // the emulator's launches and copies are synchronous: no stream needed
  CUDA_CHECK(cudaMalloc(&c->partials, SUMSQ_BLOCKS * sizeof(float)));
  c->partials_host = (float *)malloc(SUMSQ_BLOCKS * sizeof(float));
  if (!c->partials_host) abort();

  be->name = "cuda-emu";
  be->ctx = e;
  be->alloc = emu_alloc;
  be->free = emu_free;
  be->upload = emu_upload;
  be->download = emu_download;
  be->copy = emu_copy;
  be->sync = emu_sync;
  be->gemm = emu_gemm;
  be->conv2d_fwd = emu_conv_fwd;
  be->conv2d_bwd_data = emu_conv_bwd_data;
  be->conv2d_bwd_filter = emu_conv_bwd_filter;
  be->destroy = emu_destroy;
  cuda_install_ops(be);  // fill included
  cuda_install_groupnorm(be);
  cuda_install_optim(be);
  return be;
}

}  // namespace emulated

extern "C" Backend *backend_cuda_emu_create(void) { return emulated::create(); }
