// fuzz_proposer.c — the external proposer's reply (engine/sat/proposer.c, proposal_parse):
// {"keep": {"group": ratio, ...}} against a bank of three groups. Accepted replies give
// every group a ratio in (0, 1].
#include "engine/sat/proposer.h"
#include "tests/fuzz/fuzz.h"
#include <stdlib.h>
#include <string.h>

int fuzz_one(const uint8_t *data, size_t n) {
  char names[3][64] = {"conv_in.out", "down.0.res.0.mid", "mid.attn"};
  int width[3] = {16, 32, 8};
  double share[3] = {0.2, 0.5, 0.1}, keep[3];
  Bank b = {.ngroups = 3, .name = names, .width = width, .share = share, .target = 0.6, .t0 = 0, .t1 = 250,
            .best = -1};
  Err e;
  if (proposal_parse(&b, (const char *)data, n, keep, &e)) return 0;
  for (int g = 0; g < 3; g++)
    if (!(keep[g] > 0 && keep[g] <= 1)) abort();
  return 0;
}
