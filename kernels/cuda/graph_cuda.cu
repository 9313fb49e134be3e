// graph_cuda.cu — recording the stream's work as a CUDA graph and replaying it.
//
// Sampling calls the same forward hundreds of times with the same shapes and pointers; at
// small batches issuing its ~150 kernels one by one costs more than running them. Recorded
// once (stream capture) and instantiated, the forward replays as a single launch.
//
// Capture runs in thread-local mode: a call that cannot be recorded (a synchronous copy, a
// cudaMalloc) made by this thread fails the capture, which capture_end reports by returning
// NULL after saying why; the caller then runs without graphs. Other threads' calls that could
// break the capture wait for it on cuda_lock().
#include "cuda_common.cuh"

struct BackendGraph {
  cudaGraphExec_t exec;
};

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
  return 0;
}

static BackendGraph *cu_capture_end(Backend *be) {
  CudaCtx *c = cuda_ctx(be);
  cudaGraph_t g = NULL;
  cudaGraphExec_t exec = NULL;
  cudaError_t e = cudaStreamEndCapture(c->stream, &g);
  if (e == cudaSuccess) e = cudaGraphInstantiate(&exec, g, 0);
  if (g) cudaGraphDestroy(g);  // the executable graph keeps what it needs
  cuda_unlock();
  if (e != cudaSuccess) {
    fprintf(stderr, "stepscope: recording a CUDA graph failed (%s); running without graphs\n", cudaGetErrorString(e));
    (void)cudaGetLastError();
    return NULL;
  }
  BackendGraph *bg = (BackendGraph *)xmalloc(sizeof *bg);
  bg->exec = exec;
  return bg;
}

static void cu_graph_launch(Backend *be, BackendGraph *g) {
  CUDA_CHECK(cudaGraphLaunch(g->exec, cuda_ctx(be)->stream));
}

static void cu_graph_destroy(Backend *be, BackendGraph *g) {
  if (!g) return;
  CUDA_CHECK(cudaStreamSynchronize(cuda_ctx(be)->stream));  // a replay may still be running
  CUDA_CHECK(cudaGraphExecDestroy(g->exec));
  free(g);
}

void cuda_install_graph(Backend *be) {
  be->capture_begin = cu_capture_begin;
  be->capture_end = cu_capture_end;
  be->graph_launch = cu_graph_launch;
  be->graph_destroy = cu_graph_destroy;
}
