// arena.h — activation memory for one forward/backward pass, in backend memory.
// Pointers are bumped from large chunks and all released at once by arena_reset(). After
// the first pass the arena knows the total it needs and keeps one chunk of that size, so
// steady-state training and sampling never allocate.
#pragma once
#include "../kernels/backend.h"

typedef struct {
  Backend *be;
  float **chunks;
  size_t *caps;     // floats per chunk
  int nchunks;
  size_t used;      // floats used in the last chunk
  size_t total;     // floats handed out since the last reset
  size_t peak;      // the largest total seen
  unsigned gen;     // bumped whenever the chunks change: recorded graphs that point into
                    // the old ones must be recorded again
} Arena;

void arena_init(Arena *a, Backend *be);
float *arena_get(Arena *a, size_t n);       // uninitialised
float *arena_zeros(Arena *a, size_t n);     // zero-filled (backward gradients accumulate)
void arena_reset(Arena *a);
// A point in the arena to go back to: what arena_get handed out after it is given back by
// arena_release, so that the next arena_get hands out the same memory again (still in cache).
// Only within one chunk: if a chunk was added since the mark, nothing is given back (the pass
// outgrew the arena; the next reset makes it one chunk that holds the pass).
typedef struct { int chunk; size_t used, total; } ArenaMark;
static inline ArenaMark arena_mark(const Arena *a) { return (ArenaMark){a->nchunks, a->used, a->total}; }
void arena_release(Arena *a, ArenaMark k);
void arena_free(Arena *a);
