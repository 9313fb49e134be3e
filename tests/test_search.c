// Pruning to a MACs target, the proxy search, and the external proposer protocol.
#include "engine/sat/proposer.h"
#include "engine/sat/search.h"
#include "engine/train.h"
#include "models.h"
#include "test.h"
#include <sys/stat.h>

// Everything a search needs, on the tiny model with random weights and images.
typedef struct {
  Backend *be;
  UNet *m;
  Schedule s;
  Calib c;
  Importance imp;
} Fixture;

static void fixture(Fixture *f) {
  f->be = backend_cpu_create(1);
  f->m = test_tiny_random(f->be, 11, 0.15f);
  schedule_init(&f->s, SCHED_LINEAR, 1000);
  Dataset d = test_random_data(8, 3);
  calib_init(&f->c, &d, 8, 1);
  data_free(&d);
  Err e;
  ImpCfg ic = imp_defaults(CRIT_MAGNITUDE, 0, 1000);
  CHECK(!importance_compute(f->m, &f->s, &f->c, &ic, &f->imp, &e), "%s", e.msg);
}

static void fixture_free(Fixture *f) {
  importance_free(&f->imp);
  calib_free(&f->c);
  schedule_free(&f->s);
  unet_free(f->m);
  f->be->destroy(f->be);
}

// The fixture and a pruner of its model by its importance: 0, or -1 where pruner_init fails.
static int fixture_pruner(Fixture *f, Pruner *p) {
  fixture(f);
  Err e;
  return pruner_init(p, f->m, &f->imp, &e);
}

// pruner_init's MAC shares assume MACs are linear in each group's width on its own.
TEST(search_macs_linear_in_each_group) {
  Fixture f;
  Pruner p;
  ASSERT(!fixture_pruner(&f, &p));
  int G = p.ngroups, u[64];
  ASSERT(G <= 64);
  for (int g = 0; g < G; g++) u[g] = p.units[g];
  for (int g = 0; g < G; g++) {
    if (p.units[g] < 3) continue;
    double a0 = pruner_macs(&p, u);
    u[g]--;
    double a1 = pruner_macs(&p, u);
    u[g]--;
    double a2 = pruner_macs(&p, u);
    u[g] += 2;
    ASSERTF(fabs((a0 - a1) - (a1 - a2)) < 1e-6 * a0, "%s: MACs not linear in its width", p.base->widths.name[g]);
    ASSERT(p.share[g] > 0 && p.share[g] < 1);
  }
  ASSERT_NEAR(pruner_macs(&p, u), unet_macs(f.m), 0, 1e-12);
  pruner_free(&p);
  fixture_free(&f);
}

TEST(search_prune_to_target_within_2_percent) {
  Fixture f;
  Pruner p;
  ASSERT(!fixture_pruner(&f, &p));
  int G = p.ngroups, u[64];
  double uni[64], skew[64];
  Err e;
  for (int g = 0; g < G; g++) {
    uni[g] = 1.0;
    skew[g] = strstr(f.m->widths.name[g], ".mid") ? 0.4 : 1.0;  // thin inner widths, full stream
  }
  const double targets[] = {0.3, 0.45, 0.6, 0.75, 0.9, 1.0};
  for (int k = 0; k < 6; k++)
    for (int v = 0; v < 2; v++) {
      double r = targets[k], macs;
      ASSERTF(!pruner_fit(&p, v ? skew : uni, r, 0.02, u, &macs, &e), "target %.2f: %s", r, e.msg);
      ASSERTF(fabs(macs - r) <= 0.02 * r, "target %.2f: got %.4f", r, macs);
      UNet *q = pruner_apply(&p, u, &e);
      ASSERTF(q, "%s", e.msg);
      ASSERT_NEAR(unet_macs(q) / unet_macs(f.m), macs, 0, 1e-12);  // the pruned model is what was costed
      ASSERT(unet_nparams(q) <= unet_nparams(f.m));
      for (int g = 0; g < G; g++) ASSERT_EQ_INT(q->widths.value[g], u[g] * f.imp.unit[g]);
      unet_free(q);
    }
  ASSERT(pruner_fit(&p, uni, 0.001, 0.02, u, &(double){0}, &e) == -1);  // below the smallest model
  uni[0] = 0;
  ASSERT(pruner_fit(&p, uni, 0.5, 0.02, u, &(double){0}, &e) == -1);    // a ratio outside (0, 1]
  pruner_free(&p);
  fixture_free(&f);
}

typedef struct { int calls; } Count;
static void count_rounds(void *ctx, const Bank *b, const BankEntry *last) { ((Count *)ctx)->calls++; }

TEST(search_winner_never_worse_than_round_one) {
  Fixture f;
  fixture(&f);
  Err e;
  double scores[2][3];
  for (int run = 0; run < 2; run++) {
    SearchCfg cfg = search_defaults(0.6, 0, 250);
    cfg.rounds = 3;
    cfg.batch = 8;
    Count n = {0};
    cfg.report = count_rounds;
    cfg.ctx = &n;
    Bank b;
    UNet *w = search_run(f.m, &f.s, &f.c, &f.imp, &cfg, &b, &e);
    ASSERTF(w, "%s", e.msg);
    ASSERT_EQ_INT(b.n, 3);
    ASSERT_EQ_INT(n.calls, 3);
    for (int i = 0; i < 3; i++) {
      ASSERTF(!b.e[i].skipped[0], "round %d skipped: %s", i + 1, b.e[i].skipped);
      ASSERT(fabs(b.e[i].macs_ratio - 0.6) <= 0.02 * 0.6);
      scores[run][i] = b.e[i].score;
    }
    for (int g = 1; g < b.ngroups; g++) ASSERT(b.e[0].keep[g] == b.e[0].keep[0]);  // round 1 is uniform
    int moved = 0;  // later rounds move budget between groups
    for (int g = 0; g < b.ngroups; g++) moved |= b.e[1].realized[g] != b.e[0].realized[g];
    ASSERT(moved);
    ASSERT(b.best >= 0 && b.e[b.best].score <= b.e[0].score);
    ASSERT(fabs(unet_macs(w) / unet_macs(f.m) - 0.6) <= 0.012);
    // the winner is the best round's model: its proxy is the bank's best score, made again on
    // an arena of its own (candidates are scored on the base's; the winner may outlive it)
    ASSERT(!w->arena_owner && w->arena == &w->own_arena && w->own_arena.nchunks == 0);
    ASSERT(calib_loss(w, &f.s, &f.c, 0, 250, 8) == b.e[b.best].score);
    ASSERT(w->own_arena.nchunks > 0 && f.m->arena != w->arena);
    unet_free(w);
    bank_free(&b);
  }
  ASSERT(!memcmp(scores[0], scores[1], sizeof scores[0]));  // seeded: the same search twice
  fixture_free(&f);
}

static void write_script(const char *path, const char *body) {
  FILE *f = fopen(path, "w");
  fprintf(f, "#!/bin/sh\n%s\n", body);
  fclose(f);
  chmod(path, 0755);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *s = xmalloc(1 << 20);
  *len = fread(s, 1, (1 << 20) - 1, f);
  s[*len] = 0;
  fclose(f);
  return s;
}

TEST(search_external_proposer_protocol) {
  Fixture f;
  fixture(&f);
  const char *dir = test_tmpdir();
  char seen[600], good[600], bad[600], cmd[1300];
  snprintf(seen, sizeof seen, "%s/seen.json", dir);
  snprintf(good, sizeof good, "%s/good.sh", dir);
  snprintf(bad, sizeof bad, "%s/bad.sh", dir);
  char body[800];
  snprintf(body, sizeof body, "cat > '%s'\necho '{\"keep\": {\"down.1.res.0.mid\": 0.5, \"conv_in.out\": 0.75}, \"why\": \"test\"}'", seen);
  write_script(good, body);
  write_script(bad, "cat > /dev/null\necho 'this is not json'");
  Err e;
  SearchCfg cfg = search_defaults(0.7, 250, 500);
  cfg.rounds = 2;
  cfg.batch = 8;
  snprintf(cmd, sizeof cmd, "cmd:%s", good);
  cfg.proposer = cmd;
  Bank b;
  UNet *w = search_run(f.m, &f.s, &f.c, &f.imp, &cfg, &b, &e);
  ASSERTF(w, "%s", e.msg);
  ASSERT_EQ_INT(b.n, 2);
  ASSERTF(!b.e[1].skipped[0], "%s", b.e[1].skipped);
  int gm = -1, gs = -1;
  for (int g = 0; g < b.ngroups; g++) {
    if (!strcmp(b.name[g], "down.1.res.0.mid")) gm = g;
    if (!strcmp(b.name[g], "conv_in.out")) gs = g;
  }
  ASSERT(b.e[1].keep[gm] == 0.5 && b.e[1].keep[gs] == 0.75 && b.e[1].keep[gm + 1] == 1.0);  // missing: 1.0
  ASSERT(fabs(b.e[1].macs_ratio - 0.7) <= 0.02 * 0.7);
  unet_free(w);

  // What the proposer received: the bank before round 2.
  size_t len;
  char *text = slurp(seen, &len);
  ASSERT(text);
  Json j;
  ASSERTF(!json_parse(text, len, &j, &e), "%s", e.msg);
  free(text);
  ASSERT(json_num(json_get(&j, "target"), 0) == 0.7);
  ASSERT(json_num(json_at(json_get(&j, "t_range"), 0), -1) == 250 && json_num(json_at(json_get(&j, "t_range"), 1), -1) == 500);
  ASSERT(json_num(json_get(&j, "round"), 0) == 2);
  const Json *groups = json_get(&j, "groups"), *hist = json_get(&j, "history");
  ASSERT_EQ_INT(json_arr_len(groups), f.m->widths.n);
  ASSERT(!strcmp(json_str(json_get(json_at(groups, 0), "name")), "conv_in.out"));
  ASSERT(json_num(json_get(json_at(groups, 0), "width"), 0) == 8);
  ASSERT(json_num(json_get(json_at(groups, 0), "macs_share"), 0) > 0);
  ASSERT_EQ_INT(json_arr_len(hist), 1);
  const Json *h1 = json_at(hist, 0);
  ASSERT(json_num(json_get(h1, "round"), 0) == 1);
  ASSERT(json_num(json_get(h1, "score"), -1) == b.e[0].score);
  ASSERT(json_num(json_get(json_get(h1, "keep"), "conv_in.out"), 0) == b.e[0].keep[0]);
  ASSERT(fabs(json_num(json_get(h1, "macs_ratio"), 0) - 0.7) <= 0.014);
  json_free(&j);

  // The bank is saved as JSON, skipped rounds included.
  char path[700];
  snprintf(path, sizeof path, "%s/bank.json", dir);
  ASSERTF(!bank_save(&b, path, &e), "%s", e.msg);
  bank_free(&b);
  text = slurp(path, &len);
  ASSERT(text && !json_parse(text, len, &j, &e));
  ASSERT_EQ_INT(json_arr_len(json_get(&j, "history")), 2);
  json_free(&j);
  free(text);

  // A malformed reply skips the round; the winner is then round 1.
  snprintf(cmd, sizeof cmd, "cmd:%s", bad);
  w = search_run(f.m, &f.s, &f.c, &f.imp, &cfg, &b, &e);
  ASSERTF(w, "%s", e.msg);
  ASSERT_EQ_INT(b.n, 2);
  ASSERTF(strstr(b.e[1].skipped, "not JSON"), "skipped: '%s'", b.e[1].skipped);
  ASSERT(isnan(b.e[1].score) && b.best == 0);
  unet_free(w);
  bank_free(&b);
  fixture_free(&f);
}

// Every way a reply can be wrong is reported, not obeyed.
TEST(search_external_proposer_errors) {
  Bank b = {0};
  char names[2][64] = {"a.mid", "b.out"};
  int width[2] = {8, 8};
  double share[2] = {0.5, 0.5};
  b.ngroups = 2;
  b.name = names;
  b.width = width;
  b.share = share;
  b.target = 0.5;
  b.best = -1;
  double keep[2];
  Err e;
  const char *bad[][2] = {
    {"echo '{\"keep\": {\"c.mid\": 0.5}}'", "unknown group"},
    {"echo '{\"keep\": {\"a.mid\": 1.5}}'", "(0, 1]"},
    {"echo '{\"keep\": {\"a.mid\": 0}}'", "(0, 1]"},
    {"echo '{\"keep\": {\"a.mid\": \"half\"}}'", "(0, 1]"},
    {"echo '{\"kept\": {}}'", "no \"keep\""},
    {"echo '[1, 2'", "not JSON"},
    {"exit 3", "status 3"},
    {"sleep 30; echo '{\"keep\": {}}'", "within 3 s"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double t0 = now_sec();
    // 3 s: a shell's start can take over 1 s on a loaded machine under ASan
    ASSERTF(propose_cmd(bad[i][0], &b, 2, 3, keep, &e) == -1, "accepted: %s", bad[i][0]);
    ASSERTF(strstr(e.msg, bad[i][1]), "%s: '%s'", bad[i][0], e.msg);
    ASSERT(now_sec() - t0 < 20);  // the sleeper is killed at the timeout, not waited for
  }
  ASSERT(propose_cmd("cat > /dev/null; echo '{\"keep\": {\"b.out\": 0.25}}'", &b, 2, 5, keep, &e) == 0);
  ASSERT(keep[0] == 1.0 && keep[1] == 0.25);
  ASSERT(propose_cmd("echo '{\"keep\": {}}'", &b, 2, 5, keep, &e) == 0);  // never reads stdin: fine
}

// A proposer that misbehaves for some rounds costs those rounds only: a reply that never
// ends (timeout), one over the size limit, one that is not JSON are each recorded in the
// bank as skipped, with why, and the search goes on to a good round after them.
TEST(search_external_proposer_bad_rounds_skipped) {
  Fixture f;
  fixture(&f);
  const char *dir = test_tmpdir();
  char script[600], cmd[700], body[2000];
  snprintf(script, sizeof script, "%s/flaky.sh", dir);
  snprintf(body, sizeof body,
           "n=$(cat '%s/flaky.count' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '%s/flaky.count'\n"
           "cat > '%s/flaky.in.'$n\n"
           "case $n in\n"
           "1) echo '{\"keep\": {'; exec sleep 120 ;;\n"  // starts a reply, never ends it
           "2) printf '{\"keep\": {}, \"pad\": \"'; head -c 2000000 /dev/zero | tr '\\0' x; echo '\"}' ;;\n"
           "3) echo 'no json here' ;;\n"
           "*) echo '{\"keep\": {\"conv_in.out\": 0.75}}' ;;\n"
           "esac",
           dir, dir, dir);
  write_script(script, body);
  snprintf(cmd, sizeof cmd, "cmd:%s", script);
  SearchCfg cfg = search_defaults(0.7, 250, 500);
  cfg.rounds = 5;
  cfg.batch = 8;
  cfg.timeout_s = 4;  // room for the 2 MB reply on a loaded machine under ASan
  cfg.proposer = cmd;
  Err e;
  Bank b;
  double t0 = now_sec();
  UNet *w = search_run(f.m, &f.s, &f.c, &f.imp, &cfg, &b, &e);
  ASSERTF(w, "%s", e.msg);
  ASSERTF(now_sec() - t0 < 100, "the search took %.1f s: the hung proposer was not killed", now_sec() - t0);
  ASSERT_EQ_INT(b.n, 5);
  const char *why[] = {"no reply within 4 s", "reply longer than", "not JSON"};
  for (int k = 0; k < 3; k++) {
    ASSERTF(strstr(b.e[k + 1].skipped, why[k]), "round %d skipped: '%s'", k + 2, b.e[k + 1].skipped);
    ASSERT(isnan(b.e[k + 1].score) && !b.e[k + 1].keep);
  }
  ASSERTF(!b.e[4].skipped[0], "round 5 skipped: %s", b.e[4].skipped);  // the search went on
  ASSERT(isfinite(b.e[4].score) && fabs(b.e[4].macs_ratio - 0.7) <= 0.02 * 0.7);
  ASSERT(b.best == 0 || b.best == 4);
  // Round 5's proposer saw the three skipped rounds, each with its reason.
  char path[700];
  snprintf(path, sizeof path, "%s/flaky.in.4", dir);
  size_t len;
  char *text = slurp(path, &len);
  ASSERT(text);
  Json j;
  ASSERTF(text && !json_parse(text, len, &j, &e), "%s", e.msg);
  const Json *hist = json_get(&j, "history");
  ASSERT_EQ_INT(json_arr_len(hist), 4);
  for (int k = 0; k < 3; k++) {
    const char *s = json_str(json_get(json_at(hist, k + 1), "skipped"));
    ASSERTF(s && strstr(s, why[k]), "history[%d].skipped: '%s'", k + 1, s ? s : "(none)");
  }
  json_free(&j);
  free(text);
  unet_free(w);
  bank_free(&b);
  fixture_free(&f);
}

// A plan's evaluation: one model reproduces eval_loss_curve; two models split the bins.
TEST(search_group_eval_matches_eval_loss_curve) {
  Fixture f;
  fixture(&f);
  Dataset d = {.n = 6, .c = 1, .h = 32, .w = 32, .x = f.c.x0};
  double a[4], c[4], per[2];
  int *of_t = xcalloc(1000, sizeof(int));
  eval_loss_curve(f.m, &f.s, &d, 6, 4, 7, 4, a);
  // (eval_loss_curve is eval_loss_curve_models with one model.) The same model twice, split at t = 500: the same curve, and each half's own mean
  for (int t = 500; t < 1000; t++) of_t[t] = 1;
  UNet *two[2] = {f.m, f.m};
  eval_loss_curve_models(two, 2, of_t, &f.s, &d, 6, 4, 7, 4, c, per);
  for (int i = 0; i < 4; i++) ASSERT_NEAR(c[i], a[i], 0, 1e-6);
  ASSERT_NEAR(per[0], (a[0] + a[1]) / 2, 0, 1e-6);
  ASSERT_NEAR(per[1], (a[2] + a[3]) / 2, 0, 1e-6);
  free(of_t);
  fixture_free(&f);
}

// A UI's cancel: importance stops between calibration batches with "cancelled" (progress
// reported until then), and the search stops before its next round with the best so far.
typedef struct { int left, reports; } CancelAfter;  // answers "go on" `left` times, then "stop"
static int cancel_after(void *ctx) { return --((CancelAfter *)ctx)->left < 0; }
static void count_progress(void *ctx, double frac) { ((CancelAfter *)ctx)->reports++; }

TEST(search_and_importance_cancel) {
  Fixture f;
  fixture(&f);
  Err e;
  CancelAfter state = {1, 0};  // one batch, then cancel
  ImpCfg ic = imp_defaults(CRIT_TAYLOR, 0, 1000);
  ic.batch = 2;  // 8 calibration images: 4 batches
  ic.watch = (Watch){cancel_after, count_progress, &state};
  Importance imp;
  ASSERT(importance_compute(f.m, &f.s, &f.c, &ic, &imp, &e) == -1);
  ASSERTF(!strcmp(e.msg, "cancelled"), "message: %s", e.msg);
  ASSERTF(state.reports >= 1 && state.reports < 4, "%d progress reports for 4 batches", state.reports);

  CancelAfter left = {0, 0};  // cancel at the first question, i.e. before round 2
  SearchCfg sc = search_defaults(0.6, 0, 1000);
  sc.rounds = 5;
  sc.cancelled = cancel_after;
  sc.ctx = &left;
  Bank bank;
  UNet *w = search_run(f.m, &f.s, &f.c, &f.imp, &sc, &bank, &e);
  ASSERTF(w, "%s", e.msg);
  ASSERT_EQ_INT(bank.n, 1);  // round 1 ran, nothing after it
  unet_free(w);
  bank_free(&bank);
  fixture_free(&f);
}
