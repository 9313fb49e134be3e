// fuzz_plan.c — the plan format (engine/sat/plan_file.c, man 5 stepscope-plan). A plan it
// accepts must validate, save, and load back as the same plan.
#include "engine/sat/plan.h"
#include "tests/fuzz/fuzz.h"
#include <stdlib.h>
#include <string.h>

int fuzz_one(const uint8_t *data, size_t n) {
  const char *path = fuzz_file("in.plan", data, n);
  Plan p, q;
  Err e;
  if (plan_load(path, &p, &e)) return 0;
  char out[600];
  snprintf(out, sizeof out, "%s/out.plan", fuzz_dir());
  if (plan_save(out, &p, &e) == 0) {
    if (plan_load(out, &q, &e)) abort();  // what we wrote we must read
    if (q.ngroups != p.ngroups || q.T != p.T) abort();
    for (int g = 0; g < p.ngroups; g++)
      if (q.g[g].t0 != p.g[g].t0 || q.g[g].t1 != p.g[g].t1 || strcmp(q.g[g].model, p.g[g].model)) abort();
  }
  return 0;
}
