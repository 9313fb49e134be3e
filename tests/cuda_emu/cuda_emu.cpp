// cuda_emu.cpp — the emulator's scheduler: blocks in turn, the threads of a block as fibers.
//
// A fiber is a stack and a saved stack pointer. On x86-64 switching is a dozen instructions of
// our own (push the callee-saved registers, swap stack pointers, pop, return): glibc's
// swapcontext also saves the signal mask, a system call per switch, and a block reduction
// switches several times per thread. Elsewhere ucontext does the job, slower
// (-DCUDA_EMU_UCONTEXT forces it, to test that path).
//
// Scheduling. The scheduler (on the launching thread's own stack) resumes one runnable fiber;
// it runs until it waits at a barrier or returns. Threads are ranked by a permutation drawn
// anew for every block, and one of three orders is drawn with it:
//   - the lowest-ranked runnable thread runs (a random permutation of threads);
//   - the same, with whole warps ranked (lanes shuffled within): some warps run far ahead of
//     others, as on a GPU, which catches a write that should have waited for slower warps;
//   - a runnable thread drawn at random at every switch (fine-grained interleaving).
// All from one seeded generator: a failing schedule is replayed by running the same test again.
#include "tests/cuda_emu/cuda_emu.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if !defined(__x86_64__) && !defined(CUDA_EMU_UCONTEXT)
#define CUDA_EMU_UCONTEXT
#endif
#ifdef CUDA_EMU_UCONTEXT
#include <ucontext.h>
#endif

namespace cuda_emu {

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

enum { MAX_THREADS = 1024, MAX_WARPS = MAX_THREADS / 32 };
enum { STACK_BYTES = 64 << 10 };  // kernels use a few hundred bytes; printf in one, a few KiB
enum State : unsigned char { RUNNABLE, AT_SYNCTHREADS, AT_WARP, RETURNED };

struct Fiber {
#ifdef CUDA_EMU_UCONTEXT
  ucontext_t uc;
#else
  void *sp;  // saved stack pointer while the fiber is switched out
#endif
  State state;
  const char *waits_at;  // the barrier's name, for the deadlock report
};

// One warp's exchange: in[] as the lanes arrive, out[] once all 32 have.
struct Warp {
  int arrived, returned;
  uint64_t in[32], out[32];
  unsigned char src[32];
};

enum Order { LOWEST_RANK, RANDOM_PICK };

static pthread_mutex_t launch_lock = PTHREAD_MUTEX_INITIALIZER;  // one launch at a time

// The running launch (emulated launches are serialised by launch_lock).
static struct {
  int in_kernel;
  // the launch
  const char *kernel;
  dim3 grid, block;
  void (*thread)(const void *);
  const void *arg;
  // the block that runs
  int n, done, at_syncthreads, cur;
  Fiber fiber[MAX_THREADS];
  Warp warp[MAX_WARPS];
  uint16_t tid_at[MAX_THREADS];      // rank -> thread
  uint16_t rank_of[MAX_THREADS];     // thread -> rank
  uint64_t ready[MAX_THREADS / 64];  // runnable threads, by rank
  Order order;
#ifdef CUDA_EMU_UCONTEXT
  ucontext_t sched;
#else
  void *sched_sp;
#endif
  char *stacks;
  // the schedule
  uint64_t seed, rng, launches;
  int seeded, in_order;
  unsigned long long threads_run;
} S;

// ---- context switching ----

#ifndef CUDA_EMU_UCONTEXT
// cuda_emu_switch(&save, to): saves the callee-saved registers on the current stack, stores
// the stack pointer in save, switches to the stack `to` and pops what was saved there.
extern "C" void cuda_emu_switch(void **save, void *to);
asm(R"(
  .text
  .p2align 4
  .globl cuda_emu_switch
  .hidden cuda_emu_switch
  .type cuda_emu_switch, @function
cuda_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cuda_emu_switch, .-cuda_emu_switch
)");
#endif

[[noreturn]] static void fiber_main(void);

static char *stack_of(int t) { return S.stacks + (size_t)t * (STACK_BYTES + 4096) + 4096; }

// Stacks for every thread a block can have, each above a guard page (an overflow faults
// instead of writing into its neighbour). Reserved once; pages are touched only when used.
static void reserve_stacks(void) {
  if (S.stacks) return;
  size_t bytes = (size_t)MAX_THREADS * (STACK_BYTES + 4096);
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    perror("cuda_emu: mmap of the fiber stacks");
    abort();
  }
  S.stacks = (char *)p;
  for (int t = 0; t < MAX_THREADS; t++) mprotect(stack_of(t) - 4096, 4096, PROT_NONE);
}

// Makes thread t start at fiber_main when it is next resumed.
static void fiber_start(int t) {
#ifdef CUDA_EMU_UCONTEXT
  ucontext_t *uc = &S.fiber[t].uc;
  getcontext(uc);
  uc->uc_stack.ss_sp = stack_of(t);
  uc->uc_stack.ss_size = STACK_BYTES;
  uc->uc_link = NULL;
  makecontext(uc, (void (*)(void))fiber_main, 0);
#else
  // The frame cuda_emu_switch pops: six registers, then fiber_main as the return address. Above
  // it a zero stands where fiber_main's own return address would be (it never returns); the
  // stack pointer then sits 8 bytes below a 16-byte boundary, as at any function's entry.
  uint64_t *top = (uint64_t *)(stack_of(t) + STACK_BYTES);
  top[-1] = 0;
  top[-2] = (uint64_t)(uintptr_t)&fiber_main;
  for (int i = 3; i <= 8; i++) top[-i] = 0;
  S.fiber[t].sp = top - 8;
#endif
}

static void resume(int t) {
  S.cur = t;
  threadIdx = uint3{(unsigned)t, 0, 0};
#ifdef CUDA_EMU_UCONTEXT
  swapcontext(&S.sched, &S.fiber[t].uc);
#else
  cuda_emu_switch(&S.sched_sp, S.fiber[t].sp);
#endif
}

static void yield(void) {
#ifdef CUDA_EMU_UCONTEXT
  swapcontext(&S.fiber[S.cur].uc, &S.sched);
#else
  cuda_emu_switch(&S.fiber[S.cur].sp, S.sched_sp);
#endif
}

// ---- the schedule ----

static uint64_t next_random(void) {  // splitmix64
  uint64_t z = (S.rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void set_ready(int t) { int r = S.rank_of[t]; S.ready[r / 64] |= 1ull << (r % 64); }
static void clear_ready(int t) { int r = S.rank_of[t]; S.ready[r / 64] &= ~(1ull << (r % 64)); }

// Ranks the n threads of the next block and draws how the runnable ones are picked.
static void draw_order(int n) {
  for (int t = 0; t < n; t++) S.tid_at[t] = (uint16_t)t;
  if (S.in_order) {
    S.order = LOWEST_RANK;
  } else {
    uint64_t kind = next_random() % 3;
    S.order = kind == 2 ? RANDOM_PICK : LOWEST_RANK;
    if (kind == 1 && n % 32 == 0) {  // whole warps in a random order, lanes shuffled within each
      int nw = n / 32, wperm[MAX_WARPS];
      for (int w = 0; w < nw; w++) wperm[w] = w;
      for (int w = nw - 1; w > 0; w--) {
        int j = (int)(next_random() % (uint64_t)(w + 1)), x = wperm[w];
        wperm[w] = wperm[j], wperm[j] = x;
      }
      for (int w = 0; w < nw; w++) {
        uint16_t *lanes = S.tid_at + w * 32;
        for (int l = 0; l < 32; l++) lanes[l] = (uint16_t)(wperm[w] * 32 + l);
        for (int l = 31; l > 0; l--) {
          int j = (int)(next_random() % (uint64_t)(l + 1));
          uint16_t x = lanes[l];
          lanes[l] = lanes[j], lanes[j] = x;
        }
      }
    } else {
      for (int i = n - 1; i > 0; i--) {
        int j = (int)(next_random() % (uint64_t)(i + 1));
        uint16_t x = S.tid_at[i];
        S.tid_at[i] = S.tid_at[j], S.tid_at[j] = x;
      }
    }
  }
  for (int r = 0; r < n; r++) S.rank_of[S.tid_at[r]] = (uint16_t)r;
}

// The next thread to resume, or -1 when none can run.
static int pick(void) {
  const int words = (S.n + 63) / 64;
  int start = 0;
  if (S.order == RANDOM_PICK) {
    int r = (int)(next_random() % (uint64_t)S.n), w = r / 64;
    uint64_t bits = S.ready[w] & (~0ull << (r % 64));
    if (bits) return S.tid_at[w * 64 + __builtin_ctzll(bits)];
    start = w + 1;
  }
  for (int i = 0; i < words; i++) {
    int w = (start + i) % words;
    if (S.ready[w]) return S.tid_at[w * 64 + __builtin_ctzll(S.ready[w])];
  }
  return -1;
}

// ---- failures ----

[[noreturn]] static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  fprintf(stderr, "cuda_emu: %s<<<%u, %u>>>, block %u: ", S.kernel, S.grid.x, S.block.x, blockIdx.x);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n  (schedule: seed %llu, launch %llu since seeding)\n", (unsigned long long)S.seed,
          (unsigned long long)S.launches);
  fflush(stderr);
  abort();
}

static const char *state_name(int t) {  // compared with strcmp: each unit has its own copy of a name
  switch (S.fiber[t].state) {
  case RUNNABLE: return "runnable";
  case RETURNED: return "returned";
  default: return S.fiber[t].waits_at;
  }
}

// No thread can run and some have not returned: prints who waits where, then aborts.
[[noreturn]] static void deadlock(void) {
  int waiting_warp = 0;
  for (int t = 0; t < S.n; t++) waiting_warp += S.fiber[t].state == AT_WARP;
  fprintf(stderr, "cuda_emu: deadlock in %s<<<%u, %u>>>, block %u: no thread can go on. %d threads wait at "
          "__syncthreads, %d at a warp barrier (shuffle or __syncwarp), %d returned.\n",
          S.kernel, S.grid.x, S.block.x, blockIdx.x, S.at_syncthreads, waiting_warp, S.done);
  int shown = 0;
  for (int w = 0; w * 32 < S.n && shown < 8; w++) {
    int t0 = w * 32, t1 = t0 + 32 < S.n ? t0 + 32 : S.n, mixed = 0;
    for (int t = t0 + 1; t < t1; t++) mixed |= strcmp(state_name(t), state_name(t0)) != 0;
    if (!mixed && S.fiber[t0].state != AT_WARP) continue;  // a warp all at one block barrier says little
    fprintf(stderr, "  warp %d:", w);
    for (int t = t0; t < t1;) {
      int e = t;
      while (e + 1 < t1 && !strcmp(state_name(e + 1), state_name(t))) e++;
      fprintf(stderr, " threads %d-%d %s%s", t, e, S.fiber[t].state == RETURNED ? "" : "at ", state_name(t));
      fprintf(stderr, e + 1 < t1 ? "," : "\n");
      t = e + 1;
    }
    shown++;
  }
  fprintf(stderr, "  A barrier that not every thread reaches: a __syncthreads or a shuffle under a branch that "
          "differs between threads?\n  (schedule: seed %llu, launch %llu since seeding)\n",
          (unsigned long long)S.seed, (unsigned long long)S.launches);
  fflush(stderr);
  abort();
}

// ---- barriers ----

static void wait_here(State st, const char *what) {
  Fiber *f = &S.fiber[S.cur];
  f->state = st;
  f->waits_at = what;
  clear_ready(S.cur);
}

static void release_block_barrier(void) {
  for (int t = 0; t < S.n; t++)
    if (S.fiber[t].state == AT_SYNCTHREADS) {
      S.fiber[t].state = RUNNABLE;
      set_ready(t);
    }
  S.at_syncthreads = 0;
}

void __syncthreads(void) {
  if (!S.in_kernel) {
    fprintf(stderr, "cuda_emu: __syncthreads called outside a kernel\n");
    abort();
  }
  wait_here(AT_SYNCTHREADS, "__syncthreads");
  if (++S.at_syncthreads + S.done == S.n) release_block_barrier();
  yield();
}

uint64_t warp_exchange(unsigned mask, uint64_t bits, int src_lane, const char *what) {
  if (!S.in_kernel) {
    fprintf(stderr, "cuda_emu: %s called outside a kernel\n", what);
    abort();
  }
  const int t = S.cur, lane = t % 32;
  Warp *w = &S.warp[t / 32];
  if (mask != 0xffffffffu) fail("thread %d: %s with mask %#x; the emulator runs whole warps only", t, what, mask);
  if (S.n % 32) fail("thread %d: %s in a block of %d threads; warp operations need whole warps of 32", t, what, S.n);
  if (w->returned)
    fail("thread %d: %s while %d lanes of its warp have returned; full-mask warp operations need all 32", t, what,
         w->returned);
  w->in[lane] = bits;
  w->src[lane] = (unsigned char)src_lane;
  wait_here(AT_WARP, what);
  if (++w->arrived == 32) {
    const int t0 = t - lane;
    for (int l = 0; l < 32; l++) {
      w->out[l] = w->in[w->src[l]];
      S.fiber[t0 + l].state = RUNNABLE;
      set_ready(t0 + l);
    }
    w->arrived = 0;
  }
  yield();
  return w->out[lane];
}

[[noreturn]] static void thread_returned(void) {
  const int t = S.cur;
  Warp *w = &S.warp[t / 32];
  wait_here(RETURNED, "returned");
  S.done++;
  w->returned++;
  if (w->arrived) {
    const char *what = "a warp barrier";
    for (int l = t - t % 32; l < t - t % 32 + 32; l++)
      if (S.fiber[l].state == AT_WARP) what = S.fiber[l].waits_at;
    fail("thread %d returned while %d lanes of its warp wait at %s; full-mask warp operations need all 32", t,
         w->arrived, what);
  }
  if (S.at_syncthreads && S.at_syncthreads + S.done == S.n) release_block_barrier();
  yield();
  abort();  // a returned fiber is never resumed
}

static void fiber_main(void) {
  S.thread(S.arg);
  thread_returned();
}

// ---- launches ----

static void run_block(unsigned b) {
  blockIdx = uint3{b, 0, 0};
  const int n = S.n;
  S.done = S.at_syncthreads = 0;
  memset(S.warp, 0, sizeof(Warp) * ((n + 31) / 32));
  memset(S.ready, 0, sizeof S.ready);
  draw_order(n);
  for (int t = 0; t < n; t++) {
    S.fiber[t].state = RUNNABLE;
    fiber_start(t);
    set_ready(t);
  }
  for (int t; (t = pick()) >= 0;) resume(t);
  if (S.done != n) deadlock();
  S.threads_run += n;
}

bool config_ok(const char *kernel, dim3 grid, dim3 block) {
  if (grid.x == 0 || block.x == 0 || block.x > MAX_THREADS || grid.y * grid.z == 0 || block.x * block.y * block.z > MAX_THREADS) {
    set_error(cudaErrorInvalidConfiguration);
    return false;
  }
  if (grid.y != 1 || grid.z != 1 || block.y != 1 || block.z != 1) {
    fprintf(stderr, "cuda_emu: %s: 2-D and 3-D launches are not emulated\n", kernel);
    abort();
  }
  return true;
}

void run_grid(const char *kernel, dim3 grid, dim3 block, void (*thread)(const void *), const void *arg) {
  if (!config_ok(kernel, grid, block)) return;
  pthread_mutex_lock(&launch_lock);
  if (S.in_kernel) {
    fprintf(stderr, "cuda_emu: %s launched from inside %s (not emulated)\n", kernel, S.kernel);
    abort();
  }
  if (!S.seeded) cuda_emu_seed(1);
  reserve_stacks();
  S.in_kernel = 1;
  S.kernel = kernel;
  S.grid = grid;
  S.block = block;
  S.thread = thread;
  S.arg = arg;
  S.n = (int)block.x;
  S.launches++;
  gridDim = grid;
  blockDim = block;
  for (unsigned b = 0; b < grid.x; b++) run_block(b);
  S.in_kernel = 0;
  pthread_mutex_unlock(&launch_lock);
}

}  // namespace cuda_emu

using namespace cuda_emu;

extern "C" void cuda_emu_seed(unsigned long long seed) {
  const char *env = getenv("STEPSCOPE_EMU_SEED");
  S.seed = env && *env ? strtoull(env, NULL, 0) : seed;
  S.rng = S.seed;
  S.launches = 0;
  S.seeded = 1;
}

extern "C" void cuda_emu_in_order(int on) { S.in_order = on; }
extern "C" unsigned long long cuda_emu_threads_run(void) { return S.threads_run; }
