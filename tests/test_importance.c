// Importance scores: reproducible for a seed, zero weights rank last, units follow the
// GroupNorm structure, and kept channels are the best-scoring units.
#include "engine/sat/importance.h"
#include "models.h"
#include "test.h"

static void calib(Calib *c, int n) {
  Dataset d = test_random_data(n, 99);
  calib_init(c, &d, n, 5);
  data_free(&d);
}

// What every test here starts from: a CPU backend, the tiny model with random weights from
// seed, the linear schedule and ncalib calibration images.
typedef struct {
  Backend *be;
  UNet *m;
  Schedule s;
  Calib c;
} Fixture;

static void fixture_init(Fixture *f, uint64_t seed, int ncalib) {
  f->be = backend_cpu_create(1);
  f->m = test_tiny_random(f->be, seed, 0.2f);
  schedule_init(&f->s, SCHED_LINEAR, 1000);
  calib(&f->c, ncalib);
}

static void fixture_free(Fixture *f) {
  calib_free(&f->c);
  schedule_free(&f->s);
  unet_free(f->m);
  f->be->destroy(f->be);
}

static int group_of(const UNet *m, const char *name) {
  for (int g = 0; g < m->widths.n; g++)
    if (!strcmp(m->widths.name[g], name)) return g;
  return -1;
}

static int same_scores(const Importance *a, const Importance *b) {
  if (a->ngroups != b->ngroups) return 0;
  for (int g = 0; g < a->ngroups; g++)
    if (a->width[g] != b->width[g] || memcmp(a->score[g], b->score[g], sizeof(float) * a->width[g])) return 0;
  return 1;
}

TEST(importance_reproducible_for_a_seed) {
  Fixture f;
  fixture_init(&f, 1, 8);
  UNet *m = f.m;
  Err e;
  const Criterion crits[] = {CRIT_MAGNITUDE, CRIT_TAYLOR, CRIT_DIFF_PRUNING, CRIT_RANDOM};
  for (int k = 0; k < 4; k++) {
    ImpCfg cfg = imp_defaults(crits[k], 100, 400);
    cfg.dp_steps = 3;
    cfg.batch = 4;
    Importance a, b;
    ASSERTF(!importance_compute(m, &f.s, &f.c, &cfg, &a, &e), "%s", e.msg);
    ASSERTF(!importance_compute(m, &f.s, &f.c, &cfg, &b, &e), "%s", e.msg);
    ASSERTF(same_scores(&a, &b), "%s: scores differ between two runs", criterion_name(crits[k]));
    for (int g = 0; g < a.ngroups; g++) {
      float mx = 0;
      for (int j = 0; j < a.width[g]; j++) { ASSERT(a.score[g][j] >= 0 && a.score[g][j] <= 1); mx = fmaxf(mx, a.score[g][j]); }
      ASSERTF(mx == 1.0f, "%s: group %s not normalised", criterion_name(crits[k]), m->widths.name[g]);
    }
    if (crits[k] == CRIT_DIFF_PRUNING) ASSERT(a.dp_last_t >= 100 && a.dp_last_t < 400);
    if (crits[k] == CRIT_RANDOM) {
      Importance r2;
      cfg.seed = 1;
      ASSERT(!importance_compute(m, &f.s, &f.c, &cfg, &r2, &e));
      ASSERT(!same_scores(&a, &r2));
      importance_free(&r2);
    }
    importance_free(&a);
    importance_free(&b);
  }
  // a different range gives different Taylor scores (the loss is the group's own)
  ImpCfg c1 = imp_defaults(CRIT_TAYLOR, 0, 100), c2 = imp_defaults(CRIT_TAYLOR, 900, 1000);
  Importance a, b;
  ASSERT(!importance_compute(m, &f.s, &f.c, &c1, &a, &e) && !importance_compute(m, &f.s, &f.c, &c2, &b, &e));
  ASSERT(!same_scores(&a, &b));
  importance_free(&a);
  importance_free(&b);
  ImpCfg bad = imp_defaults(CRIT_TAYLOR, 500, 500);
  ASSERT(importance_compute(m, &f.s, &f.c, &bad, &a, &e) == -1);
  fixture_free(&f);
}

// Zeroes the weights (not norms) of channel ch of group g wherever it appears.
static void zero_channel(UNet *m, int g, int ch) {
  float *w = xmalloc(sizeof(float) * m->size);
  m->be->download(m->be, w, m->w, m->size);
  for (int i = 0; i < m->nparams; i++) {
    Param *p = &m->params[i];
    if (strstr(p->name, "norm")) continue;
    size_t inner = 1;
    for (int d = 2; d < p->ndim; d++) inner *= p->shape[d];
    int n1 = p->ndim >= 2 ? p->shape[1] : 1;
    for (int d = 0; d < 2 && d < p->ndim; d++)
      for (int s = 0, off = 0; s < p->dim[d].nseg; off += p->dim[d].seg[s++].count)
        if (p->dim[d].seg[s].group == g)
          for (int o = 0; o < p->shape[0]; o++)
            for (int k = 0; k < n1; k++)
              if ((d == 0 && o == off + ch) || (d == 1 && k == off + ch))
                memset(w + p->off + ((size_t)o * n1 + k) * inner, 0, sizeof(float) * inner);
  }
  m->be->upload(m->be, m->w, w, m->size);
  free(w);
}

TEST(importance_magnitude_zeroed_channel_ranks_last) {
  Fixture f;
  fixture_init(&f, 2, 4);
  UNet *m = f.m;
  int gs = group_of(m, "conv_in.out"), gm = group_of(m, "down.1.res.0.mid"), ga = group_of(m, "mid.attn.0.inner");
  ASSERT(gs >= 0 && gm >= 0 && ga >= 0);
  zero_channel(m, gs, 3);
  zero_channel(m, gm, 6);  // down.1.res.0.mid: 16 channels in 4 norm groups of 4: unit 1 is 4..7
  zero_channel(m, gm, 7);
  zero_channel(m, gm, 4);
  zero_channel(m, gm, 5);
  zero_channel(m, ga, 0);
  Err e;
  for (int k = 0; k < 2; k++) {  // magnitude, and Taylor (theta = 0 there too)
    ImpCfg cfg = imp_defaults(k ? CRIT_TAYLOR : CRIT_MAGNITUDE, 0, 1000);
    cfg.batch = 4;
    Importance imp;
    ASSERTF(!importance_compute(m, &f.s, &f.c, &cfg, &imp, &e), "%s", e.msg);
    ASSERT_EQ_INT(imp.unit[gs], 1);
    ASSERT_EQ_INT(imp.unit[gm], 4);
    ASSERT_EQ_INT(imp.unit[ga], 1);
    ASSERT(imp.score[gs][3] == 0 && imp.score[ga][0] == 0 && imp.score[gm][5] == 0);
    int keep[64], n;
    n = importance_keep(&imp, gs, imp.width[gs] - 1, keep);
    ASSERT_EQ_INT(n, imp.width[gs] - 1);
    for (int j = 0; j < n; j++) ASSERT(keep[j] != 3 && (j == 0 || keep[j] > keep[j - 1]));
    n = importance_keep(&imp, ga, imp.width[ga] - 1, keep);
    ASSERT_EQ_INT(keep[0], 1);
    n = importance_keep(&imp, gm, 3, keep);  // three whole norm groups, not 4..7
    ASSERT_EQ_INT(n, 12);
    for (int j = 0; j < n; j++) ASSERT(keep[j] < 4 || keep[j] > 7);
    importance_free(&imp);
  }
  fixture_free(&f);
}

// The proxy is deterministic and the calibration timesteps cover the range evenly.
TEST(importance_calibration_is_fixed) {
  Fixture f;
  fixture_init(&f, 3, 10);
  UNet *m = f.m;
  for (int i = 0; i < f.c.n; i++) {
    int t = calib_t(&f.c, i, 200, 300);
    ASSERT(t >= 200 + 10 * i && t < 200 + 10 * (i + 1));
  }
  double a = calib_loss(m, &f.s, &f.c, 0, 1000, 3), b = calib_loss(m, &f.s, &f.c, 0, 1000, 7);
  ASSERT_NEAR(a, b, 0, 1e-5);  // batching does not matter
  ASSERT(a == calib_loss(m, &f.s, &f.c, 0, 1000, 3));
  Criterion k;
  ASSERT(criterion_parse("diff-pruning", &k) == 0 && k == CRIT_DIFF_PRUNING);
  ASSERT(criterion_parse("l1", &k) == -1);
  fixture_free(&f);
}
