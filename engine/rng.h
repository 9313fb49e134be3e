// rng.h — our own seeded RNG, run on the host, so that the same seed gives the same noise
// on every backend and every run. xoshiro256** for bits, Box–Muller for normals.
#pragma once
#include <stdint.h>

typedef struct {
  uint64_t s[4];
  int has_spare;     // Box–Muller makes normals in pairs; the spare is part of the state
  float spare;
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
float rng_uniform(Rng *r);                 // [0, 1)
int rng_int(Rng *r, int n);                // [0, n), unbiased
float rng_normal(Rng *r);                  // N(0, 1)
void rng_normal_fill(Rng *r, float *x, long n);
// State as text ("hex,hex,hex,hex,spare_flag,spare_bits") for checkpoint metadata.
void rng_to_string(const Rng *r, char *buf, int cap);
int rng_from_string(Rng *r, const char *s);  // 0 on success, -1 on malformed text
