// The explorer's view-model without a terminal: boundary moves, adding and removing
// groups, ratio edits, schedule and split switches, undo, and the compute totals.
#include "engine/sat/explorer.h"
#include "engine/rng.h"
#include "test.h"

// Groups are contiguous, non-empty and cover [0, T); the rows mirror the plan.
static int plan_ok(const Explorer *ex) {
  const Plan *p = &ex->plan;
  if (p->ngroups < 1 || p->g[0].t0 != 0 || p->g[p->ngroups - 1].t1 != p->T) return 0;
  for (int j = 0; j < p->ngroups; j++) {
    if (p->g[j].t1 <= p->g[j].t0) return 0;
    if (j && p->g[j].t0 != p->g[j - 1].t1) return 0;
    if (ex->row[j].t0 != p->g[j].t0 || ex->row[j].t1 != p->g[j].t1 || ex->row[j].ratio != p->g[j].ratio) return 0;
    if (ex->row[j].index != p->ngroups - j) return 0;
  }
  return 1;
}

// Two groups split at t = 500 with ratios (clean, noisy) = (1, 0.5), base 100 MACs.
static void two_groups(Explorer *ex) {
  Plan p;
  Err e;
  Schedule s;
  plan_init(&p, SCHED_LINEAR, 1000);
  schedule_init(&s, SCHED_LINEAR, 1000);
  int b = 500;
  plan_split(&p, &s, SPLIT_MANUAL, 2, &b, &e);
  p.g[0].ratio = 1.0, p.g[1].ratio = 0.5;
  p.order = ORDER_MANUAL;
  schedule_free(&s);
  explorer_init(ex, &p);
  explorer_set_base_cost(ex, 100, 1000);
}

TEST(explorer_default_plan) {
  Explorer ex;
  explorer_init(&ex, NULL);
  ASSERT_EQ_INT(ex.plan.ngroups, 5);
  ASSERT_EQ_INT(ex.plan.T, 1000);
  ASSERT(plan_ok(&ex));
  ASSERT(!ex.modified);
  // progressive, k = 0.5: 0.6 .. 1.0 in sampling order, so the cleanest group is 1.0
  ASSERT_NEAR(ex.plan.g[0].ratio, 1.0, 1e-9, 0);
  ASSERT_NEAR(ex.plan.g[4].ratio, 0.6, 1e-9, 0);
  // SNR split: the group ranges in dB are about equal
  double w0 = ex.row[0].snr_hi - ex.row[0].snr_lo, w4 = ex.row[4].snr_hi - ex.row[4].snr_lo;
  ASSERTF(fabs(w0 - w4) < 2.5, "SNR widths %.2f and %.2f dB", w0, w4);
  ASSERT(ex.compute_ddpm > 0.6 && ex.compute_ddpm < 1.0);
  ASSERT_EQ_INT(ex.calls_ddpm, 1000);
  ASSERT_EQ_INT(ex.calls_ddim, 50);
  double share = 0;
  for (int j = 0; j < 5; j++) share += ex.row[j].share_ddim;
  ASSERT_NEAR(share, 1.0, 1e-12, 0);
  explorer_free(&ex);
}

TEST(explorer_compute_totals) {
  Explorer ex;
  two_groups(&ex);
  // DDPM: 500 calls at ratio 1 and 500 at 0.5. DDIM-50 trailing (999, 979, ..., 19):
  // 25 steps below t = 500 and 25 above. Both: 0.75 of the base.
  ASSERT_NEAR(ex.compute_ddpm, 0.75, 1e-12, 0);
  ASSERT_NEAR(ex.compute_ddim, 0.75, 1e-12, 0);
  ASSERT_NEAR(ex.base_run_ddpm, 100.0 * 1000, 1e-9, 0);
  ASSERT_NEAR(ex.macs_ddpm, 75.0 * 1000, 1e-9, 0);
  ASSERT_NEAR(ex.macs_ddim, 75.0 * 50, 1e-9, 0);
  ASSERT_NEAR(ex.row[1].macs, 50, 1e-12, 0);
  ASSERT_NEAR(ex.row[1].params, 500, 1e-9, 0);
  ASSERT_NEAR(ex.row[0].share_ddpm, 0.5, 1e-12, 0);
  // Moving the boundary to 600 puts 100 more DDPM calls (and 5 DDIM steps) at ratio 1.
  ASSERT(explorer_set_boundary(&ex, 0, 600) == 0);
  ASSERT_NEAR(ex.compute_ddpm, (600 * 1.0 + 400 * 0.5) / 1000, 1e-12, 0);
  ASSERT_NEAR(ex.compute_ddim, (30 * 1.0 + 20 * 0.5) / 50, 1e-12, 0);
  // A measured group model shows next to its target.
  explorer_set_model_cost(&ex, 1, 48, 470);
  ASSERT(ex.row[1].has_model && ex.row[1].model_macs == 48 && !ex.row[0].has_model);
  explorer_free(&ex);
}

TEST(explorer_boundary_moves) {
  Explorer ex;
  two_groups(&ex);
  ASSERT(explorer_move_boundary(&ex, 0, 10) == 0);
  ASSERT_EQ_INT(ex.plan.g[0].t1, 510);
  ASSERT_EQ_INT(ex.plan.g[1].t0, 510);
  ASSERT_EQ_INT(ex.row[1].t0, 510);
  ASSERT_NEAR(ex.row[0].snr_lo, ex.sched.snr_db[509], 0, 0);
  ASSERT_EQ_INT(ex.plan.split, SPLIT_MANUAL);
  ASSERT(ex.modified);
  ASSERT(explorer_move_boundary(&ex, 0, -1) == 0);
  ASSERT_EQ_INT(ex.plan.g[0].t1, 509);
  // clamped: each side keeps one timestep; at the limit a move is refused
  ASSERT(explorer_move_boundary(&ex, 0, 5000) == 0);
  ASSERT_EQ_INT(ex.plan.g[0].t1, 999);
  ASSERT(explorer_move_boundary(&ex, 0, 1) == -1);
  ASSERT(strstr(ex.msg, "limit"));
  ASSERT(explorer_move_boundary(&ex, 0, -5000) == 0);
  ASSERT_EQ_INT(ex.plan.g[0].t1, 1);
  ASSERT(explorer_move_boundary(&ex, 1, 1) == -1);  // no boundary 1 with two groups
  ASSERT(plan_ok(&ex));
  ASSERT_EQ_INT(explorer_nearest_bound(&ex, 900), 0);
  explorer_free(&ex);
}

TEST(explorer_add_remove_groups) {
  Explorer ex;
  explorer_init(&ex, NULL);
  const double before = ex.compute_ddpm;
  ASSERT(explorer_add_group(&ex, 2) == 0);
  ASSERT_EQ_INT(ex.plan.ngroups, 6);
  ASSERT(plan_ok(&ex));
  // progressive with N = 6, k = 0.5: noisiest 7/12, cleanest 1
  ASSERT_NEAR(ex.plan.g[5].ratio, 0.5 + 0.5 / 6, 1e-9, 0);
  ASSERT_NEAR(ex.plan.g[0].ratio, 1.0, 1e-9, 0);
  ASSERT(ex.compute_ddpm != before);
  for (int i = 0; i < 10; i++) {  // split the widest group until the plan is full
    int w = 0;
    for (int j = 1; j < ex.plan.ngroups; j++)
      if (ex.row[j].t1 - ex.row[j].t0 > ex.row[w].t1 - ex.row[w].t0) w = j;
    ASSERT(explorer_add_group(&ex, w) == 0);
  }
  ASSERT_EQ_INT(ex.plan.ngroups, PLAN_MAX_GROUPS);
  ASSERT(explorer_add_group(&ex, 0) == -1);
  ASSERT(plan_ok(&ex));
  while (ex.plan.ngroups > 1) {
    ASSERT(explorer_remove_group(&ex, ex.plan.ngroups - 1) == 0);
    ASSERT(plan_ok(&ex));
  }
  ASSERT(explorer_remove_group(&ex, 0) == -1);
  ASSERT_EQ_INT(ex.sel_bound, -1);
  explorer_free(&ex);

  // Manual ratios: halves keep their parent's, a merge keeps the larger.
  two_groups(&ex);
  ASSERT(explorer_add_group(&ex, 1) == 0);
  ASSERT_EQ_INT(ex.plan.g[1].t0, 500);
  ASSERT_EQ_INT(ex.plan.g[1].t1, 750);
  ASSERT_NEAR(ex.plan.g[1].ratio, 0.5, 0, 0);
  ASSERT_NEAR(ex.plan.g[2].ratio, 0.5, 0, 0);
  ASSERT(explorer_remove_group(&ex, 0) == 0);
  ASSERT_EQ_INT(ex.plan.ngroups, 2);
  ASSERT_EQ_INT(ex.plan.g[0].t1, 750);
  ASSERT_NEAR(ex.plan.g[0].ratio, 1.0, 0, 0);
  // a group of one timestep cannot be split
  ASSERT(explorer_set_boundary(&ex, 0, 1) == 0);
  ASSERT(explorer_add_group(&ex, 0) == -1);
  explorer_free(&ex);
}

TEST(explorer_ratio_edits) {
  Explorer ex;
  two_groups(&ex);
  ASSERT(explorer_add_ratio(&ex, 1, 0.05) == 0);
  ASSERT_NEAR(ex.plan.g[1].ratio, 0.55, 1e-12, 0);
  ASSERT_NEAR(ex.row[1].macs, 55, 1e-9, 0);
  ASSERT_NEAR(ex.compute_ddpm, (500 + 500 * 0.55) / 1000, 1e-12, 0);
  ASSERT(explorer_add_ratio(&ex, 0, 0.05) == -1);  // already 1.0
  ASSERT(explorer_set_ratio(&ex, 0, 1.5) == -1);
  ASSERT(explorer_set_ratio(&ex, 0, 0) == -1);
  ASSERT(explorer_set_ratio(&ex, 0, 0.8) == 0);
  for (int i = 0; i < 40; i++) explorer_add_ratio(&ex, 0, -0.05);
  ASSERT_NEAR(ex.plan.g[0].ratio, 0.05, 1e-12, 0);
  ASSERT_EQ_INT(ex.plan.order, ORDER_MANUAL);
  // back to a formula
  ASSERT(explorer_apply_order(&ex, ORDER_PROGRESSIVE, 0.5) == 0);
  ASSERT_NEAR(ex.plan.g[1].ratio, 0.75, 1e-12, 0);  // i = 1 of 2: 1/2 + 1/2 * 0.5
  ASSERT_NEAR(ex.plan.g[0].ratio, 1.0, 1e-12, 0);
  ASSERT(explorer_apply_order(&ex, ORDER_PROGRESSIVE, 1.5) == -1);
  ASSERT(explorer_apply_order(&ex, ORDER_LOSS, 0.5) == -1);  // no loss curve yet
  ASSERT(strstr(ex.msg, "Loss view"));
  explorer_free(&ex);
}

TEST(explorer_split_and_schedule) {
  Explorer ex;
  explorer_init(&ex, NULL);
  int snr_b0 = ex.plan.g[0].t1;
  ASSERT(explorer_set_split(&ex, SPLIT_T) == 0);
  ASSERT_EQ_INT(ex.plan.g[0].t1, 200);
  ASSERT_NEAR(ex.plan.g[4].ratio, 0.6, 1e-9, 0);  // ratios kept
  ASSERT(explorer_set_split(&ex, SPLIT_T) == -1);  // nothing changes
  ASSERT(explorer_set_split(&ex, SPLIT_SNR) == 0);
  ASSERT_EQ_INT(ex.plan.g[0].t1, snr_b0);
  // cosine: the SNR split is redone on the new curve, t boundaries of a t split stay
  ASSERT(explorer_set_schedule(&ex, SCHED_COSINE) == 0);
  ASSERT_EQ_INT(ex.sched.kind, SCHED_COSINE);
  ASSERT(ex.plan.g[0].t1 != snr_b0);
  ASSERT(plan_ok(&ex));
  ASSERT_NEAR(ex.row[0].snr_hi, ex.sched.snr_db[0], 0, 0);
  ASSERT(explorer_set_split(&ex, SPLIT_T) == 0);
  ASSERT(explorer_set_schedule(&ex, SCHED_LINEAR) == 0);
  ASSERT_EQ_INT(ex.plan.g[0].t1, 200);
  ASSERT(explorer_set_schedule(&ex, SCHED_LINEAR) == -1);
  explorer_free(&ex);
}

TEST(explorer_undo_redo) {
  Explorer ex;
  two_groups(&ex);
  ASSERT(explorer_undo(&ex) == -1);
  explorer_move_boundary(&ex, 0, 10);
  explorer_add_ratio(&ex, 1, 0.1);
  explorer_set_schedule(&ex, SCHED_COSINE);
  ASSERT(explorer_undo(&ex) == 0);
  ASSERT_EQ_INT(ex.sched.kind, SCHED_LINEAR);
  ASSERT(explorer_undo(&ex) == 0);
  ASSERT_NEAR(ex.plan.g[1].ratio, 0.5, 1e-12, 0);
  ASSERT_NEAR(ex.compute_ddpm, (510 + 490 * 0.5) / 1000, 1e-12, 0);
  ASSERT(explorer_redo(&ex) == 0);
  ASSERT_NEAR(ex.plan.g[1].ratio, 0.6, 1e-12, 0);
  explorer_move_boundary(&ex, 0, 10);  // a new edit drops the redo steps
  ASSERT(explorer_redo(&ex) == -1);
  for (int i = 0; i < 3 * EXPLORER_UNDO; i++) explorer_add_ratio(&ex, 1, i % 2 ? 0.05 : -0.05);
  int n = 0;
  while (explorer_undo(&ex) == 0) n++;
  ASSERT_EQ_INT(n, EXPLORER_UNDO - 1);
  ASSERT(plan_ok(&ex));
  explorer_free(&ex);
}

TEST(explorer_criterion_and_models) {
  Explorer ex;
  two_groups(&ex);
  ASSERT(explorer_set_criterion(&ex, "magnitude") == 0);
  ASSERT(!strcmp(ex.plan.criterion, "magnitude"));
  ASSERT(explorer_set_criterion(&ex, "magnitude") == -1);
  ASSERT(explorer_set_criterion(&ex, "vibes") == -1);
  ASSERT(explorer_set_search(&ex, 3, 100, -1) == 0);
  ASSERT(ex.plan.rounds == 3 && ex.plan.finetune_steps == 100);
  ASSERT(explorer_set_search(&ex, 3, -1, -1) == -1);  // no change
  ASSERT(explorer_set_search(&ex, 0, -1, -1) == -1);
  ASSERT(explorer_set_model(&ex, 1, "m.g1.safetensors") == 0);
  ASSERT(!strcmp(ex.plan.g[1].model, "m.g1.safetensors"));
  ASSERT(explorer_set_model(&ex, 2, "x") == -1);
  // moving a boundary keeps the models; splitting a group drops the halves' (other range)
  ASSERT(explorer_move_boundary(&ex, 0, 5) == 0);
  ASSERT(!strcmp(ex.plan.g[1].model, "m.g1.safetensors"));
  ASSERT(explorer_add_group(&ex, 1) == 0);
  ASSERT(!ex.plan.g[1].model[0] && !ex.plan.g[2].model[0]);
  ASSERT(explorer_undo(&ex) == 0);
  ASSERT(!strcmp(ex.plan.g[1].model, "m.g1.safetensors"));
  explorer_free(&ex);
}

// ---- loss bins ----

typedef struct { UNet *a, *b; int split; } Pick;
static UNet *pick(void *u, int t) {
  Pick *p = u;
  return t < p->split ? p->a : p->b;
}

TEST(explorer_loss_bins) {
  Err e;
  Backend *be = backend_cpu_create(1);
  UNetConfig cfg;
  ASSERT(unet_preset("tiny", 1, &cfg) == 0);
  UNet *a = unet_create(&cfg, NULL, be, &e), *b = unet_create(&cfg, NULL, be, &e);
  ASSERT(a && b);
  // Random weights throughout (the default init zeroes the output conv, and with it eps-hat).
  for (int k = 0; k < 2; k++) {
    UNet *m = k ? b : a;
    float *w = xmalloc(sizeof(float) * m->size);
    Rng r;
    rng_seed(&r, 11 + k);
    rng_normal_fill(&r, w, (long)m->size);
    for (size_t i = 0; i < m->size; i++) w[i] *= 0.1f;
    be->upload(be, m->w, w, m->size);
    free(w);
  }
  Dataset d = {.n = 3, .c = 1, .h = 32, .w = 32};
  d.x = xmalloc(sizeof(float) * 3 * 32 * 32);
  for (int i = 0; i < 3 * 32 * 32; i++) d.x[i] = (float)((i * 37 % 200) / 100.0 - 1);
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 1000);
  Pick only_a = {a, a, 1000}, only_b = {b, b, 1000}, mixed = {a, b, 110};
  double la = explorer_loss_bin(pick, &only_a, &s, &d, 6, 2, 10, 7, 4);
  ASSERT(la > 0 && isfinite(la));
  ASSERT_NEAR(explorer_loss_bin(pick, &only_a, &s, &d, 6, 2, 10, 7, 4), la, 0, 0);  // deterministic
  ASSERT_NEAR(explorer_loss_bin(pick, &only_a, &s, &d, 6, 2, 10, 7, 1), la, 1e-6, 1e-5);  // batch-free
  double lb = explorer_loss_bin(pick, &only_b, &s, &d, 6, 2, 10, 7, 4);
  double lm = explorer_loss_bin(pick, &mixed, &s, &d, 6, 2, 10, 7, 4);  // bin 2 is t in [200, 300)
  ASSERT_NEAR(lm, lb, 0, 0);
  // A bin split between two models: each sample is predicted by the model of its own t.
  // Sample i's image, t and noise do not depend on n, so prefix sums give each sample's loss.
  mixed.split = 250;
  double pa = 0, pb = 0, pm = 0;
  int from_a = 0, from_b = 0;
  for (int n = 1; n <= 6; n++) {
    double sa = explorer_loss_bin(pick, &only_a, &s, &d, n, 2, 10, 7, 4) * n;
    double sb = explorer_loss_bin(pick, &only_b, &s, &d, n, 2, 10, 7, 4) * n;
    double sm = explorer_loss_bin(pick, &mixed, &s, &d, n, 2, 10, 7, 4) * n;
    double ea = sa - pa, eb = sb - pb, em = sm - pm;
    pa = sa, pb = sb, pm = sm;
    if (fabs(em - ea) < 1e-5 * ea) from_a++;
    else if (fabs(em - eb) < 1e-5 * eb) from_b++;
    else ASSERTF(0, "sample %d: %g is neither model's (%g, %g)", n - 1, em, ea, eb);
  }
  ASSERTF(from_a > 0 && from_b > 0, "from a %d, from b %d", from_a, from_b);
  free(d.x);
  schedule_free(&s);
  unet_free(a);
  unet_free(b);
  be->destroy(be);
}

// The Prune view's fine-tune settings: W in [0, 1], steps by equal | loss, a budget that
// follows the plan (steps per group × groups) until set. Not plan edits: no undo, not modified.
TEST(explorer_finetune_settings) {
  Explorer ex;
  two_groups(&ex);
  ASSERT(ex.ft_distill == 0 && ex.ft_by_loss == 0 && ex.ft_budget == 0);
  ASSERT(explorer_set_search(&ex, -1, 300, -1) == 0);
  ASSERT_EQ_INT(explorer_finetune_budget(&ex), 600);
  ex.modified = 0;
  ASSERT(explorer_set_finetune(&ex, 0.3, 1, -1) == 0);
  ASSERT_NEAR(ex.ft_distill, 0.3, 1e-12, 0);
  ASSERT_EQ_INT(ex.ft_by_loss, 1);
  ASSERT_EQ_INT(explorer_finetune_budget(&ex), 600);
  ASSERT(explorer_add_group(&ex, 0) == 0);  // follows the group count
  ASSERT_EQ_INT(explorer_finetune_budget(&ex), 900);
  ASSERT(explorer_set_finetune(&ex, -1, -1, 1000) == 0);
  ASSERT_EQ_INT(explorer_finetune_budget(&ex), 1000);
  ASSERT(explorer_set_finetune(&ex, 1.5, -1, -1) == -1 && ex.msg[0]);
  ASSERT(explorer_set_finetune(&ex, -1, -1, 200000000) == -1);
  ASSERT_NEAR(ex.ft_distill, 0.3, 1e-12, 0);  // unchanged by the refusals
  ASSERT(explorer_set_finetune(&ex, -1, 0, 0) == 0);
  ASSERT_EQ_INT(explorer_finetune_budget(&ex), 900);
  ASSERT(explorer_undo(&ex) == 0);  // undoes the split, not the settings
  ASSERT_NEAR(ex.ft_distill, 0.3, 1e-12, 0);
  ASSERT_EQ_INT(explorer_finetune_budget(&ex), 600);
  explorer_free(&ex);
}
