// SAT plans: the paper's allocation formula, the other orders, boundaries, expected
// compute, and the plan file (round trip, and errors that name the line).
#include "engine/sampler.h"
#include "engine/sat/plan.h"
#include "test.h"
#include <sys/stat.h>
#include <stdlib.h>

// A plan with N groups uniform in t over the linear T = 1000 schedule.
static void make_plan(Plan *p, Schedule *s, int N) {
  schedule_init(s, SCHED_LINEAR, 1000);
  plan_init(p, SCHED_LINEAR, 1000);
  Err e;
  CHECK(plan_split(p, s, SPLIT_T, N, NULL, &e) == 0, "%s", e.msg);
}

static double mean_ratio(const Plan *p) {
  double m = 0;
  for (int j = 0; j < p->ngroups; j++) m += p->g[j].ratio / p->ngroups;
  return m;
}

TEST(plan_progressive_formula) {
  Plan p;
  Schedule s;
  make_plan(&p, &s, 5);
  Err e;
  ASSERT(plan_set_ratios(&p, ORDER_PROGRESSIVE, 0.5, NULL, NULL, &e) == 0);
  // sampling order (i = 1 is the noisiest group, g[4]): 0.6, 0.7, 0.8, 0.9, 1.0
  const double want[5] = {0.6, 0.7, 0.8, 0.9, 1.0};
  for (int i = 1; i <= 5; i++) ASSERT_NEAR(p.g[5 - i].ratio, want[i - 1], 1e-12, 0);
  ASSERT_NEAR(mean_ratio(&p), 0.8, 1e-12, 0);
  ASSERT(p.order == ORDER_PROGRESSIVE && p.k == 0.5);
  // k = 1: every group is the full model
  ASSERT(plan_set_ratios(&p, ORDER_PROGRESSIVE, 1.0, NULL, NULL, &e) == 0);
  for (int j = 0; j < 5; j++) ASSERT_NEAR(p.g[j].ratio, 1.0, 1e-15, 0);
  // k outside (0, 1]
  ASSERT(plan_set_ratios(&p, ORDER_PROGRESSIVE, 0.0, NULL, NULL, &e) == -1);
  ASSERT(plan_set_ratios(&p, ORDER_PROGRESSIVE, 1.5, NULL, NULL, &e) == -1);
  // N = 1: one full-size model whatever k is
  schedule_free(&s);
  make_plan(&p, &s, 1);
  ASSERT(plan_set_ratios(&p, ORDER_PROGRESSIVE, 0.3, NULL, NULL, &e) == 0);
  ASSERT_NEAR(p.g[0].ratio, 1.0, 1e-15, 0);
  schedule_free(&s);
}

TEST(plan_regressive_and_uniform) {
  Plan p, q;
  Schedule s;
  make_plan(&p, &s, 7);
  q = p;
  Err e;
  ASSERT(plan_set_ratios(&p, ORDER_PROGRESSIVE, 0.3, NULL, NULL, &e) == 0);
  ASSERT(plan_set_ratios(&q, ORDER_REGRESSIVE, 0.3, NULL, NULL, &e) == 0);
  for (int j = 0; j < 7; j++) ASSERT_NEAR(q.g[j].ratio, p.g[6 - j].ratio, 1e-15, 0);
  ASSERT(q.g[0].ratio < q.g[6].ratio);  // regressive: the small model on the clean end
  ASSERT(plan_set_ratios(&q, ORDER_UNIFORM, 0.3, NULL, NULL, &e) == 0);
  for (int j = 0; j < 7; j++) ASSERT_NEAR(q.g[j].ratio, mean_ratio(&p), 1e-12, 0);
  ASSERT_NEAR(q.g[0].ratio, 8.0 / 14 + 0.3 * 6 / 14, 1e-12, 0);  // (N+1)/2N + k(N-1)/2N
  // manual: given in t order, each in (0, 1]
  double r[7] = {1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4};
  ASSERT(plan_set_ratios(&q, ORDER_MANUAL, 0, NULL, r, &e) == 0);
  ASSERT(q.g[3].ratio == 0.7 && q.order == ORDER_MANUAL);
  r[2] = 0;
  ASSERT(plan_set_ratios(&q, ORDER_MANUAL, 0, NULL, r, &e) == -1);
  schedule_free(&s);
}

TEST(plan_loss_order) {
  Plan p;
  Schedule s;
  make_plan(&p, &s, 4);
  Err e;
  double *loss = malloc(sizeof(double) * 1000);
  // group means 4, 3.5, 3, 2.5: ratios 4/13, 3.5/13, ... of 4 x the progressive mean,
  // (N+1)/2N + k(N-1)/2N = 0.71875 for N = 4, k = 0.25
  for (int t = 0; t < 1000; t++) loss[t] = 4 - 0.5 * (t / 250) + (t % 2 ? 0.5 : -0.5);
  ASSERT(plan_set_ratios(&p, ORDER_LOSS, 0.25, loss, NULL, &e) == 0);
  double mean = 5.0 / 8 + 0.25 * 3 / 8;
  ASSERT_NEAR(mean_ratio(&p), mean, 1e-12, 0);
  for (int j = 0; j < 4; j++) ASSERT_NEAR(p.g[j].ratio, mean * 4 * (4 - 0.5 * j) / 13, 1e-12, 0);
  // a dominant group is capped at 1 and the others absorb its excess, keeping the mean
  mean = 5.0 / 8 + 0.5 * 3 / 8;
  for (int t = 0; t < 1000; t++) loss[t] = t < 250 ? 100 : t < 500 ? 1.5 : 1;
  ASSERT(plan_set_ratios(&p, ORDER_LOSS, 0.5, loss, NULL, &e) == 0);
  ASSERT_NEAR(p.g[0].ratio, 1.0, 1e-15, 0);
  ASSERT_NEAR(mean_ratio(&p), mean, 1e-12, 0);
  ASSERT_NEAR(p.g[1].ratio, 1.5 * p.g[2].ratio, 1e-12, 0);  // still proportional below the cap
  ASSERT_NEAR(p.g[2].ratio, (4 * mean - 1) / 3.5, 1e-12, 0);
  for (int j = 0; j < 4; j++) ASSERT(p.g[j].ratio > 0 && p.g[j].ratio <= 1);
  // cascading caps: the second group only exceeds 1 once the first one's excess lands on it
  for (int t = 0; t < 1000; t++) loss[t] = t < 250 ? 100 : t < 500 ? 2 : 1;
  ASSERT(plan_set_ratios(&p, ORDER_LOSS, 0.9, loss, NULL, &e) == 0);
  ASSERT(p.g[0].ratio == 1.0 && p.g[1].ratio == 1.0);
  ASSERT_NEAR(mean_ratio(&p), 5.0 / 8 + 0.9 * 3 / 8, 1e-12, 0);
  // the loss must be positive and finite; and there must be one
  loss[600] = 0;
  ASSERT(plan_set_ratios(&p, ORDER_LOSS, 0.5, loss, NULL, &e) == -1);
  ASSERT(strstr(e.msg, "t = 600"));
  ASSERT(plan_set_ratios(&p, ORDER_LOSS, 0.5, NULL, NULL, &e) == -1);
  free(loss);
  schedule_free(&s);
}

TEST(plan_split_uniform_t) {
  Plan p;
  Schedule s;
  make_plan(&p, &s, 5);
  for (int j = 0; j < 5; j++) ASSERT(p.g[j].t0 == 200 * j && p.g[j].t1 == 200 * (j + 1));
  Err e;
  ASSERT(plan_split(&p, &s, SPLIT_T, 3, NULL, &e) == 0);
  ASSERT(p.g[0].t1 == 333 && p.g[1].t1 == 666 && p.g[2].t1 == 1000);
  ASSERT(plan_split(&p, &s, SPLIT_T, 0, NULL, &e) == -1);
  ASSERT(plan_split(&p, &s, SPLIT_T, PLAN_MAX_GROUPS + 1, NULL, &e) == -1);
  schedule_free(&s);
}

TEST(plan_split_snr) {
  const SchedKind kinds[2] = {SCHED_LINEAR, SCHED_COSINE};
  for (int ki = 0; ki < 2; ki++) {
    for (int N = 1; N <= PLAN_MAX_GROUPS; N++) {
      Schedule s;
      schedule_init(&s, kinds[ki], 1000);
      Plan p;
      plan_init(&p, kinds[ki], 1000);
      Err e;
      ASSERT(plan_split(&p, &s, SPLIT_SNR, N, NULL, &e) == 0);
      ASSERT(p.ngroups == N && p.split == SPLIT_SNR && p.g[0].t0 == 0 && p.g[N - 1].t1 == 1000);
      double step = (s.snr_db[999] - s.snr_db[0]) / N;
      for (int j = 0; j < N; j++) {
        ASSERT(p.g[j].t0 < p.g[j].t1);
        if (j) ASSERT(p.g[j].t0 == p.g[j - 1].t1);
        // each boundary is where SNR_dB crosses its level, except where two levels fall
        // between the same two timesteps (cosine's steep end) and a boundary moved by one
        if (j) {
          double level = s.snr_db[0] + step * j;
          int b = p.g[j].t0, nudged = p.g[j].t1 == b + 1 || p.g[j - 1].t1 - p.g[j - 1].t0 == 1;
          ASSERTF(nudged || (s.snr_db[b] < level && s.snr_db[b - 1] >= level), "N=%d j=%d b=%d", N, j, b);
        }
      }
      schedule_free(&s);
    }
  }
  // a coarse schedule with more levels than room still gives non-empty groups
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 16);
  Plan p;
  plan_init(&p, SCHED_LINEAR, 16);
  Err e;
  ASSERT(plan_split(&p, &s, SPLIT_SNR, 16, NULL, &e) == 0);
  for (int j = 0; j < 16; j++) ASSERT(p.g[j].t0 == j && p.g[j].t1 == j + 1);
  ASSERT(plan_split(&p, &s, SPLIT_SNR, 17, NULL, &e) == -1);
  schedule_free(&s);
}

TEST(plan_split_explicit) {
  Plan p;
  Schedule s;
  make_plan(&p, &s, 1);
  Err e;
  int b[3] = {100, 300, 700};
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 4, b, &e) == 0);
  ASSERT(p.g[0].t1 == 100 && p.g[1].t1 == 300 && p.g[2].t1 == 700 && p.g[3].t1 == 1000);
  int dup[3] = {100, 100, 700}, out[3] = {100, 300, 1000}, zero[3] = {0, 300, 700}, desc[3] = {300, 100, 700};
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 4, dup, &e) == -1);
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 4, out, &e) == -1);
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 4, zero, &e) == -1);
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 4, desc, &e) == -1);
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 4, NULL, &e) == -1);
  // the plan is unchanged by a failed split
  ASSERT(p.ngroups == 4 && p.g[1].t1 == 300);
  schedule_free(&s);
}

TEST(plan_split_keeps_ratios_and_models) {
  Plan p;
  Schedule s;
  make_plan(&p, &s, 4);
  Err e;
  double r[4] = {1, 0.5, 0.25, 0.125};
  ASSERT(plan_set_ratios(&p, ORDER_MANUAL, 0, NULL, r, &e) == 0);
  strcpy(p.g[0].model, "g0.safetensors");
  strcpy(p.g[1].model, "g1.safetensors");
  int b[3] = {250, 400, 750};  // same count: ratios stay; g1's range changed, so its model goes
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 4, b, &e) == 0);
  for (int j = 0; j < 4; j++) ASSERT(p.g[j].ratio == r[j]);
  ASSERT(!strcmp(p.g[0].model, "g0.safetensors") && p.g[1].model[0] == 0);
  // a manual plan split finer: each new group takes the ratio of the old one at its middle
  ASSERT(plan_split(&p, &s, SPLIT_T, 8, NULL, &e) == 0);
  ASSERT(p.order == ORDER_MANUAL && p.g[0].ratio == 1 && p.g[1].ratio == 1 && p.g[3].ratio == 0.25 && p.g[7].ratio == 0.125);
  // a progressive plan is recomputed for the new count
  ASSERT(plan_set_ratios(&p, ORDER_PROGRESSIVE, 0.5, NULL, NULL, &e) == 0);
  ASSERT(plan_split(&p, &s, SPLIT_SNR, 5, NULL, &e) == 0);
  ASSERT_NEAR(p.g[4].ratio, 0.6, 1e-12, 0);
  ASSERT_NEAR(p.g[0].ratio, 1.0, 1e-12, 0);
  schedule_free(&s);
}

TEST(plan_group_of_lookup) {
  Plan p;
  Schedule s;
  make_plan(&p, &s, 1);
  Err e;
  int b[2] = {1, 999};
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 3, b, &e) == 0);
  ASSERT(plan_group_of(&p, 0) == 0 && plan_group_of(&p, 1) == 1 && plan_group_of(&p, 998) == 1);
  ASSERT(plan_group_of(&p, 999) == 2 && plan_group_of(&p, 1000) == -1 && plan_group_of(&p, -1) == -1);
  for (int N = 1; N <= PLAN_MAX_GROUPS; N++) {
    ASSERT(plan_split(&p, &s, SPLIT_SNR, N, NULL, &e) == 0);
    for (int t = 0; t < 1000; t++) {
      int j = plan_group_of(&p, t);
      ASSERT(j >= 0 && p.g[j].t0 <= t && t < p.g[j].t1);
    }
  }
  schedule_free(&s);
}

TEST(plan_expected_compute_samplers) {
  Plan p;
  Schedule s;
  make_plan(&p, &s, 1);
  Err e;
  int b[2] = {100, 400};  // sizes 100, 300, 600
  ASSERT(plan_split(&p, &s, SPLIT_MANUAL, 3, b, &e) == 0);
  double r[3] = {1.0, 0.5, 0.25};
  ASSERT(plan_set_ratios(&p, ORDER_MANUAL, 0, NULL, r, &e) == 0);
  int counts[1000];
  SamplerCfg cfg = sampler_cfg_default();
  cfg.kind = SAMPLER_DDPM;
  ASSERT_EQ_INT(sample_count_steps_per_t(&s, &cfg, counts, &e), 1000);
  // DDPM: every t once, so the group sizes weight the ratios
  ASSERT_NEAR(plan_expected_compute(&p, counts), (100 * 1.0 + 300 * 0.5 + 600 * 0.25) / 1000, 1e-12, 0);
  // DDIM-50 trailing: 999, 979, ..., 19: 5 calls in [0, 100), 15 in [100, 400), 30 in [400, 1000)
  cfg.kind = SAMPLER_DDIM;
  cfg.steps = 50;
  ASSERT_EQ_INT(sample_count_steps_per_t(&s, &cfg, counts, &e), 50);
  ASSERT_NEAR(plan_expected_compute(&p, counts), (5 * 1.0 + 15 * 0.5 + 30 * 0.25) / 50, 1e-12, 0);
  // the paper's example: 5 equal groups, k = 0.5 -> 80 % for DDPM and for DDIM-50
  schedule_free(&s);
  make_plan(&p, &s, 5);
  ASSERT(plan_set_ratios(&p, ORDER_PROGRESSIVE, 0.5, NULL, NULL, &e) == 0);
  cfg.kind = SAMPLER_DDPM;
  sample_count_steps_per_t(&s, &cfg, counts, &e);
  ASSERT_NEAR(plan_expected_compute(&p, counts), 0.8, 1e-12, 0);
  cfg.kind = SAMPLER_DDIM;
  sample_count_steps_per_t(&s, &cfg, counts, &e);
  ASSERT_NEAR(plan_expected_compute(&p, counts), 0.8, 1e-12, 0);
  memset(counts, 0, sizeof counts);
  ASSERT(plan_expected_compute(&p, counts) == 0);
  schedule_free(&s);
}

TEST(plan_names) {
  SplitKind sk;
  OrderKind ok;
  ASSERT(split_parse("snr", &sk) == 0 && sk == SPLIT_SNR && !strcmp(split_name(sk), "snr"));
  ASSERT(split_parse("SNR", &sk) == -1);
  ASSERT(order_parse("loss", &ok) == 0 && ok == ORDER_LOSS && !strcmp(order_name(ORDER_REGRESSIVE), "regressive"));
  ASSERT(order_parse("linear", &ok) == -1);
  ASSERT(plan_criterion_known("diff-pruning") && !plan_criterion_known("l2"));
}

TEST(plan_save_load_round_trip) {
  Plan p, q;
  Schedule s;
  schedule_init(&s, SCHED_COSINE, 500);
  plan_init(&p, SCHED_COSINE, 500);
  Err e;
  ASSERT(plan_split(&p, &s, SPLIT_SNR, 6, NULL, &e) == 0);
  double *loss = malloc(sizeof(double) * 500);
  for (int t = 0; t < 500; t++) loss[t] = 1.0 / (1 + t);  // ratios with many digits
  ASSERT(plan_set_ratios(&p, ORDER_LOSS, 0.37, loss, NULL, &e) == 0);
  free(loss);
  strcpy(p.base, "assets/my models/base.safetensors");  // spaces survive
  strcpy(p.g[2].model, "out/g 2.safetensors");
  strcpy(p.criterion, "diff-pruning");
  strcpy(p.proposer, "cmd:python3 tools/ask llm.py --temp 0.2");
  p.rounds = 12;
  p.calib_n = 64;
  p.seed = 18446744073709551615ull;
  p.finetune_steps = 0;
  char path[512];
  snprintf(path, sizeof path, "%s/round.plan", test_tmpdir());
  ASSERTF(plan_save(path, &p, &e) == 0, "%s", e.msg);
  ASSERTF(plan_load(path, &q, &e) == 0, "%s", e.msg);
  ASSERT(q.schedule == SCHED_COSINE && q.T == 500 && q.split == SPLIT_SNR && q.order == ORDER_LOSS && q.k == 0.37);
  ASSERT(q.ngroups == 6 && !strcmp(q.base, p.base) && !strcmp(q.criterion, "diff-pruning"));
  ASSERT(!strcmp(q.proposer, p.proposer) && q.rounds == 12 && q.calib_n == 64 && q.seed == p.seed && q.finetune_steps == 0);
  for (int j = 0; j < 6; j++) {
    ASSERT(q.g[j].t0 == p.g[j].t0 && q.g[j].t1 == p.g[j].t1);
    ASSERTF(q.g[j].ratio == p.g[j].ratio, "group %d: %.17g != %.17g", j, q.g[j].ratio, p.g[j].ratio);  // exact
    ASSERT(!strcmp(q.g[j].model, p.g[j].model));
  }
  // manual order has no k; a plan that is invalid is not written
  double r[6] = {1, 1, 1, 1, 1, 0.5};
  ASSERT(plan_set_ratios(&p, ORDER_MANUAL, 0, NULL, r, &e) == 0);
  ASSERT(plan_save(path, &p, &e) == 0 && plan_load(path, &q, &e) == 0 && q.order == ORDER_MANUAL && q.g[5].ratio == 0.5);
  p.g[3].ratio = 1.5;
  ASSERT(plan_save(path, &p, &e) == -1);
  ASSERT(plan_load(path, &q, &e) == 0 && q.g[3].ratio == 1);  // the old file is intact
  p.g[3].ratio = 1;
  strcpy(p.g[0].model, "two\nlines");
  ASSERT(plan_save(path, &p, &e) == -1);
  schedule_free(&s);
}

// Writes n bytes to a file in the scratch directory and loads it; returns plan_load's result.
static int load_bytes(const char *bytes, size_t n, Plan *p, Err *e) {
  char path[512];
  snprintf(path, sizeof path, "%s/bad.plan", test_tmpdir());
  FILE *f = fopen(path, "wb");
  fwrite(bytes, 1, n, f);
  fclose(f);
  return plan_load(path, p, e);
}
static int load_text(const char *text, Plan *p, Err *e) { return load_bytes(text, strlen(text), p, e); }

TEST(plan_parse_errors_name_the_line) {
  static const struct { const char *text, *want; } cases[] = {
    {"schedule linear 1000\ngroup 0 1000 1.2 -\n", "bad.plan:2: ratio must be in (0, 1], not 1.2"},
    {"schedule linear 1000\ngroup 0 1000 0 -\n", "bad.plan:2: ratio must be in (0, 1], not 0"},
    {"# c\n\nschedule linear 1000\nfrobnicate 3\n", "bad.plan:4: unknown keyword 'frobnicate'"},
    {"schedule linear 1000\ngroup 0 500 1 -\ngroup 600 1000 1 -\n", "bad.plan:3: group starts at 600, not at 500 where the previous one ends"},
    {"schedule linear 1000\ngroup 0 500 1\ngroup 500 900 1\n", "bad.plan:3: the groups end at 900"},
    {"schedule linear 1000\ngroup 100 1000 1\n", "bad.plan:2: the first group starts at 100, not at 0"},
    {"schedule linear 1000\ngroup 0 0 1\n", "bad.plan:2: group [0, 0) is empty"},
    {"schedule quadratic 1000\n", "bad.plan:1: schedule must be linear or cosine, not 'quadratic'"},
    {"schedule linear ten\n", "bad.plan:1: T: expected an integer, got 'ten'"},
    {"schedule linear 1000 extra\n", "bad.plan:1: unexpected 'extra' after schedule"},
    {"schedule linear 1000\nschedule cosine 1000\n", "bad.plan:2: 'schedule' given twice"},
    {"schedule linear 1000\norder progressive 0\n", "bad.plan:2: k must be in (0, 1], not 0"},
    {"schedule linear 1000\norder progressive\n", "bad.plan:2: k: expected a number"},
    {"schedule linear 1000\norder sideways 0.5\n", "bad.plan:2: order must be"},
    {"split diagonal\n", "bad.plan:1: split must be t, snr or manual"},
    {"criterion l2\n", "bad.plan:1: criterion must be"},
    {"proposer gpt4\n", "bad.plan:1: proposer must be builtin or cmd:COMMAND"},
    {"rounds -1\n", "bad.plan:1: rounds must be in [0,"},
    {"seed -5\n", "bad.plan:1: seed: expected an unsigned integer"},
    {"base\n", "bad.plan:1: base: missing"},
    {"group 0 1000 1\n", "bad.plan: no 'schedule' line"},
    {"schedule linear 1000\n", "bad.plan: no 'group' lines"},
    {"schedule linear 1000\ngroup 0 1000 abc\n", "bad.plan:2: ratio: expected a number, got 'abc'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Plan p;
    Err e = {{0}};
    ASSERTF(load_text(cases[i].text, &p, &e) == -1, "case %zu loaded", i);
    const char *slash = strrchr(e.msg, '/');
    const char *msg = slash ? slash + 1 : e.msg;  // drop the scratch directory
    ASSERTF(!strncmp(msg, cases[i].want, strlen(cases[i].want)), "case %zu: '%s', want '%s...'", i, msg, cases[i].want);
  }
  // 17 groups
  char text[2048] = "schedule linear 1000\n";
  for (int j = 0; j < 17; j++) sprintf(text + strlen(text), "group %d %d 1\n", j * 10, j < 16 ? (j + 1) * 10 : 1000);
  Plan p;
  Err e;
  ASSERT(load_text(text, &p, &e) == -1 && strstr(e.msg, ":18: more than 16 groups"));
  // binary data, such as a checkpoint given by mistake
  ASSERT(load_bytes("schedule linear 1000\n\x08\0\0\0{", 26, &p, &e) == -1 && strstr(e.msg, ":2: binary data"));
  Plan ok;
  ASSERT(load_text("  # indented comment\r\nschedule  cosine   50\r\n\tgroup 0 50 1 my model.safetensors  \r\n", &ok, &e) == 0);
  ASSERT(ok.schedule == SCHED_COSINE && ok.T == 50 && !strcmp(ok.g[0].model, "my model.safetensors"));
  ASSERT(!strcmp(ok.criterion, "taylor") && ok.rounds == 8 && !strcmp(ok.proposer, "builtin"));  // defaults
  ASSERT(plan_load("/nonexistent/x.plan", &ok, &e) == -1 && strstr(e.msg, "/nonexistent/x.plan"));
}

// A relative model path that the working directory does not have is looked up beside the
// plan; one the working directory has stays as written.
TEST(plan_paths_relative_to_the_plan) {
  char dir[512], planf[600], model[600];
  snprintf(dir, sizeof dir, "%s/moved", test_tmpdir());
  mkdir(dir, 0755);
  snprintf(planf, sizeof planf, "%s/p.plan", dir);
  snprintf(model, sizeof model, "%s/g0.safetensors", dir);
  FILE *f = fopen(model, "w");
  ASSERT(f);
  fclose(f);
  f = fopen(planf, "w");
  ASSERT(f);
  fprintf(f, "base missing-base.safetensors\nschedule linear 1000\ngroup 0 1000 1.0 g0.safetensors\n");
  fclose(f);
  Plan p;
  Err e;
  ASSERTF(plan_load(planf, &p, &e) == 0, "%s", e.msg);
  ASSERTF(!strcmp(p.g[0].model, model), "model path '%s'", p.g[0].model);
  ASSERTF(!strcmp(p.base, "missing-base.safetensors"), "base '%s'", p.base);  // found nowhere: as written
}
