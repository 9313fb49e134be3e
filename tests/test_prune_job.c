// The Prune view's fine-tune job without a terminal (prune_view_finetune: the view's worker
// on this thread): distilled from the base model and with the budget spread by loss gap, as
// `stepscope finetune --distill W --steps-by loss --budget N` does it.
#include "engine/checkpoint.h"
#include "engine/png_io.h"
#include "engine/rng.h"
#include "engine/sat/plan.h"
#include "tui/explorer/app.h"
#include "models.h"
#include "test.h"
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

// n random 32x32 grey PNGs in dir (the tiny preset's images); returns the data spec.
static const char *png_data(const char *dir, int n, char *spec, size_t cap) {
  mkdir(dir, 0700);
  uint8_t px[32 * 32];
  Rng r;
  rng_seed(&r, 7);
  Err e;
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 32 * 32; k++) px[k] = (uint8_t)(rng_u64(&r) >> 56);
    char path[600];
    snprintf(path, sizeof path, "%s/%03d.png", dir, i);
    if (png_write(path, px, 32, 32, 1, NULL, &e)) return NULL;
  }
  snprintf(spec, cap, "png:%s", dir);
  return spec;
}

static int meta_is(const char *path, const char *key, const char *want) {
  Err e;
  char *v = ckpt_meta(path, key, &e);
  int ok = want ? v && !strcmp(v, want) : v == NULL;
  if (!ok) printf("    %s: %s = '%s', expected '%s'\n", path, key, v ? v : "(none)", want ? want : "(none)");
  free(v);
  return ok;
}

// Two groups: g0's model is the base itself (no loss gap), g1's another model (a large gap).
// W = 0.5, steps by loss, budget 20: g0 gets its floor (5 %: 1 step), g1 the other 19; each
// fine-tune took its steps and records distill 0.5 and the base as teacher. Then W = 0 and
// steps equal, budget 4: 2 and 2, distill 0 and no teacher. Four images a step.
TEST(prune_job_finetune_distill_steps_by_loss) {
  const char *dir = test_tmpdir();
  char data_dir[400], spec[420], base[400], other[400], planf[400];
  snprintf(data_dir, sizeof data_dir, "%s/prune-job-data", dir);
  ASSERT(png_data(data_dir, 24, spec, sizeof spec));
  snprintf(base, sizeof base, "%s/prune-job-base.safetensors", dir);
  snprintf(other, sizeof other, "%s/prune-job.g1.safetensors", dir);
  snprintf(planf, sizeof planf, "%s/prune-job.plan", dir);
  Backend *be = backend_cpu_ref_create();
  UNet *b = test_tiny_unet(be, NULL), *o = test_tiny_random(be, 2, 0.1f);  // o: far from b
  unet_init_params(b, 1);
  Err e;
  ASSERTF(ckpt_save(base, b, NULL, spec, NULL, &e) == 0, "%s", e.msg);
  ASSERTF(ckpt_save(other, o, NULL, spec, NULL, &e) == 0, "%s", e.msg);
  unet_free(b), unet_free(o);
  be->destroy(be);

  Plan p;
  Schedule s;
  int bound = 500;
  plan_init(&p, SCHED_LINEAR, 1000);
  schedule_init(&s, SCHED_LINEAR, 1000);
  ASSERTF(plan_split(&p, &s, SPLIT_MANUAL, 2, &bound, &e) == 0, "%s", e.msg);
  schedule_free(&s);
  p.g[0].ratio = 1, p.g[1].ratio = 1, p.order = ORDER_MANUAL;
  snprintf(p.base, sizeof p.base, "%s", base);
  snprintf(p.g[0].model, sizeof p.g[0].model, "%s", base);
  snprintf(p.g[1].model, sizeof p.g[1].model, "%s", other);
  p.finetune_steps = 4;
  ASSERTF(plan_save(planf, &p, &e) == 0, "%s", e.msg);

  PruneRunResult *r = xmalloc(sizeof *r);
  int rc = prune_view_finetune(planf, spec, "cpu", 1, 4, 0.5, 1, 20, r);
  ASSERTF(rc == 0, "%s", r->error);
  ASSERT_EQ_INT(r->ngroups, 2);
  ASSERT_EQ_INT(r->steps[0] + r->steps[1], 20);
  ASSERT_EQ_INT(r->steps[0], 1);  // no gap: the 5 % floor
  ASSERT_EQ_INT(r->steps[1], 19);
  ASSERTF(r->gap[0] == 0 && r->gap[1] > 0, "gaps %g %g", r->gap[0], r->gap[1]);
  const char *src[2] = {base, other};
  for (int j = 0; j < 2; j++) {
    char steps[32];
    snprintf(steps, sizeof steps, "%ld", r->steps[j]);
    ASSERTF(strstr(r->model[j], ".ft.safetensors"), "g%d: '%s'", j, r->model[j]);
    ASSERT(meta_is(r->model[j], "distill", "0.5"));
    ASSERT(meta_is(r->model[j], "teacher", base));
    ASSERT(meta_is(r->model[j], "step", steps));
    ASSERT(meta_is(r->model[j], "parent", src[j]));
    ASSERT(meta_is(r->model[j], "base", base));
    ASSERTF(strstr(r->result[j], "W 0.5"), "g%d: '%s'", j, r->result[j]);
  }

  // steps equal, no distillation (the .ft files are written again, from the plan's models)
  rc = prune_view_finetune(planf, spec, "cpu", 1, 4, 0, 0, 4, r);
  ASSERTF(rc == 0, "%s", r->error);
  for (int j = 0; j < 2; j++) {
    ASSERT_EQ_INT(r->steps[j], 2);
    ASSERT(isnan(r->gap[j]));
    ASSERT(meta_is(r->model[j], "distill", "0"));
    ASSERT(meta_is(r->model[j], "teacher", NULL));
    ASSERT(meta_is(r->model[j], "step", "2"));
  }
  free(r);
}
