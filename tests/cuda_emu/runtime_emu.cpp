// runtime_emu.cpp — the emulator's runtime: device memory, streams, stream capture and graphs,
// errors. cuda_emu.h says what is emulated and what CUDA rule each refusal stands for.
#include "tests/cuda_emu/cuda_emu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace cuda_emu {

// ---- errors ----

static thread_local cudaError_t last_error = cudaSuccess;

cudaError_t set_error(cudaError_t e) { return last_error = e; }

cudaError_t take_error(void) {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

// ---- fault injection ----

static pthread_mutex_t inject_lock = PTHREAD_MUTEX_INITIALIZER;
static std::map<std::string, unsigned long long> call_counts;
static std::string armed;
static int armed_nth;

bool injected_failure(const char *call) {
  pthread_mutex_lock(&inject_lock);
  call_counts[call]++;
  bool fail = armed_nth > 0 && armed == call && --armed_nth == 0;
  pthread_mutex_unlock(&inject_lock);
  if (fail) fprintf(stderr, "cuda_emu: %s fails, as the test asked\n", call);
  return fail;
}

const char *error_string(cudaError_t e) {
  switch (e) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
  case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
  case cudaErrorLaunchFailure: return "unspecified launch failure";
  case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
  case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
  case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
  }
  return "unknown error";
}

// ---- device memory ----
// Device memory is not host memory. cudaMalloc reserves an address range that host code can
// never touch (PROT_NONE: a host read or write through a device pointer faults, as on a GPU)
// and keeps the data in a second, private mapping, its shadow. The emulated device (an Op
// running) translates each device pointer it is given to the shadow, checking on the way that
// it lies in live device memory. A freed block keeps its address range, reserved and
// inaccessible, and loses its shadow: a stale pointer is named, never mistaken for a new block.

struct Alloc {
  size_t bytes, mapped;
  char *shadow;  // NULL once freed
};
static std::map<uintptr_t, Alloc> allocs;  // by device address
static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t live_bytes;  // in blocks not yet freed

// The emulated device's memory: 16 GiB, or STEPSCOPE_EMU_DEVICE_MEMORY (bytes, or with a
// K, M or G suffix), so that tests can see what running out of it does.
static size_t device_memory(void) {
  static size_t total;
  if (!total) {
    total = (size_t)16 << 30;
    const char *env = getenv("STEPSCOPE_EMU_DEVICE_MEMORY");
    char *end;
    double v = env ? strtod(env, &end) : 0;
    if (env && v > 0) {
      const char *units = "KMG";
      const char *u = *end ? strchr(units, *end) : NULL;
      total = (size_t)(v * (u ? (double)(1ull << (10 * (u - units + 1))) : 1.0));
    }
  }
  return total;
}
enum : size_t { PAGE = 4096, POISON_LIMIT = (size_t)64 << 20 };

// The emulated device runs one operation at a time, whichever thread queued it. Recursive: a
// graph replay runs the operations it holds.
static pthread_mutex_t device_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
DeviceAccess::DeviceAccess() { pthread_mutex_lock(&device_lock); }
DeviceAccess::~DeviceAccess() { pthread_mutex_unlock(&device_lock); }

// The allocation whose range [start, start + bytes] holds p (its end included), or NULL.
static const Alloc *owner_of(const void *p, uintptr_t *start) {
  auto it = allocs.upper_bound((uintptr_t)p);
  if (it == allocs.begin()) return NULL;
  --it;
  if ((uintptr_t)p > it->first + it->second.bytes) return NULL;
  *start = it->first;
  return &it->second;
}

bool is_device(const void *p) {
  pthread_mutex_lock(&mem_lock);
  uintptr_t start;
  const Alloc *a = owner_of(p, &start);
  bool ok = a && a->shadow;
  pthread_mutex_unlock(&mem_lock);
  return ok;
}

void *shadow_of(const void *p, size_t bytes, const char *what, int arg) {
  pthread_mutex_lock(&mem_lock);
  uintptr_t start = 0;
  const Alloc *a = owner_of(p, &start);
  Alloc copy = a ? *a : Alloc{0, 0, NULL};
  pthread_mutex_unlock(&mem_lock);
  if (a && copy.shadow && (uintptr_t)p + bytes <= start + copy.bytes) return copy.shadow + ((uintptr_t)p - start);
  char where[200];
  if (arg >= 0) snprintf(where, sizeof where, "argument %d of kernel %s", arg, what);
  else snprintf(where, sizeof where, "%s", what);
  if (!a)
    fprintf(stderr, "cuda_emu: %s: %p is not device memory\n", where, p);
  else if (!copy.shadow)
    fprintf(stderr, "cuda_emu: %s: %p points into memory that cudaFree released\n", where, p);
  else
    fprintf(stderr, "cuda_emu: %s: %zu bytes at offset %zu run past the end of an allocation of %zu bytes\n", where,
            bytes, (size_t)((uintptr_t)p - start), copy.bytes);
  set_error(cudaErrorIllegalAddress);
  return NULL;
}

bool check_device(const void *p, size_t bytes, const char *what) { return shadow_of(p, bytes, what, -1) != NULL; }

cudaError_t device_malloc(void **p, size_t bytes) {
  *p = NULL;
  if (refused_in_capture("cudaMalloc")) return set_error(cudaErrorStreamCaptureUnsupported);
  size_t mapped = (bytes + PAGE - 1) / PAGE * PAGE;
  if (!mapped) mapped = PAGE;
  pthread_mutex_lock(&mem_lock);
  const bool fits = live_bytes + mapped <= device_memory();
  if (fits) live_bytes += mapped;
  pthread_mutex_unlock(&mem_lock);
  if (!fits) return set_error(cudaErrorMemoryAllocation);
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  void *dev = mmap(NULL, mapped, PROT_NONE, flags, -1, 0);
  void *shadow = mmap(NULL, mapped, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (dev == MAP_FAILED || shadow == MAP_FAILED) {
    if (dev != MAP_FAILED) munmap(dev, mapped);
    if (shadow != MAP_FAILED) munmap(shadow, mapped);
    pthread_mutex_lock(&mem_lock);
    live_bytes -= mapped;
    pthread_mutex_unlock(&mem_lock);
    return set_error(cudaErrorMemoryAllocation);
  }
  // Every float a NaN, as nothing zeroes cudaMalloc's memory on a GPU: a kernel that reads what
  // nobody wrote shows it. (Larger blocks, the backend's arena chunks, are left as the kernel
  // maps them, so that reserving them costs no time; the arena zeroes what it hands out.)
  if (bytes <= POISON_LIMIT) memset(shadow, 0xff, bytes);
  pthread_mutex_lock(&mem_lock);
  allocs[(uintptr_t)dev] = Alloc{bytes, mapped, (char *)shadow};
  pthread_mutex_unlock(&mem_lock);
  *p = dev;
  return cudaSuccess;
}

static bool refused_during_any_capture(const char *call);

cudaError_t device_free(void *p) {
  if (!p) return cudaSuccess;
  if (refused_in_capture("cudaFree") || refused_during_any_capture("cudaFree"))
    return set_error(cudaErrorStreamCaptureUnsupported);
  pthread_mutex_lock(&mem_lock);
  auto it = allocs.find((uintptr_t)p);
  cudaError_t e = cudaSuccess;
  if (it == allocs.end() || !it->second.shadow) {
    fprintf(stderr, "cuda_emu: cudaFree(%p): %s\n", p, it == allocs.end() ? "not an allocation" : "freed twice");
    e = cudaErrorInvalidValue;
  } else {
    munmap(it->second.shadow, it->second.mapped);  // the data goes; the addresses stay reserved
    it->second.shadow = NULL;
    live_bytes -= it->second.mapped;
  }
  pthread_mutex_unlock(&mem_lock);
  return e == cudaSuccess ? e : set_error(e);
}

cudaError_t mem_get_info(size_t *free_bytes, size_t *total_bytes) {
  pthread_mutex_lock(&mem_lock);
  *total_bytes = device_memory();
  *free_bytes = *total_bytes - live_bytes;
  pthread_mutex_unlock(&mem_lock);
  return cudaSuccess;
}

cudaError_t get_device_properties(cudaDeviceProp *p, int device) {
  if (device != 0) return set_error(cudaErrorInvalidValue);
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "cuda_emu (the CPU)");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = device_memory();
  return cudaSuccess;
}

// ---- streams and capture ----

struct Stream {  // blocking or not makes no difference here: the legacy stream never runs alongside
  bool capturing;
  std::atomic<bool> invalid;  // another thread's cudaFree may void the capture
  cudaStreamCaptureMode mode;
  pthread_t owner;  // the thread that began the capture
  std::vector<std::unique_ptr<Op>> recorded;
};

struct Graph {
  std::shared_ptr<std::vector<std::unique_ptr<Op>>> ops;
};
struct GraphExec {
  std::shared_ptr<std::vector<std::unique_ptr<Op>>> ops;  // shared with the graph: both may go in any order
};

static thread_local Stream *my_capture;  // the stream this thread is capturing, if any
static std::set<Stream *> captures;      // every stream being captured, by any thread
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;  // guards `captures`

static void void_capture(Stream *s, const char *call) {
  s->invalid = true;
  fprintf(stderr, "cuda_emu: %s during a stream capture: the capture is void\n", call);
}

bool thread_is_capturing(void) { return my_capture != NULL; }

bool refused_in_capture(const char *call) {
  if (!my_capture) return false;
  void_capture(my_capture, call);
  return true;
}

// Calls that wait for the whole device cannot wait for a stream that records instead of running.
static bool refused_during_any_capture(const char *call) {
  pthread_mutex_lock(&capture_lock);
  bool any = !captures.empty();
  for (Stream *s : captures) void_capture(s, call);
  pthread_mutex_unlock(&capture_lock);
  return any;
}

// The device's own clock, in made-up milliseconds: each op advances it by what it says it
// costs, and events read it (so an emulated timing compares ops as their costs say).
static double device_clock_ms;  // touched only inside a DeviceAccess

static void run_on_device(Op &op) {
  op.run();
  device_clock_ms += op.cost_ms();
}

cudaError_t submit(cudaStream_t s, Op *op) {
  std::unique_ptr<Op> o(op);
  if (s && s->capturing) {
    if (s->invalid) return cudaErrorStreamCaptureInvalidated;
    s->recorded.push_back(std::move(o));
    // Recording costs nothing here, so a capture would be over before another thread could
    // get in: let the others run, so that what they do inside a capture window is seen.
    usleep(20);
    return cudaSuccess;
  }
  DeviceAccess device;
  run_on_device(*o);
  return cudaSuccess;
}

cudaError_t stream_create(cudaStream_t *s, unsigned flags) {
  *s = new Stream();
  return cudaSuccess;
}

cudaError_t stream_destroy(cudaStream_t s) {
  if (!s) return set_error(cudaErrorInvalidResourceHandle);
  if (s->capturing) return set_error(cudaErrorIllegalState);
  delete s;
  return cudaSuccess;
}

cudaError_t stream_synchronize(cudaStream_t s) {
  if (s && s->capturing) {
    void_capture(s, "cudaStreamSynchronize of the capturing stream");
    return set_error(cudaErrorStreamCaptureUnsupported);
  }
  if (!s && refused_in_capture("cudaStreamSynchronize of the legacy stream"))
    return set_error(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;  // nothing queued is ever left waiting
}

cudaError_t device_synchronize(void) {
  if (refused_in_capture("cudaDeviceSynchronize") || refused_during_any_capture("cudaDeviceSynchronize"))
    return set_error(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}

cudaError_t begin_capture(cudaStream_t s, cudaStreamCaptureMode mode) {
  if (injected_failure("cudaStreamBeginCapture")) return set_error(cudaErrorIllegalState);
  if (!s) return set_error(cudaErrorStreamCaptureUnsupported);  // not on the legacy stream
  if (s->capturing || my_capture) return set_error(cudaErrorIllegalState);
  s->capturing = true;
  s->invalid = false;
  s->mode = mode;
  s->owner = pthread_self();
  s->recorded.clear();
  if (mode != cudaStreamCaptureModeRelaxed) my_capture = s;
  pthread_mutex_lock(&capture_lock);
  captures.insert(s);
  pthread_mutex_unlock(&capture_lock);
  return cudaSuccess;
}

cudaError_t end_capture(cudaStream_t s, cudaGraph_t *g) {
  *g = NULL;
  if (!s || !s->capturing) return set_error(cudaErrorIllegalState);
  if (s->mode != cudaStreamCaptureModeRelaxed && !pthread_equal(s->owner, pthread_self())) {
    void_capture(s, "cudaStreamEndCapture from another thread");
    return set_error(cudaErrorStreamCaptureWrongThread);
  }
  pthread_mutex_lock(&capture_lock);
  captures.erase(s);
  pthread_mutex_unlock(&capture_lock);
  s->capturing = false;
  if (my_capture == s) my_capture = NULL;
  if (s->invalid) {
    s->recorded.clear();
    return set_error(cudaErrorStreamCaptureInvalidated);
  }
  Graph *graph = new Graph;
  graph->ops = std::make_shared<std::vector<std::unique_ptr<Op>>>(std::move(s->recorded));
  s->recorded.clear();
  *g = graph;
  return cudaSuccess;
}

cudaError_t graph_instantiate(cudaGraphExec_t *e, cudaGraph_t g) {
  *e = NULL;
  if (injected_failure("cudaGraphInstantiate")) return set_error(cudaErrorInvalidValue);
  if (!g) return set_error(cudaErrorInvalidValue);
  *e = new GraphExec{g->ops};
  return cudaSuccess;
}

namespace {
struct Replay : Op {
  std::shared_ptr<std::vector<std::unique_ptr<Op>>> ops;
  void run() override {
    for (auto &op : *ops) run_on_device(*op);
  }
  double cost_ms() const override { return 0; }  // its ops count their own
};
}  // namespace

cudaError_t graph_launch(cudaGraphExec_t e, cudaStream_t s) {
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  if (s && s->capturing) return set_error(cudaErrorStreamCaptureUnsupported);  // graphs in graphs: not emulated
  Replay *r = new Replay;
  r->what = "cudaGraphLaunch";
  r->ops = e->ops;
  return submit(s, r);
}

cudaError_t graph_destroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}

cudaError_t graph_exec_destroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}

// ---- events ----

struct Event {
  bool recorded;
  double at_ms;  // the device clock when the event ran
};

namespace {
struct Stamp : Op {
  Event *e;
  void run() override { e->recorded = true, e->at_ms = device_clock_ms; }
  double cost_ms() const override { return 0; }
};
}  // namespace

cudaError_t event_create(cudaEvent_t *e) {
  *e = new Event{};
  return cudaSuccess;
}

cudaError_t event_destroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}

cudaError_t event_record(cudaEvent_t e, cudaStream_t s) {
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  Stamp *st = new Stamp;
  st->what = "cudaEventRecord";
  st->e = e;
  return submit(s, st);
}

cudaError_t event_synchronize(cudaEvent_t e) {
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  if (refused_in_capture("cudaEventSynchronize")) return set_error(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;  // what was queued before it has run
}

cudaError_t event_elapsed_time(float *ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start || !end || !start->recorded || !end->recorded) return set_error(cudaErrorInvalidResourceHandle);
  *ms = (float)(end->at_ms - start->at_ms);
  return cudaSuccess;
}

// ---- copies and memsets ----

namespace {
struct Copy : Op {
  void *dst;
  const void *src;
  size_t bytes;
  bool dst_dev, src_dev;
  void run() override {
    void *d = dst_dev ? shadow_of(dst, bytes, what) : dst;
    const void *s = src_dev ? shadow_of(src, bytes, what) : src;
    if (d && s) memmove(d, s, bytes);
  }
};
struct Set : Op {
  void *p;
  int v;
  size_t bytes;
  void run() override {
    if (void *d = shadow_of(p, bytes, what)) memset(d, v, bytes);
  }
};
}  // namespace

// The direction a copy claims must be the one its pointers have.
static cudaError_t copy_sides(void *dst, const void *src, cudaMemcpyKind kind, bool *dst_dev, bool *src_dev) {
  bool dd = is_device(dst), sd = is_device(src);
  switch (kind) {
  case cudaMemcpyHostToHost: *dst_dev = *src_dev = false; break;
  case cudaMemcpyHostToDevice: *dst_dev = true, *src_dev = false; break;
  case cudaMemcpyDeviceToHost: *dst_dev = false, *src_dev = true; break;
  case cudaMemcpyDeviceToDevice: *dst_dev = *src_dev = true; break;
  case cudaMemcpyDefault: *dst_dev = dd, *src_dev = sd; break;
  default: return set_error(cudaErrorInvalidValue);
  }
  if ((*dst_dev && !dd) || (*src_dev && !sd) || (!*dst_dev && dd) || (!*src_dev && sd)) {
    fprintf(stderr, "cuda_emu: cudaMemcpy of kind %d from %s to %s memory\n", (int)kind, sd ? "device" : "host",
            dd ? "device" : "host");
    return set_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t memcpy_async(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (injected_failure("cudaMemcpyAsync")) return set_error(cudaErrorLaunchFailure);
  if (!bytes) return cudaSuccess;
  Copy *c = new Copy;
  c->what = "cudaMemcpyAsync";
  c->dst = dst, c->src = src, c->bytes = bytes;
  cudaError_t e = copy_sides(dst, src, kind, &c->dst_dev, &c->src_dev);
  // Ranges are checked at the call, as CUDA checks them (and again when the copy runs).
  if (e == cudaSuccess && ((c->dst_dev && !check_device(dst, bytes, "cudaMemcpyAsync: destination")) ||
                           (c->src_dev && !check_device(src, bytes, "cudaMemcpyAsync: source"))))
    e = set_error(cudaErrorInvalidValue);
  if (e == cudaSuccess && s && s->capturing && !(c->dst_dev && c->src_dev)) {
    void_capture(s, "cudaMemcpyAsync between pageable host memory and the device");
    e = set_error(cudaErrorStreamCaptureUnsupported);
  }
  if (e != cudaSuccess) {
    delete c;
    return e;
  }
  return submit(s, c);
}

cudaError_t memset_async(void *p, int v, size_t bytes, cudaStream_t s) {
  if (!bytes) return cudaSuccess;
  if (!check_device(p, bytes, "cudaMemsetAsync")) return set_error(cudaErrorInvalidValue);
  Set *m = new Set;
  m->what = "cudaMemsetAsync";
  m->p = p, m->v = v, m->bytes = bytes;
  return submit(s, m);
}

cudaError_t memcpy_sync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
  if (refused_in_capture("cudaMemcpy")) return set_error(cudaErrorStreamCaptureUnsupported);
  return memcpy_async(dst, src, bytes, kind, NULL);
}

cudaError_t memset_sync(void *p, int v, size_t bytes) {
  if (refused_in_capture("cudaMemset")) return set_error(cudaErrorStreamCaptureUnsupported);
  return memset_async(p, v, bytes, NULL);
}

}  // namespace cuda_emu

using namespace cuda_emu;

extern "C" void cuda_emu_fail_call(const char *call, int nth) {
  pthread_mutex_lock(&inject_lock);
  armed = call ? call : "";
  armed_nth = call ? nth : 0;
  pthread_mutex_unlock(&inject_lock);
}

extern "C" unsigned long long cuda_emu_calls(const char *call) {
  pthread_mutex_lock(&inject_lock);
  auto it = call_counts.find(call);
  unsigned long long n = it == call_counts.end() ? 0 : it->second;
  pthread_mutex_unlock(&inject_lock);
  return n;
}
