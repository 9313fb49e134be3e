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
void arena_free(Arena *a);
