#include "arena.h"

#define ALIGN 16  // floats: 64 bytes, for vector loads and cuDNN
#define MIN_CHUNK (1u << 22)

void arena_init(Arena *a, Backend *be) { *a = (Arena){.be = be}; }

float *arena_get(Arena *a, size_t n) {
  n = (n + ALIGN - 1) / ALIGN * ALIGN;
  if (a->nchunks == 0 || a->used + n > a->caps[a->nchunks - 1]) {
    size_t cap = n > MIN_CHUNK ? n : MIN_CHUNK;
    a->chunks = xrealloc(a->chunks, sizeof(float *) * (a->nchunks + 1));
    a->caps = xrealloc(a->caps, sizeof(size_t) * (a->nchunks + 1));
    a->chunks[a->nchunks] = a->be->alloc(a->be, cap);
    a->caps[a->nchunks] = cap;
    a->nchunks++;
    a->used = 0;
    a->gen++;
  }
  float *p = a->chunks[a->nchunks - 1] + a->used;
  a->used += n;
  a->total += n;
  if (a->total > a->peak) a->peak = a->total;
  return p;
}

float *arena_zeros(Arena *a, size_t n) {
  float *p = arena_get(a, n);
  a->be->fill(a->be, p, 0.0f, n);
  return p;
}

static void release_chunks(Arena *a) {
  for (int i = 0; i < a->nchunks; i++) a->be->free(a->be, a->chunks[i]);
  a->nchunks = 0;
}

void arena_reset(Arena *a) {
  // More than one chunk means the last pass outgrew the arena: replace the chunks by one
  // that holds the peak, so the next pass runs without allocating.
  if (a->nchunks > 1) {
    release_chunks(a);
    size_t cap = a->peak + a->peak / 8;
    a->chunks[0] = a->be->alloc(a->be, cap);
    a->caps[0] = cap;
    a->nchunks = 1;
    a->gen++;
  }
  a->used = 0;
  a->total = 0;
}

void arena_release(Arena *a, ArenaMark k) {
  if (k.chunk != a->nchunks) return;
  a->used = k.used;
  a->total = k.total;
}

void arena_free(Arena *a) {
  release_chunks(a);
  free(a->chunks);
  free(a->caps);
  *a = (Arena){0};
}
