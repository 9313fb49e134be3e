// arena_cuda.cu — device memory: a few big cudaMalloc'd chunks, carved up on the host.
//
// cudaMalloc/cudaFree are slow and synchronise the device, so the backend reserves memory in
// large chunks (the first at creation, each later one at least as large as all before it, so
// the arena doubles) and hands out 256-byte aligned blocks from them. Blocks live in one array
// sorted by address: alloc is best fit over the free blocks, free finds its block by binary
// search and merges it with free neighbours in the same chunk. Chunks go back only at destroy.
#include "cuda_common.cuh"

#define ALIGN 256
#define CHUNK_ROUND ((size_t)2 << 20)

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// Makes room for one more block at index i (shifting the rest up) and returns it.
static CudaArenaBlock *insert_at(CudaArena *a, int i) {
  if (a->nblocks == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 256;
    a->blocks = (CudaArenaBlock *)xrealloc(a->blocks, a->cap * sizeof *a->blocks);
  }
  memmove(a->blocks + i + 1, a->blocks + i, (a->nblocks - i) * sizeof *a->blocks);
  a->nblocks++;
  return &a->blocks[i];
}

static void remove_at(CudaArena *a, int i) {
  memmove(a->blocks + i, a->blocks + i + 1, (a->nblocks - i - 1) * sizeof *a->blocks);
  a->nblocks--;
}

// First index whose block starts at or after p.
static int lower_bound(const CudaArena *a, const char *p) {
  int lo = 0, hi = a->nblocks;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (a->blocks[mid].ptr < p) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Reserves a new chunk of at least `bytes`; 0 on success.
static int grow(CudaArena *a, size_t bytes) {
  if (a->nchunks == CUDA_ARENA_MAX_CHUNKS) return -1;
  size_t want = round_up(bytes > a->reserved ? bytes : a->reserved, CHUNK_ROUND);
  void *p = NULL;
  cuda_lock();
  if (cudaMalloc(&p, want) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the error; try again with just what is needed
    want = round_up(bytes, CHUNK_ROUND);
    if (cudaMalloc(&p, want) != cudaSuccess) { (void)cudaGetLastError(); p = NULL; }
  }
  cuda_unlock();
  if (!p) return -1;
  int k = a->nchunks++;
  a->chunk[k] = (char *)p;
  a->chunk_size[k] = want;
  a->reserved += want;
  CudaArenaBlock *b = insert_at(a, lower_bound(a, (char *)p));
  *b = (CudaArenaBlock){(char *)p, want, k, 0};
  return 0;
}

int cuda_arena_init(CudaArena *a, size_t first_chunk) {
  memset(a, 0, sizeof *a);
  return grow(a, first_chunk);
}

static int best_fit(const CudaArena *a, size_t bytes) {
  int best = -1;
  for (int i = 0; i < a->nblocks; i++) {
    const CudaArenaBlock *b = &a->blocks[i];
    if (!b->used && b->size >= bytes && (best < 0 || b->size < a->blocks[best].size)) best = i;
  }
  return best;
}

void *cuda_arena_alloc(CudaArena *a, size_t bytes) {
  bytes = round_up(bytes ? bytes : 1, ALIGN);
  int i = best_fit(a, bytes);
  if (i < 0) {
    if (grow(a, bytes) != 0) return NULL;
    i = best_fit(a, bytes);
  }
  CudaArenaBlock *b = &a->blocks[i];
  if (b->size > bytes) {  // split: the tail stays free
    CudaArenaBlock tail = {b->ptr + bytes, b->size - bytes, b->chunk, 0};
    b->size = bytes;
    *insert_at(a, i + 1) = tail;
    b = &a->blocks[i];  // insert_at may have moved the array
  }
  b->used = 1;
  a->in_use += bytes;
  if (a->in_use > a->peak) a->peak = a->in_use;
  return b->ptr;
}

void cuda_arena_free(CudaArena *a, void *p) {
  if (!p) return;
  int i = lower_bound(a, (char *)p);
  if (i == a->nblocks || a->blocks[i].ptr != (char *)p || !a->blocks[i].used) {
    fprintf(stderr, "stepscope: cuda free of %p, which is not a live device allocation\n", p);
    abort();
  }
  CudaArenaBlock *b = &a->blocks[i];
  b->used = 0;
  a->in_use -= b->size;
  CudaArenaBlock *next = i + 1 < a->nblocks ? &a->blocks[i + 1] : NULL;
  if (next && !next->used && next->chunk == b->chunk) {
    b->size += next->size;
    remove_at(a, i + 1);
  }
  CudaArenaBlock *prev = i > 0 ? &a->blocks[i - 1] : NULL;
  if (prev && !prev->used && prev->chunk == a->blocks[i].chunk) {
    prev->size += a->blocks[i].size;
    remove_at(a, i);
  }
}

void cuda_arena_release(CudaArena *a) {
  cuda_lock();
  for (int k = 0; k < a->nchunks; k++) cudaFree(a->chunk[k]);
  cuda_unlock();
  free(a->blocks);
  memset(a, 0, sizeof *a);
}
