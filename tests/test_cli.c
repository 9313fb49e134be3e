// test_cli.c — the stepscope binary as a user meets it: exit statuses, messages, files.
//
// Each test runs ./build/stepscope (built by `make test` before the runner) through the
// shell with stdout and stderr captured to files. One tiny model, trained for a few steps
// the first time a test needs it, is shared by every test of the run. Everything runs on
// one thread: these tests are about behaviour, and a busy machine makes thread teams slow.
#include "test.h"
#include "cli_run.h"
#include "engine/checkpoint.h"
#include "engine/png_io.h"
#include "tui/cli/fid_cli.h"
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIN cli_bin("stepscope")
// The same program with the emulated CUDA backend as its "cuda" device (tests/cuda_emu).
#define EMU_BIN cli_bin("stepscope-emu")

typedef CliResult Result;

// `stepscope ARGS`, and `stepscope-emu ARGS` (on which --device cuda is the emulated backend).
#define run(r, ...) cli_run(r, BIN, __VA_ARGS__)
#define run_emu(r, ...) cli_run(r, EMU_BIN, __VA_ARGS__)

static int have_binary(void) { return cli_have("stepscope"); }

// Writes n bytes to DIR/NAME, its path into path (400 chars); 0, or -1 where it cannot.
static int put_file(char *path, const char *dir, const char *name, const void *bytes, size_t n) {
  snprintf(path, 400, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t put = fwrite(bytes, 1, n, f);
  return fclose(f) == 0 && put == n ? 0 : -1;
}

// r exited with `status`, its stderr starting with `starts` and holding `says` (NULL: anything).
static void expect_exit(const Result *r, int status, const char *starts, const char *says) {
  ASSERT_EQ_INT(r->status, status);
  ASSERTF(!strncmp(r->err, starts, strlen(starts)) && (!says || strstr(r->err, says)), "stderr: %s", r->err);
}

// src with every '@' replaced by dir, into out.
static void expand_at(char *out, size_t cap, const char *src, const char *dir) {
  size_t k = 0;
  for (; *src && k + 1 < cap; src++) k += *src == '@' ? (size_t)snprintf(out + k, cap - k, "%s", dir) : (out[k] = *src, 1);
  out[k < cap ? k : cap - 1] = 0;
}

// The shared tiny model: 30 steps (batch 16) of the tiny preset on Fashion-MNIST. NULL (and the test
// failed or skipped) when it cannot be made.
static const char *tiny_model(void) {
  static char path[300];
  static int tried;
  if (!have_binary()) return NULL;
  if (!tried) {
    tried = 1;
    snprintf(path, sizeof path, "%s/m.safetensors", test_tmpdir());
    Result r;
    run(&r, "train --config tiny --steps 30 --batch 16 --out %s --device cpu --threads 1 --quiet", path);
    if (r.status != 0) {
      fprintf(stdout, "    training the test model failed (%d): %s", r.status, r.err);
      path[0] = 0;
    }
  }
  if (!path[0]) test_fail(__FILE__, __LINE__, "no test model");
  return path[0] ? path : NULL;
}

// Samples into DIR/NAME.png (its path into png) with extra options; returns png, or NULL.
static const char *sample(char png[300], const char *name, const char *opts) {
  const char *m = tiny_model();
  if (!m) return NULL;
  snprintf(png, 300, "%s/%s.png", test_tmpdir(), name);
  Result r;
  run(&r, "sample --model %s --device cpu --threads 1 --out %s %s", m, png, opts);
  if (r.status != 0) {
    test_fail(__FILE__, __LINE__, "sample %s exited %d: %s", opts, r.status, r.err);
    return NULL;
  }
  return png;
}

// Pixels of a PNG, malloc'd; NULL on failure.
static uint8_t *pixels(const char *path, int *w, int *h, int *c) {
  uint8_t *px;
  Err e;
  if (png_read(path, &px, w, h, c, &e)) { test_fail(__FILE__, __LINE__, "%s", e.msg); return NULL; }
  return px;
}

// 1 when two PNGs hold the same pixels, 0 when not, -1 when either cannot be read.
static int same_pixels(const char *a, const char *b) {
  int wa, ha, ca, wb, hb, cb;
  uint8_t *pa = pixels(a, &wa, &ha, &ca), *pb = pixels(b, &wb, &hb, &cb);
  int same = !pa || !pb ? -1 : wa == wb && ha == hb && ca == cb && !memcmp(pa, pb, (size_t)wa * ha * ca);
  free(pa);
  free(pb);
  return same;
}

// ---- help and usage ----

TEST(cli_help_lists_commands) {
  if (!have_binary()) return;
  Result r;
  run(&r, "help");
  ASSERT_EQ_INT(r.status, 0);
  const char *cmds[] = {"train", "sample", "info", "bench"};
  for (int i = 0; i < 4; i++) ASSERTF(strstr(r.out, cmds[i]), "help lacks '%s':\n%s", cmds[i], r.out);
}

TEST(cli_subcommand_help_exits_0) {
  if (!have_binary()) return;
  Result r;
  run(&r, "train --help");
  ASSERT_EQ_INT(r.status, 0);
  ASSERT(strstr(r.out, "usage: stepscope train"));
  run(&r, "sample --help");
  ASSERT_EQ_INT(r.status, 0);
  ASSERT(strstr(r.out, "--every"));
}

TEST(cli_unknown_option_or_command_exits_2) {
  if (!have_binary()) return;
  Result r;
  run(&r, "sample --model x --frobnicate");
  expect_exit(&r, 2, "stepscope: --frobnicate: unknown option", NULL);
  run(&r, "frobnicate");
  expect_exit(&r, 2, "stepscope: frobnicate: unknown command", NULL);
}

// Every error a user can cause is one line, `stepscope: <option or file>: <what is wrong>`,
// with exit status 2 for bad usage and 1 for bad data (man/stepscope.1, EXIT STATUS), and every
// command has --help. In ARGS and NAMES, @ stands for the scratch folder, which holds files
// that do not load: garbage.safetensors, garbage.plan, garbage.csv and nopng/a.png. `snr`
// reads no file, and `tui` in a pipe stops at "needs a terminal" before it reads one.
TEST(cli_errors_name_what_is_wrong) {
  if (!have_binary()) return;
  static const struct { const char *args; int status; const char *names; } cases[] = {
    {"tui --help", 0, "tui"},
    {"tui --view 9", 2, "--view"},
    {"tui --device tpu", 2, "--device"},
    {"train --help", 0, "train"},
    {"train --out @/x.safetensors --batch 0", 2, "--batch"},
    {"train --steps 1", 2, "--out"},
    {"train --out @/x.safetensors --data png:@/nopng --steps 1 --device cpu --threads 1", 1, "@/nopng/a.png"},
    {"sample --help", 0, "sample"},
    {"sample --model @/m --sampler euler", 2, "--sampler"},
    {"sample --model @/m --n 99999999999", 2, "--n"},
    {"sample --model @/m --seed -5", 2, "--seed"},
    {"sample --model @/garbage.safetensors --device cpu --threads 1", 1, "@/garbage.safetensors"},
    {"info --help", 0, "info"},
    {"info", 2, "FILE"},
    {"info @/garbage.safetensors", 1, "@/garbage.safetensors"},
    {"info @/missing.safetensors", 1, "@/missing.safetensors"},
    {"snr --help", 0, "snr"},
    {"snr --T 1", 2, "--T"},
    {"snr --split manual", 2, "--split"},
    {"plan --help", 0, "plan"},
    {"plan --model @/m --out @/p --k 0", 2, "--k"},
    {"plan --model @/m", 2, "--out"},
    {"plan --show @/garbage.plan", 1, "@/garbage.plan"},
    {"plan --model @/garbage.safetensors --out @/x.plan", 1, "@/garbage.safetensors"},
    {"importance --help", 0, "importance"},
    {"importance --plan @/p --criterion foo", 2, "--criterion"},
    {"importance --plan @/garbage.plan", 1, "@/garbage.plan"},
    {"prune --help", 0, "prune"},
    {"prune", 2, "--plan"},
    {"prune --plan @/p --proposer gpt", 2, "--proposer"},
    {"prune --plan @/garbage.plan", 1, "@/garbage.plan"},
    {"finetune --help", 0, "finetune"},
    {"finetune --plan @/p --steps 4 --budget 12", 2, "--steps"},
    {"finetune --plan @/garbage.plan", 1, "@/garbage.plan"},
    {"eval --help", 0, "eval"},
    {"eval --model @/m --plan @/p", 2, "--model"},
    {"eval --model @/m --bins 0", 2, "--bins"},
    {"eval --model @/garbage.safetensors --device cpu --threads 1", 1, "@/garbage.safetensors"},
    {"eval --plan @/garbage.plan", 1, "@/garbage.plan"},
    {"plot --help", 0, "plot"},
    {"plot @/garbage.csv --y b", 2, "--x"},
    {"plot @/garbage.csv --x a --y b --width 10", 2, "--width"},
    {"plot @/garbage.csv --x a --y b", 1, "@/garbage.csv"},
    {"bench --help", 0, "bench"},
    {"bench train --batch 0", 2, "--batch"},
    {"bench frobnicate", 2, "frobnicate"},
    {"bench sample --plan @/garbage.plan --no-torch --device cpu --threads 1", 1, "@/garbage.plan"},
    {"frobnicate", 2, "frobnicate"},
  };
  const char *dir = test_tmpdir();
  char path[400];
  const struct { const char *name, *bytes; } files[] = {
    {"garbage.safetensors", "\x10\0\0\0\0\0\0\0{not json at all"}, {"garbage.plan", "this is not a plan\n"},
    {"garbage.csv", "a,b\n1,2,3\n"}, {"nopng/a.png", "not a PNG"}};
  snprintf(path, sizeof path, "%s/nopng", dir);
  mkdir(path, 0777);
  for (int i = 0; i < 4; i++) ASSERT(!put_file(path, dir, files[i].name, files[i].bytes, i == 0 ? 24 : strlen(files[i].bytes)));
  Result *r = xmalloc(sizeof *r);
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
    char args[600], names[400], want[450];
    expand_at(args, sizeof args, cases[i].args, dir);
    expand_at(names, sizeof names, cases[i].names, dir);
    run(r, "%s", args);
    ASSERTF(r->status == cases[i].status, "'%s' exited %d, want %d; stderr: %s", args, r->status, cases[i].status, r->err);
    if (cases[i].status == 0) {  // the command's own help, on stdout
      snprintf(want, sizeof want, "usage: stepscope %s ", names);
      ASSERTF(!strncmp(r->out, want, strlen(want)) && !r->err[0], "'%s': stdout %.200s", args, r->out);
      continue;
    }
    snprintf(want, sizeof want, "stepscope: %s", names);
    const char *nl = strchr(r->err, '\n');
    ASSERTF(!strncmp(r->err, want, strlen(want)) && nl && !nl[1], "'%s': stderr is not one line naming %s:\n%s", args,
            names, r->err);
  }
  free(r);
}

// ---- sample ----

TEST(cli_sample_writes_png_with_text) {
  char png[300];
  if (!sample(png, "text", "--n 5 --steps 4 --seed 1234 --cols 5")) return;
  int w, h, c;
  uint8_t *px = pixels(png, &w, &h, &c);
  if (!px) return;
  free(px);
  ASSERT_EQ_INT(c, 1);  // Fashion-MNIST is grey
  ASSERT_EQ_INT(w, 5 * 32 + 4 * 2);
  ASSERT_EQ_INT(h, 32);
  char v[300];
  Err e;
  struct { const char *key, *want; } text[] = {
    {"seed", "1234"}, {"model", tiny_model()}, {"sampler", "ddim"}, {"steps", "4"},
    {"eta", "0"}, {"spacing", "trailing"}, {"software", "stepscope"}, {"weights", "ema"}};
  for (int i = 0; i < 8; i++) {
    ASSERTF(png_read_text(png, text[i].key, v, sizeof v, &e) == 0, "%s", e.msg);
    ASSERTF(!strcmp(v, text[i].want), "tEXt %s = '%s', want '%s'", text[i].key, v, text[i].want);
  }
}

TEST(cli_sample_same_seed_same_pixels) {
  char a[300], b[300], c[300];
  // eta 1: every step draws fresh noise, so the whole noise stream must repeat
  const char *seed7 = "--n 4 --steps 8 --eta 1 --seed 7", *seed8 = "--n 4 --steps 8 --eta 1 --seed 8";
  if (!sample(a, "seed7a", seed7) || !sample(b, "seed7b", seed7) || !sample(c, "seed8", seed8)) return;
  ASSERT_EQ_INT(same_pixels(a, b), 1);
  ASSERT_EQ_INT(same_pixels(a, c), 0);
}

TEST(cli_sample_ddim_eta0_reproducible) {
  char a[300], b[300];
  const char *opts = "--n 3 --steps 6 --eta 0 --spacing linspace --seed 3";
  if (!sample(a, "eta0a", opts) || !sample(b, "eta0b", opts)) return;
  ASSERT_EQ_INT(same_pixels(a, b), 1);
}

// Image i uses the noise stream seed + i, so batching must not change a pixel.
TEST(cli_sample_batch_does_not_change_pixels) {
  char a[300], b[300];
  if (!sample(a, "b1", "--n 3 --steps 5 --eta 1 --batch 1") || !sample(b, "b3", "--n 3 --steps 5 --eta 1 --batch 3")) return;
  ASSERT_EQ_INT(same_pixels(a, b), 1);
}

TEST(cli_sample_quiet_in_pipes_with_summary) {
  const char *m = tiny_model();
  if (!m) return;
  Result r;
  run(&r, "sample --model %s --device cpu --threads 1 --n 2 --steps 3 --out %s/q.png", m, test_tmpdir());
  ASSERT_EQ_INT(r.status, 0);
  ASSERTF(r.err[0] == 0, "stderr is not quiet in a pipe: %s", r.err);
  ASSERTF(strstr(r.out, "2 images -> ") && strstr(r.out, "ddim 3 steps") && strstr(r.out, "ms/call") &&
          strstr(r.out, "MACs/image"), "summary: %s", r.out);
}

TEST(cli_sample_bad_arguments) {
  const char *m = tiny_model();
  if (!m) return;
  char garbage[400];
  ASSERT(!put_file(garbage, test_tmpdir(), "garbage.safetensors", "\x10\0\0\0\0\0\0\0{not json at all", 24));
  struct { const char *args, *says; } usage[] = {  // each exits 2
    {"--steps 1001", "T = 1000"},
    {"--steps 0", "--steps"},
    {"--n 0", "--n"},
    {"--sampler euler", "--sampler: unknown value 'euler'"},
    {"--eta -1", "--eta"},
    {"--sampler ddpm --steps 50", "ddpm runs all"},
  };
  Result r;
  for (int i = 0; i < (int)(sizeof usage / sizeof usage[0]); i++) {
    run(&r, "sample --model %s --device cpu --threads 1 --out %s/bad.png %s", m, test_tmpdir(), usage[i].args);
    ASSERTF(r.status == 2, "'%s' exited %d, want 2", usage[i].args, r.status);
    ASSERTF(!strncmp(r.err, "stepscope: ", 11) && strstr(r.err, usage[i].says), "'%s': stderr %s", usage[i].args, r.err);
  }
  run(&r, "sample --model %s/missing.safetensors --device cpu --threads 1 --out %s/bad.png", test_tmpdir(), test_tmpdir());
  expect_exit(&r, 1, "stepscope: ", "missing.safetensors");
  run(&r, "sample --model %s --device cpu --threads 1 --out %s/bad.png", garbage, test_tmpdir());
  expect_exit(&r, 1, "stepscope: ", "garbage.safetensors");
  run(&r, "sample --device cpu --threads 1");
  ASSERT_EQ_INT(r.status, 2);
  ASSERT(strstr(r.err, "--model"));
}

TEST(cli_sample_show_half_blocks) {
  const char *m = tiny_model();
  if (!m) return;
  Result r;
  run(&r, "sample --model %s --device cpu --threads 1 --n 2 --steps 4 --out %s/show.png --show --every 2 --graphics blocks",
      m, test_tmpdir());
  ASSERT_EQ_INT(r.status, 0);
  ASSERT(strstr(r.out, "\xe2\x96\x80"));  // ▀
  // frames at steps 2 and 4, then the final grid: each framed by synchronized output
  int frames = 0;
  for (const char *p = r.out; (p = strstr(p, "\x1b[?2026h")); p++) frames++;
  ASSERT_EQ_INT(frames, 3);
  ASSERT(strstr(r.out, "step 4/4"));
  ASSERT(strstr(r.out, "\x1b[?25h"));  // the cursor comes back
}

// ---- train ----

TEST(cli_train_usage_and_data_errors) {
  if (!have_binary()) return;
  Result r;
  run(&r, "train --config tiny --steps 1");
  expect_exit(&r, 2, "stepscope: --out FILE: required", NULL);
  run(&r, "train --config tiny --steps 1 --device cpu --threads 1 --out %s/x.safetensors --data mnist:%s/nowhere",
      test_tmpdir(), test_tmpdir());
  expect_exit(&r, 1, "stepscope: ", "nowhere");
  run(&r, "train --config tiny --steps 1 --device cpu --threads 1 --out %s/x.safetensors --data floppy:disk", test_tmpdir());
  ASSERTF(r.status == 1 || r.status == 2, "exit %d", r.status);
  ASSERTF(strstr(r.err, "floppy"), "stderr: %s", r.err);
}

static int step_of(const char *path) {
  Err e;
  char *s = ckpt_meta(path, "step", &e);
  int step = s ? atoi(s) : -1;
  free(s);
  return step;
}

// Ctrl-C saves a resumable checkpoint, and --resume goes on from it.
TEST(cli_train_sigint_saves_and_resumes) {
  if (!have_binary()) return;
  char ck[300], err[300];
  snprintf(ck, sizeof ck, "%s/int.safetensors", test_tmpdir());
  snprintf(err, sizeof err, "%s/int.err", test_tmpdir());
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    if (!freopen(err, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(127);
    execl(BIN, BIN, "train", "--config", "tiny", "--steps", "100000", "--save-every", "0", "--batch", "8",
          "--device", "cpu", "--threads", "1", "--out", ck, (char *)NULL);
    _exit(127);
  }
  // The "training ..." line comes after the signal handlers are in place; then ~1 s of steps.
  char text[4096] = "";
  for (int i = 0; i < 300 && !strstr(text, "training"); i++) {
    usleep(100 * 1000);
    cli_slurp(err, text, sizeof text);
  }
  usleep(1000 * 1000);
  kill(pid, SIGINT);
  int st;
  ASSERT(waitpid(pid, &st, 0) == pid);
  cli_slurp(err, text, sizeof text);
  ASSERTF(WIFEXITED(st), "train died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  ASSERTF(WEXITSTATUS(st) == 1, "interrupted train exited %d", WEXITSTATUS(st));
  ASSERTF(strstr(text, "interrupted; saved"), "stderr: %s", text);
  int step = step_of(ck);
  ASSERTF(step > 0, "checkpoint step %d", step);

  Result r;
  run(&r, "train --resume %s --out %s --steps %d --batch 8 --device cpu --threads 1 --quiet", ck, ck, step + 3);
  ASSERTF(r.status == 0, "resume exited %d: %s", r.status, r.err);
  ASSERT_EQ_INT(step_of(ck), step + 3);
}

// ---- Step-Adaptive Training end to end: train -> plan -> prune -> finetune -> sample --plan ----

#include "engine/sat/plan.h"

// `bench sample --plan PLAN --profile` on the CPU, at batch 2: a row per model (the base and
// each of the plan's ngroups groups) with its MAC share, whose share of the ideal is the
// speedup times the MAC share; the op table with conv2d_fwd and a sum of ops per model that
// is the sum of its rows and no more than the whole call; and the whole runs' line.
static void bench_plan_rows(const char *plan, int ngroups) {
  Result r;
  run(&r, "bench sample --plan %s --batch 2 --steps 3 --runs 2 --run-batch 2 --profile --device cpu --threads 1",
      plan);
  ASSERTF(r.status == 0, "bench sample --plan: %s", r.err);
  char label[16];
  for (int k = -1; k < ngroups; k++) {
    k < 0 ? snprintf(label, sizeof label, "base") : snprintf(label, sizeof label, "g%d", k);
    char row[24];
    snprintf(row, sizeof row, "\n  %-5s", label);
    const char *s = strstr(r.out, row);
    ASSERTF(s, "no row for %s in: %s", label, r.out);
    int batch;
    double share, ms, speedup, ideal, of_ideal;
    ASSERTF(sscanf(s + strlen(row), "%d %lf %lf %lfx %lfx %lf%%", &batch, &share, &ms, &speedup, &ideal, &of_ideal) == 6,
            "row %s: %.80s", label, s);
    ASSERT_EQ_INT(batch, 2);
    ASSERTF(share > 0.2 && share <= 1.0001 && ms > 0, "row %s: %.80s", label, s);
    ASSERTF(fabs(ideal - 1 / share) < 0.01 && fabs(of_ideal - 100 * speedup * share) < 1.5, "row %s: %.80s", label, s);
  }
  // The op table: columns base, g0, ... (each group but the base as ms and share of ideal).
  const char *t = strstr(r.out, "op by op");
  ASSERTF(t, "no op table in: %s", r.out);
  ASSERTF(strstr(t, "\n  conv2d_fwd "), "no conv2d_fwd row in: %s", t);
  double col_sum[1 + PLAN_MAX_GROUPS] = {0}, sum[1 + PLAN_MAX_GROUPS], call[1 + PLAN_MAX_GROUPS];
  const char *line = strstr(t, "\n  op ");
  ASSERTF(line, "no header in: %s", t);
  for (line = strchr(line + 1, '\n'); line; line = strchr(line + 1, '\n')) {
    char name[32];
    if (sscanf(line, " %31s", name) != 1) break;
    const int is_sum = !strcmp(name, "sum"), is_call = !strcmp(name, "whole");
    const char *v = line + 1 + 2 + 18;  // past the newline, the indent and the name
    for (int k = 0; k <= ngroups; k++) {
      double ms;
      int used = 0;
      ASSERTF(sscanf(v, " %lf%n", &ms, &used) == 1, "'%s' column %d: %.120s", name, k, line);
      v += used;
      if (k) {
        double pct;
        ASSERTF(sscanf(v, " %lf%%%n", &pct, &used) == 1, "'%s' column %d: %.120s", name, k, line);
        v += used;
      }
      if (is_sum) sum[k] = ms;
      else if (is_call) call[k] = ms;
      else col_sum[k] += ms;
    }
    if (is_call) break;
  }
  for (int k = 0; k <= ngroups; k++) {
    ASSERTF(fabs(sum[k] - col_sum[k]) <= 0.002 * (ngroups + 20) && sum[k] > 0, "column %d: sum %.3f, rows %.3f", k,
            sum[k], col_sum[k]);
    ASSERTF(sum[k] <= call[k] + 0.002, "column %d: ops %.3f ms in a call of %.3f", k, sum[k], call[k]);
  }
  // The whole runs: 2 of the plan, 3 of the base (first and last), each time listed.
  const char *w = strstr(r.out, "runs of the plan and 3 of the base");
  ASSERTF(w && strstr(w, "time share") && strstr(w, "MAC share"), "no whole-run lines in: %s", r.out);
  double s[3];
  const char *bl = strstr(w, "\n  base "), *pl = strstr(w, "\n  plan ");
  ASSERTF(bl && sscanf(bl, " base %lf %lf %lf", &s[0], &s[1], &s[2]) == 3 && s[2] > 0, "base runs: %s", w);
  ASSERTF(pl && sscanf(pl, " plan %lf %lf", &s[0], &s[1]) == 2 && s[1] > 0, "plan runs: %s", w);
  // The plan's MACs: below the base's (its groups are pruned), counted on a plan run.
  const char *ms = strstr(w, "MAC share ");
  double mac = 0;
  ASSERTF(ms && sscanf(ms, "MAC share %lf", &mac) == 1 && mac > 20 && mac < 99.9, "MAC share: %s", w);
}

// On `bin` (BIN, or EMU_BIN with dev "--device cuda": the CUDA code paths), with the files
// named after `name`: a search on `calib` images, fine-tuning `ft` ("--steps N --batch B"),
// and the evaluation's options in eval_opts (NULL: no evaluation).
static void sat_end_to_end(const char *bin, const char *dev, const char *name, int calib, const char *ft,
                           const char *eval_opts) {
  const char *m = tiny_model();
  if (!m) return;
  char plan[300], png[300];
  snprintf(plan, sizeof plan, "%s/%s.plan", test_tmpdir(), name);
  snprintf(png, sizeof png, "%s/%s.png", test_tmpdir(), name);
  Result r;
  run(&r, "plan --model %s --groups 3 --k 0.5 --rounds 2 --calib %d --out %s", m, calib, plan);
  ASSERTF(r.status == 0, "plan: %s", r.err);
  cli_run(&r, bin, "prune --plan %s %s --quiet", plan, dev);
  ASSERTF(r.status == 0, "prune: %s", r.err);
  cli_run(&r, bin, "finetune --plan %s %s %s --quiet", plan, ft, dev);
  ASSERTF(r.status == 0, "finetune: %s", r.err);

  // The plan now names a fine-tuned model per group, each within 2 % of its MACs target.
  Plan p;
  Err e;
  ASSERTF(plan_load(plan, &p, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(p.ngroups, 3);
  Backend *be = backend_cpu_create(1);
  UNet *base = ckpt_load_model(m, be, 1, NULL, &e);
  ASSERTF(base, "%s", e.msg);
  for (int g = 0; g < p.ngroups; g++) {
    ASSERTF(strstr(p.g[g].model, ".ft."), "group %d model '%s'", g, p.g[g].model);
    UNet *gm = ckpt_load_model(p.g[g].model, be, 1, NULL, &e);
    ASSERTF(gm, "%s", e.msg);
    double ratio = unet_macs(gm) / unet_macs(base);
    ASSERTF(fabs(ratio - p.g[g].ratio) <= 0.02 * p.g[g].ratio, "group %d: MACs ratio %.3f, target %.3f", g, ratio,
            p.g[g].ratio);
    unet_free(gm);
    // The pruned model (before fine-tuning) records the criterion that ranked its channels: at
    // full size always magnitude (nothing to rank), else the plan's.
    char pruned[sizeof p.g[g].model];
    snprintf(pruned, sizeof pruned, "%.*s.safetensors", (int)(strstr(p.g[g].model, ".ft.") - p.g[g].model),
             p.g[g].model);
    char *crit = ckpt_meta(pruned, "criterion", &e);
    const char *want = p.g[g].ratio >= 1 ? "magnitude" : p.criterion;
    ASSERTF(crit && !strcmp(crit, want), "group %d (%s): criterion '%s', want '%s'", g, pruned, crit ? crit : "?", want);
    free(crit);
  }
  unet_free(base);
  be->destroy(be);

  cli_run(&r, bin, "sample --plan %s --n 3 --steps 10 %s --out %s", plan, dev, png);
  ASSERTF(r.status == 0, "sample --plan: %s", r.err);
  ASSERTF(strstr(r.out, "of the base model"), "no compute report in: %s", r.out);
  ASSERT(access(png, R_OK) == 0);
  ASSERTF(!strstr(r.err, "running without graphs"), "a recording failed: %s", r.err);
  if (bin == BIN) bench_plan_rows(plan, p.ngroups);
  if (!eval_opts) return;
  cli_run(&r, bin, "eval --plan %s %s %s", plan, eval_opts, dev);
  ASSERTF(r.status == 0, "eval --plan: %s", r.err);
  ASSERTF(strstr(r.out, "mean loss over all t"), "eval --plan printed: %s", r.out);
}

TEST(cli_sat_end_to_end) {
  sat_end_to_end(BIN, "--device cpu --threads 1", "e2e", 32, "--steps 6 --batch 8", "--n 8 --bins 4");
}


// The shipped FID-FMNIST classifier, which the tests find where a checkout has it; else skip.
static int have_fid_classifier(void) {
  if (access(FID_DEFAULT_CLASSIFIER, R_OK) == 0) return 1;
  test_skip("run from the repository root (" FID_DEFAULT_CLASSIFIER ")");
  return 0;
}

// eval --fid: samples scored by FID-FMNIST (named as such), with the machine-readable line.
TEST(cli_eval_fid) {
  const char *m = tiny_model();
  if (!m) return;
  if (!have_fid_classifier()) return;
  Result r;
  run(&r, "eval --model %s --fid 24 --steps 2 --batch 12 --device cpu --threads 1", m);
  ASSERTF(r.status == 0, "eval --fid: %s", r.err);
  ASSERTF(strstr(r.out, "FID-FMNIST") && strstr(r.out, "not Inception"), "output: %s", r.out);
  double fid = -1, compute = -1;
  const char *line = strstr(r.out, "result fid_fmnist=");
  ASSERT(line && sscanf(line, "result fid_fmnist=%lf gmacs_per_sample=%*f compute=%lf", &fid, &compute) == 2);
  ASSERT(fid > 0 && isfinite(fid));
  ASSERT_NEAR(compute, 1.0, 1e-9, 0);  // one model: the base's compute
  run(&r, "eval --model %s --fid 1", m);
  ASSERT_EQ_INT(r.status, 2);
}

// eval --fid with seed sets: a model against itself differs by exactly 0 with a 0-wide
// interval and is "not distinguishable"; the CSV carries every set; a second run samples
// nothing (the features come from the cache) and prints the same numbers.
TEST(cli_eval_fid_seed_sets_paired_and_cached) {
  const char *m = tiny_model();
  if (!m) return;
  if (!have_fid_classifier()) return;
  static Result r, again;
  const char *opts = "--fid 16 --seed-sets 3 --steps 2 --batch 8 --device cpu --threads 1";
  run(&r, "eval --model %s --against %s %s --cache %s/evc", m, m, opts, test_tmpdir());
  ASSERTF(r.status == 0, "eval: %s", r.err);
  ASSERTF(strstr(r.out, "model is not distinguishable from the reference at N = 16"), "%s", r.out);
  ASSERTF(strstr(r.out, "KID-FMNIST") && strstr(r.out, "real training images"), "%s", r.out);
  double d, lo, hi;
  const char *line = strstr(r.out, "diff_fid=");
  ASSERT(line && sscanf(line, "diff_fid=%lf diff_fid_lo=%lf diff_fid_hi=%lf", &d, &lo, &hi) == 3);
  ASSERT(d == 0 && lo == 0 && hi == 0);
  run(&again, "eval --model %s --against %s %s --cache %s/evc", m, m, opts, test_tmpdir());
  ASSERTF(again.status == 0 && strstr(again.out, "all from the cache"), "%s", again.out);
  const char *a = strstr(r.out, "result "), *b = strstr(again.out, "result ");
  ASSERT(a && b);
  ASSERTF(!strncmp(a, b, strcspn(a, "\n") > 60 ? 60 : strcspn(a, "\n")), "%s\nvs\n%s", a, b);
  run(&r, "eval --model %s %s --csv --no-cache", m, opts);
  ASSERTF(r.status == 0, "eval --csv: %s", r.err);
  ASSERT(strstr(r.out, "subject,measure,stat,index,value\n"));
  for (int j = 0; j < 3; j++) {
    char row[64];
    snprintf(row, sizeof row, "\nmodel,fid,set,%d,", j);
    ASSERTF(strstr(r.out, row), "no row %s in\n%s", row + 1, r.out);
    snprintf(row, sizeof row, "\nreal,fid,set,%d,", j);
    ASSERTF(strstr(r.out, row), "no row %s", row + 1);
  }
  ASSERT(strstr(r.out, "\nmodel,kid,mean,,") && strstr(r.out, "\nmodel,fid,lo,,"));
  run(&r, "eval --model %s --fid 16 --seed-sets 0", m);
  ASSERT_EQ_INT(r.status, 2);
  run(&r, "eval --model %s --fid 16 --kid-subset 17", m);
  ASSERT_EQ_INT(r.status, 2);
}

// ---- the CUDA code paths of the command line, on the emulated backend ----
// build/stepscope-emu is this program with the CUDA backend's code running on the CPU emulator
// of tests/cuda_emu: what the commands do with --device cuda (graphs, the second cuDNN policy,
// the algorithm report, sampling with recorded forwards) runs in every build.

static int have_emu_binary(void) { return cli_have("stepscope-emu"); }

// bench train --device cuda --profile: the CUDA rows (graphs, without graphs, the other cuDNN
// policy, both policies with the graph-API engines searched), the op table, and the cuDNN
// algorithm report with what determinism costs.
TEST(cli_cuda_emu_bench_train_profile) {
  if (!have_emu_binary()) return;
  Result r;
  run_emu(&r, "bench train --device cuda --config tiny --batch 2 --steps 1 --no-torch --profile --threads 1");
  ASSERTF(r.status == 0, "status %d, stderr: %s", r.status, r.err);
  const char *want[] = {"device cuda", "deterministic cuDNN", "the same without graphs", "fastest cuDNN (--nondeterministic)",
                        "deterministic cuDNN, engines searched", "fastest cuDNN, engines searched",
                        "profile: 1 step on cuda", "conv2d_bwd_filter", "groupnorm_bwd", "adamw",
                        "cuda convolution algorithms", "determinism costs"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ASSERTF(strstr(r.out, want[i]), "no '%s' in:\n%s", want[i], r.out);
  ASSERTF(!strstr(r.err, "running without graphs"), "a recording failed:\n%s", r.err);
}

// bench sample --device cuda: DDIM and DDPM rows from recorded forwards, and DDPM without them.
TEST(cli_cuda_emu_bench_sample) {
  if (!have_emu_binary()) return;
  Result r;
  run_emu(&r, "bench sample --device cuda --config tiny --batch 2 --steps 1 --no-torch");
  ASSERTF(r.status == 0, "status %d, stderr: %s", r.status, r.err);
  const char *want[] = {"device cuda", "replay a graph recorded per batch size", "ddim-50", "ddpm-1000", "ddpm direct"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ASSERTF(strstr(r.out, want[i]), "no '%s' in:\n%s", want[i], r.out);
  ASSERTF(!strstr(r.err, "running without graphs"), "a recording failed:\n%s", r.err);
}

// The same seed gives the same picture on the CPU and through the CUDA backend (recorded
// forwards): 8-bit pixels within 1 level, almost all equal.
TEST(cli_cuda_emu_sample_matches_cpu) {
  if (!have_emu_binary()) return;
  char cpu_png[300], emu_png[300];
  if (!sample(cpu_png, "cpu-ref-image", "--n 2 --steps 4 --seed 3")) return;
  snprintf(emu_png, sizeof emu_png, "%s/emu-image.png", test_tmpdir());
  Result r;
  run_emu(&r, "sample --model %s --device cuda --n 2 --steps 4 --seed 3 --out %s", tiny_model(), emu_png);
  ASSERTF(r.status == 0, "status %d, stderr: %s", r.status, r.err);
  ASSERTF(!strstr(r.err, "running without graphs"), "a recording failed:\n%s", r.err);
  int wa, ha, ca, wb, hb, cb;
  uint8_t *a = pixels(cpu_png, &wa, &ha, &ca), *b = pixels(emu_png, &wb, &hb, &cb);
  ASSERT(a && b && wa == wb && ha == hb && ca == cb);
  int differ = 0, worst = 0;
  for (long i = 0; i < (long)wa * ha * ca; i++) {
    int d = abs((int)a[i] - b[i]);
    differ += d != 0;
    if (d > worst) worst = d;
  }
  printf("    %d of %d pixels differ, by at most %d\n", differ, wa * ha * ca, worst);
  ASSERT(worst <= 1);
  ASSERT(differ <= wa * ha * ca / 100);
  free(a);
  free(b);
}

// train on the CUDA backend (a recorded step graph, the prefetched batches) writes a
// checkpoint the CPU can load and sample from.
TEST(cli_cuda_emu_train_writes_checkpoint) {
  if (!have_emu_binary() || !have_binary()) return;
  char ckpt[300], png[300];
  snprintf(ckpt, sizeof ckpt, "%s/emu-trained.safetensors", test_tmpdir());
  snprintf(png, sizeof png, "%s/emu-trained.png", test_tmpdir());
  Result r;
  run_emu(&r, "train --config tiny --steps 3 --batch 4 --device cuda --out %s --quiet", ckpt);
  ASSERTF(r.status == 0, "status %d, stderr: %s", r.status, r.err);
  ASSERTF(!strstr(r.err, "running without graphs"), "a recording failed:\n%s", r.err);
  run(&r, "sample --model %s --device cpu --threads 1 --n 1 --steps 2 --out %s", ckpt, png);
  ASSERTF(r.status == 0, "sampling the emulator-trained model: %s", r.err);
}

// --device cuda where no GPU works is one plain line and exit 1, never a crash: on this
// build's real CUDA backend (or, built without CUDA, the line that says so). Skipped where a
// GPU answers.
TEST(cli_device_cuda_without_a_gpu_says_so) {
  const char *m = tiny_model();
  if (!m) return;
  char png[300];
  snprintf(png, sizeof png, "%s/nogpu.png", test_tmpdir());
  Result r;
  run(&r, "sample --model %s --device cuda --n 1 --steps 1 --out %s", m, png);
  if (r.status == 0) {
    test_skip("a CUDA device is present and works");
    return;
  }
  printf("    %s", r.err);
  ASSERT_EQ_INT(r.status, 1);
  ASSERTF(!strncmp(r.err, "stepscope: no usable CUDA device (", 34) ||
              !strncmp(r.err, "stepscope: this stepscope was built without CUDA", 48),
          "stderr: %s", r.err);
  ASSERTF(!strchr(r.err, '\n') || !strchr(r.err, '\n')[1], "more than one line: %s", r.err);
}

// Too little device memory is said plainly: --device auto falls back to the CPU in one line
// and samples; --device cuda names what it could not reserve; a batch that does not fit ends
// with what was asked for, what is held and what is free, and the --batch that helps.
TEST(cli_cuda_emu_out_of_device_memory) {
  if (!have_emu_binary()) return;
  const char *m = tiny_model();
  if (!m) return;
  char png[300];
  snprintf(png, sizeof png, "%s/oom.png", test_tmpdir());
  char small[4300], some[4300];
  snprintf(small, sizeof small, "STEPSCOPE_EMU_DEVICE_MEMORY=100M %s", EMU_BIN);
  snprintf(some, sizeof some, "STEPSCOPE_EMU_DEVICE_MEMORY=300M %s", EMU_BIN);
  Result r;
  cli_run(&r, small, "sample --model %s --device auto --n 2 --steps 2 --threads 1 --out %s", m, png);
  ASSERTF(r.status == 0, "status %d: %s", r.status, r.err);
  ASSERTF(strstr(r.err, "no usable CUDA device (cannot reserve 256 MiB of GPU memory") && strstr(r.err, "using the CPU"),
          "stderr: %s", r.err);
  ASSERT(access(png, R_OK) == 0);
  cli_run(&r, small, "sample --model %s --device cuda --n 2 --steps 2 --out %s", m, png);
  ASSERT_EQ_INT(r.status, 1);
  ASSERTF(strstr(r.err, "no usable CUDA device (cannot reserve 256 MiB of GPU memory"), "stderr: %s", r.err);
  cli_run(&r, some, "sample --model %s --device cuda --n 512 --batch 512 --steps 2 --out %s", m, png);
  ASSERT_EQ_INT(r.status, 1);
  ASSERTF(strstr(r.err, "out of GPU memory:") && strstr(r.err, "MiB free of 300.0 MiB") && strstr(r.err, "--batch"),
          "stderr: %s", r.err);
  ASSERTF(!strstr(r.err, "CUDA error"), "a raw CUDA error instead of the message: %s", r.err);
}

// Pruning (importance from gradients), fine-tuning and sampling a plan on the CUDA backend's
// code. (Its evaluation runs a model call per timestep: too slow for the emulator, and the
// same forwards as sampling.)
TEST(cli_cuda_emu_sat_end_to_end) {
  if (have_emu_binary()) sat_end_to_end(EMU_BIN, "--device cuda", "e2e-cuda", 8, "--steps 2 --batch 2", NULL);
}

// FID-FMNIST through the CUDA backend (sampling, then the classifier's features on the device):
// the CPU's score for the same seed, to the printed digit.
TEST(cli_cuda_emu_eval_fid) {
  if (!have_emu_binary()) return;
  const char *m = tiny_model();
  if (!m) return;
  if (!have_fid_classifier()) return;
  double fid[2] = {-1, -1};
  for (int k = 0; k < 2; k++) {
    Result r;
    if (k == 0) run(&r, "eval --model %s --fid 8 --steps 2 --batch 4 --device cpu --threads 1", m);
    else run_emu(&r, "eval --model %s --fid 8 --steps 2 --batch 4 --device cuda", m);
    ASSERTF(r.status == 0, "eval --fid (%s): %s", k ? "cuda" : "cpu", r.err);
    const char *line = strstr(r.out, "result fid_fmnist=");
    ASSERT(line && sscanf(line, "result fid_fmnist=%lf", &fid[k]) == 1);
  }
  printf("    FID-FMNIST of 8 samples: %.4f on the CPU, %.4f through CUDA\n", fid[0], fid[1]);
  ASSERT_NEAR(fid[1], fid[0], 1e-3, 1e-4);
}
