// graph_cuda.cu — recording the stream's work as a CUDA graph and replaying it.
//
// Sampling calls the same forward hundreds of times with the same shapes and pointers, and
// training the same forward and backward; at small batches issuing their hundreds of kernels
// one by one costs more than running them. Recorded once (stream capture) and instantiated,
// the work replays as a single launch.
//
// Capture runs in thread-local mode: a call that cannot be recorded (a synchronous copy, a
// cudaMalloc, a library call that refuses) made by this thread fails the capture, which
// capture_end reports by returning NULL after saying why; the caller then runs without
// graphs. Other threads' calls that could break the capture wait for it on cuda_lock().
#include "cuda_common.cuh"

// A BackendGraph is the executable graph's own handle (the type stays opaque to the engine).
static BackendGraph *as_backend_graph(cudaGraphExec_t exec) { return (BackendGraph *)exec; }
static cudaGraphExec_t exec_of(BackendGraph *g) { return (cudaGraphExec_t)g; }

// This thread's recording: on, and the first checked call that failed during it.
static __thread int capturing;
static __thread char capture_failure[400];

void cuda_check_failed(const char *what, const char *detail, const char *call, const char *file, int line) {
  if (!capturing) cuda_fatal(what, detail, call, file, line);
  if (!capture_failure[0])
    snprintf(capture_failure, sizeof capture_failure, "%s: %s in %s at %s:%d", what, detail, call, file, line);
}

static int cu_capture_begin(Backend *be) {
  CudaCtx *c = cuda_ctx(be);
  cuda_lock();  // held until capture_end: no other thread may synchronise the device meanwhile
  cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    cuda_unlock();
    fprintf(stderr, "stepscope: cannot record a CUDA graph (%s); running without graphs\n", cudaGetErrorString(e));
    (void)cudaGetLastError();  // clear it, so the next checked call does not report it
    return -1;
  }
  capturing = 1;
  capture_failure[0] = 0;
  return 0;
}

static BackendGraph *cu_capture_end(Backend *be) {
  CudaCtx *c = cuda_ctx(be);
  cudaGraph_t g = NULL;
  cudaGraphExec_t exec = NULL;
  const char *failed = "cudaStreamEndCapture";
  capturing = 0;
  cudaError_t e = cudaStreamEndCapture(c->stream, &g);
  if (e == cudaSuccess && !capture_failure[0]) {
    failed = "cudaGraphInstantiate";
    e = cudaGraphInstantiate(&exec, g, 0);
  }
  if (g) cudaGraphDestroy(g);  // the executable graph keeps what it needs
  cuda_unlock();
  if (e != cudaSuccess || capture_failure[0]) {
    if (exec) cudaGraphExecDestroy(exec);
    if (!capture_failure[0]) snprintf(capture_failure, sizeof capture_failure, "%s: %s", failed, cudaGetErrorString(e));
    fprintf(stderr, "stepscope: recording a CUDA graph failed (%s); running without graphs\n", capture_failure);
    (void)cudaGetLastError();
    return NULL;
  }
  return as_backend_graph(exec);
}

static void cu_graph_launch(Backend *be, BackendGraph *g) {
  CUDA_CHECK(cudaGraphLaunch(exec_of(g), cuda_ctx(be)->stream));
}

static void cu_graph_destroy(Backend *be, BackendGraph *g) {
  if (!g) return;
  CUDA_CHECK(cudaStreamSynchronize(cuda_ctx(be)->stream));  // a replay may still be running
  CUDA_CHECK(cudaGraphExecDestroy(exec_of(g)));
}

void cuda_install_graph(Backend *be) {
  be->capture_begin = cu_capture_begin;
  be->capture_end = cu_capture_end;
  be->graph_launch = cu_graph_launch;
  be->graph_destroy = cu_graph_destroy;
}
