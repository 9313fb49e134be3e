#include "rng.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
  r->has_spare = 0;
  r->spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(Rng *r) {
  uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
  s[2] ^= t; s[3] = rotl(s[3], 45);
  return out;
}

float rng_uniform(Rng *r) { return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

int rng_int(Rng *r, int n) {
  uint64_t lim = UINT64_MAX - UINT64_MAX % (uint64_t)n, x;
  do x = rng_u64(r); while (x >= lim);
  return (int)(x % (uint64_t)n);
}

float rng_normal(Rng *r) {
  if (r->has_spare) { r->has_spare = 0; return r->spare; }
  double u1, u2;
  do u1 = (rng_u64(r) >> 11) * 0x1.0p-53; while (u1 <= 0);
  u2 = (rng_u64(r) >> 11) * 0x1.0p-53;
  double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
  r->spare = (float)(rad * sin(th));
  r->has_spare = 1;
  return (float)(rad * cos(th));
}

void rng_normal_fill(Rng *r, float *x, long n) { for (long i = 0; i < n; i++) x[i] = rng_normal(r); }

void rng_to_string(const Rng *r, char *buf, int cap) {
  uint32_t bits;
  memcpy(&bits, &r->spare, 4);
  snprintf(buf, cap, "%016llx,%016llx,%016llx,%016llx,%d,%08x", (unsigned long long)r->s[0],
           (unsigned long long)r->s[1], (unsigned long long)r->s[2], (unsigned long long)r->s[3],
           r->has_spare, bits);
}

int rng_from_string(Rng *r, const char *s) {
  unsigned long long a, b, c, d;
  unsigned bits;
  int sp;
  if (sscanf(s, "%llx,%llx,%llx,%llx,%d,%x", &a, &b, &c, &d, &sp, &bits) != 6) return -1;
  r->s[0] = a; r->s[1] = b; r->s[2] = c; r->s[3] = d;
  r->has_spare = sp != 0;
  memcpy(&r->spare, &bits, 4);
  return 0;
}
