// The explorer driven through tmux, as a person would: keys in, screen text out
// (capture-pane), on a tiny model trained here. Each test runs a shell in a private tmux
// server, starts `stepscope tui` in it, and quits back to that shell.
#include "engine/sat/plan.h"
#include "test.h"
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

static char sock[300], model[300];
#ifndef TEST_BUILD_DIR
#define TEST_BUILD_DIR "build"  // the Makefile names the folder the tests were built in
#endif
static const char *BIN = "./" TEST_BUILD_DIR "/stepscope";

// Runs a shell command built like printf; returns its exit status.
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// tmux on our own socket, without the user's configuration.
#define TMUX "tmux -S %s -f /dev/null "

// Sets up once: tmux present, the binary built, a tiny model trained. Returns 0 or skips.
static int setup(void) {
  static int state;  // 0 not tried, 1 ready, -1 skip
  static char why[200];
  if (state == 0) {
    state = -1;
    if (sh("command -v tmux >/dev/null 2>&1")) snprintf(why, sizeof why, "tmux is not installed");
    else if (access(BIN, X_OK)) snprintf(why, sizeof why, "%s is not built (make build-tests)", BIN);
    else {
      snprintf(sock, sizeof sock, "%s/tmux.sock", test_tmpdir());
      snprintf(model, sizeof model, "%s/m.safetensors", test_tmpdir());
      if (sh("%s train --config tiny --steps 30 --out %s --device cpu --threads 1 --quiet >/dev/null 2>&1", BIN, model))
        snprintf(why, sizeof why, "could not train the tiny model");
      else state = 1;
    }
  }
  if (state < 0) test_skip(why);
  return state > 0 ? 0 : -1;
}

static void screen(const char *s, char *buf, size_t cap) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, TMUX "capture-pane -p -t %s 2>/dev/null", sock, s);
  FILE *f = popen(cmd, "r");
  size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
  buf[n] = 0;
  if (f) pclose(f);
}

// Waits up to `secs` for text to appear on the screen (or, with gone, to disappear).
static int wait_for(const char *s, const char *text, double secs, int gone) {
  static char buf[65536];
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    screen(s, buf, sizeof buf);
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((strstr(buf, text) == NULL) == gone) {
      if (getenv("TUI_TEST_VERBOSE")) printf("    %.2f s for %s'%s'\n", t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) * 1e-9, gone ? "no " : "", text);
      return 1;
    }
    if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) * 1e-9 > secs) break;
    usleep(30000);
  }
  printf("    --- screen (waited %.0f s for %s'%s') ---\n%s\n", secs, gone ? "no " : "", text, buf);
  return 0;
}

static void keys(const char *s, const char *k) { sh(TMUX "send-keys -t %s %s", sock, s, k); }

// A shell in a new w x h window (in folder dir, or the current one).
static int open_shell(const char *s, int w, int h, const char *dir) {
  sh(TMUX "kill-session -t %s >/dev/null 2>&1", sock, s);
  // (a server whose last session just ended may still be exiting: try again)
  for (int i = 0; i < 20; i++) {
    if (!sh(TMUX "new-session -d -s %s -x %d -y %d -c '%s' 'env -u NO_COLOR TERM=screen-256color PS1=\"$ \" sh' 2>/dev/null",
            sock, s, w, h, dir ? dir : "."))
      return 0;
    usleep(100000);
  }
  return -1;
}

// A shell, then `BIN tui ARGS` typed into it, computing on `device`.
static int start_on(const char *s, int w, int h, const char *bin, const char *device, const char *args) {
  if (open_shell(s, w, h, NULL)) return -1;
  sh(TMUX "send-keys -t %s '%s tui --model %s --device %s --threads 1 --graphics blocks --view 1 %s' Enter", sock, s,
     bin, model, device, args);
  return wait_for(s, "1 Schedule", 10, 0) ? 0 : -1;
}

// The same for `stepscope tui ARGS`, on the CPU unless STEPSCOPE_TEST_DEVICE names another
// device (the GPU session script sets cuda).
static int start(const char *s, int w, int h, const char *args) {
  const char *dev = getenv("STEPSCOPE_TEST_DEVICE");
  return start_on(s, w, h, BIN, dev && *dev ? dev : "cpu", args);
}

// Quits and checks that the shell is back in a sane terminal: it echoes what is typed,
// runs commands, and the line discipline is canonical with echo on again.
static int quit_to_shell(const char *s) {
  keys(s, "q");
  if (!wait_for(s, "1 Schedule", 5, 1)) return 0;
  keys(s, "'clear; stty -a | tr \" \" \"\\n\" | grep -x -e -icanon -e -echo -e icanon -e echo | tr \"\\n\" \" \"; echo alive-$((6*7))' Enter");
  int ok = wait_for(s, "alive-42", 5, 0) && wait_for(s, "icanon echo", 2, 0);
  sh(TMUX "kill-session -t %s >/dev/null 2>&1", sock, s);
  return ok;
}

TEST(tui_views_switch) {
  if (setup()) return;
  ASSERT(start("views", 120, 40, "") == 0);
  ASSERT(wait_for("views", "SNR_dB(t)", 5, 0));
  ASSERT(wait_for("views", "groups · 5", 2, 0));
  keys("views", "3");
  ASSERT(wait_for("views", "base model · m.safetensors", 5, 0));
  ASSERT(wait_for("views", "predicted", 2, 0));
  keys("views", "5");
  ASSERT(wait_for("views", "validation loss per timestep", 5, 0));
  keys("views", "2");
  ASSERT(wait_for("views", "2 Importance", 2, 0));
  keys("views", "4");
  ASSERT(wait_for("views", "Prune", 3, 0));
  keys("views", "5 Tab");  // wraps from the last view to the first
  ASSERT(wait_for("views", "SNR_dB(t)", 5, 0));
  keys("views", "BTab");
  ASSERT(wait_for("views", "validation loss", 5, 0));
  keys("views", "?");
  ASSERT(wait_for("views", "Esc closes", 3, 0));
  keys("views", "Escape");
  ASSERT(wait_for("views", "Esc closes", 3, 1));
  keys("views", "3");  // quit while both samplers run
  ASSERT(wait_for("views", "step ", 5, 0));
  ASSERT(quit_to_shell("views"));
}

// A plan of two groups split at t = 500, written with the plan API.
static void two_group_plan(const char *path) {
  Plan p;
  Schedule s;
  Err e;
  int b = 500;
  plan_init(&p, SCHED_LINEAR, 1000);
  schedule_init(&s, SCHED_LINEAR, 1000);
  plan_split(&p, &s, SPLIT_MANUAL, 2, &b, &e);
  p.g[0].ratio = 1.0, p.g[1].ratio = 0.5;
  p.order = ORDER_MANUAL;
  plan_save(path, &p, &e);
  schedule_free(&s);
}

TEST(tui_boundary_move_and_save) {
  if (setup()) return;
  char plan[400], saved[400], args[900];
  snprintf(plan, sizeof plan, "%s/two.plan", test_tmpdir());
  snprintf(saved, sizeof saved, "%s/saved.plan", test_tmpdir());
  two_group_plan(plan);
  snprintf(args, sizeof args, "--plan %s", plan);
  ASSERT(start("edit", 120, 40, args) == 0);
  ASSERT(wait_for("edit", "0–499", 5, 0));
  ASSERT(wait_for("edit", "500–999", 1, 0));
  keys("edit", "Right");  // +10
  ASSERT(wait_for("edit", "0–509", 3, 0));
  ASSERT(wait_for("edit", "510–999", 1, 0));
  keys("edit", ",");      // -1
  ASSERT(wait_for("edit", "0–508", 3, 0));
  ASSERT(wait_for("edit", "[+]", 1, 0));  // modified
  keys("edit", "Down + +");  // the noisy group's ratio 0.50 -> 0.60
  ASSERT(wait_for("edit", "0.60", 3, 0));
  keys("edit", "S");
  ASSERT(wait_for("edit", "Save the plan to", 3, 0));
  char k[600];
  snprintf(k, sizeof k, "C-u '%s' Enter", saved);
  keys("edit", k);
  ASSERT(wait_for("edit", "saved ", 3, 0));
  ASSERT(wait_for("edit", "[+]", 2, 1));
  ASSERT(quit_to_shell("edit"));
  // the file loads in the CLI's plan API with the edits in it
  Plan p;
  Err e;
  ASSERTF(plan_load(saved, &p, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(p.ngroups, 2);
  ASSERT_EQ_INT(p.g[0].t1, 509);  // shown as "0–508": ranges are inclusive on screen
  ASSERT_EQ_INT(p.g[1].t0, 509);
  ASSERT_NEAR(p.g[1].ratio, 0.6, 1e-9, 0);
  ASSERT_NEAR(p.g[0].ratio, 1.0, 1e-9, 0);
  // and in `stepscope plan --show` when this build has the plan command
  if (sh("%s plan --help >/dev/null 2>&1", BIN) == 0)
    ASSERT(sh("%s plan --show %s >/dev/null", BIN, saved) == 0);
}

TEST(tui_prune_and_finetune_jobs) {
  if (setup()) return;
  char dir[400], plan[500], args[600];
  snprintf(dir, sizeof dir, "%s/prune", test_tmpdir());
  snprintf(plan, sizeof plan, "%s/sat.plan", dir);
  mkdir(dir, 0700);
  // two groups, a short search and a short fine-tune
  ASSERT(sh("%s plan --model %s --out %s --groups 2 --criterion magnitude --calib 16 --rounds 2 --finetune 6 >/dev/null",
            BIN, model, plan) == 0);
  snprintf(args, sizeof args, "--plan %s", plan);
  ASSERT(start("prune", 120, 40, args) == 0);
  keys("prune", "4");
  ASSERT(wait_for("prune", "group models", 3, 0));
  keys("prune", "A");
  ASSERT(wait_for("prune", "prune/fine-tune", 5, 0));  // its spinner on the status line
  ASSERT(wait_for("prune", "finished", 60, 0));
  ASSERT(wait_for("prune", "sat.g1.ft.safetensors", 2, 0));
  ASSERT(wait_for("prune", "[+]", 3, 1));  // the plan file was saved
  ASSERT(quit_to_shell("prune"));
  Plan p;
  Err e;
  ASSERTF(plan_load(plan, &p, &e) == 0, "%s", e.msg);
  for (int j = 0; j < 2; j++) {
    ASSERTF(strstr(p.g[j].model, ".ft.safetensors"), "group %d: '%s'", j, p.g[j].model);
    ASSERT(access(p.g[j].model, R_OK) == 0);
  }
  char bank[600];
  snprintf(bank, sizeof bank, "%s/sat.g1.safetensors.bank.json", dir);
  ASSERT(access(bank, R_OK) == 0);
}

// The Prune view's fine-tune settings: d D step the distillation weight W, l switches the steps
// between equal and by loss gap, b sets the budget; the line under the group models shows them,
// and the key bar and the help list the keys. They are not plan edits: q quits without asking.
TEST(tui_prune_finetune_settings) {
  if (setup()) return;
  char plan[400], args[500];
  snprintf(plan, sizeof plan, "%s/ftset.plan", test_tmpdir());
  two_group_plan(plan);
  snprintf(args, sizeof args, "--plan %s", plan);
  ASSERT(start("ftset", 120, 40, args) == 0);
  keys("ftset", "4");
  ASSERT(wait_for("ftset", "group models", 3, 0));
  ASSERT(wait_for("ftset", "budget 4000 steps = 2000 × 2 groups", 2, 0));
  ASSERT(wait_for("ftset", "steps by equal", 1, 0));
  ASSERT(wait_for("ftset", "distill W=0 (off)", 1, 0));
  ASSERT(wait_for("ftset", "d distill ", 1, 0));  // the key bar
  ASSERT(wait_for("ftset", "l steps-by", 1, 0));
  ASSERT(wait_for("ftset", "b budget", 1, 0));
  keys("ftset", "d d d");
  ASSERT(wait_for("ftset", "distill W=0.3", 3, 0));
  keys("ftset", "D");
  ASSERT(wait_for("ftset", "distill W=0.2", 3, 0));
  keys("ftset", "l");
  ASSERT(wait_for("ftset", "steps by loss", 3, 0));
  keys("ftset", "b");
  ASSERT(wait_for("ftset", "Total fine-tune steps", 3, 0));
  keys("ftset", "C-u 777 Enter");
  ASSERT(wait_for("ftset", "budget 777 steps", 3, 0));
  keys("ftset", "?");
  ASSERT(wait_for("ftset", "distillation weight W up, down", 3, 0));
  ASSERT(wait_for("ftset", "fine-tune steps by equal | loss", 1, 0));
  ASSERT(wait_for("ftset", "fine-tune budget: total steps", 1, 0));
  keys("ftset", "Escape");
  ASSERT(wait_for("ftset", "distill W=0.2", 3, 0));  // kept
  ASSERT(quit_to_shell("ftset"));  // no unsaved-edits question: q quits
}

TEST(tui_quit_asks_when_modified) {
  if (setup()) return;
  ASSERT(start("ask", 100, 30, "") == 0);
  keys("ask", "a");  // add a group: the plan is modified
  ASSERT(wait_for("ask", "groups · 6", 3, 0));
  keys("ask", "q");
  ASSERT(wait_for("ask", "unsaved edits", 3, 0));
  keys("ask", "Escape");  // cancel: still running
  ASSERT(wait_for("ask", "unsaved edits", 3, 1));
  keys("ask", "u");  // undo: 5 groups again, still marked modified
  ASSERT(wait_for("ask", "groups · 5", 3, 0));
  keys("ask", "q");
  ASSERT(wait_for("ask", "unsaved edits", 3, 0));
  keys("ask", "n");  // quit without saving
  ASSERT(wait_for("ask", "1 Schedule", 5, 1));
  sh(TMUX "kill-session -t ask >/dev/null 2>&1", sock);
}

// The explorer on the CUDA backend's code: build/stepscope-emu, whose "cuda" device is the
// emulator of tests/cuda_emu. Both samplers record and replay their forwards on two threads,
// the Loss view measures on the same device meanwhile, and quitting mid-run leaves a sane
// terminal. Nothing reaches stderr: no failed recording, no complaint from the emulator.
TEST(tui_cuda_emu_explorer) {
  if (setup()) return;
  const char *emu = "./" TEST_BUILD_DIR "/stepscope-emu";
  if (access(emu, X_OK)) { test_skip("./" TEST_BUILD_DIR "/stepscope-emu is not built (make build-tests)"); return; }
  char err[400], redirect[420], text[2048];
  snprintf(err, sizeof err, "%s/emu-tui.err", test_tmpdir());
  snprintf(redirect, sizeof redirect, "2>%s", err);
  ASSERT(start_on("emu", 130, 42, emu, "cuda", redirect) == 0);
  ASSERT(wait_for("emu", "· cuda", 10, 0));
  keys("emu", "3");
  ASSERT(wait_for("emu", "step 3/50", 60, 0));
  keys("emu", "5");
  ASSERT(wait_for("emu", "validation loss per timestep", 10, 0));
  keys("emu", "3");
  ASSERT(wait_for("emu", "ms/step", 10, 0));
  ASSERT(quit_to_shell("emu"));
  FILE *f = fopen(err, "r");
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  text[n] = 0;
  if (f) fclose(f);
  ASSERTF(n == 0, "stderr of the explorer on the emulated CUDA backend:\n%s", text);
}

TEST(tui_resize) {
  if (setup()) return;
  ASSERT(start("resize", 100, 30, "") == 0);
  keys("resize", "3");
  ASSERT(wait_for("resize", "x_t", 5, 0));
  sh(TMUX "resize-window -t resize -x 70 -y 20", sock);
  ASSERT(wait_for("resize", "too small for stepscope", 5, 0));
  ASSERT(wait_for("resize", "70×20", 1, 0));
  sh(TMUX "resize-window -t resize -x 132 -y 44", sock);
  ASSERT(wait_for("resize", "too small for stepscope", 5, 1));
  ASSERT(wait_for("resize", "x_t", 5, 0));
  keys("resize", "1");
  ASSERT(wait_for("resize", "SNR_dB(t)", 5, 0));
  ASSERT(quit_to_shell("resize"));
}

TEST(tui_sigterm_restores_terminal) {
  if (setup()) return;
  ASSERT(start("term", 100, 30, "") == 0);
  keys("term", "3");  // with jobs running
  ASSERT(wait_for("term", "x_t", 5, 0));
  // the TUI is the shell's child: signal exactly that process
  ASSERT(sh("pid=$(pgrep -P $(" TMUX "display -p -t term '#{pane_pid}')) && kill -TERM $pid", sock) == 0);
  ASSERT(wait_for("term", "1 Schedule", 5, 1));
  keys("term", "'clear; stty -a | tr \" \" \"\\n\" | grep -x -e -icanon -e -echo -e icanon -e echo | tr \"\\n\" \" \"; echo alive-$((6*7))' Enter");
  ASSERT(wait_for("term", "alive-42", 5, 0));
  ASSERT(wait_for("term", "icanon echo", 2, 0));
  sh(TMUX "kill-session -t term >/dev/null 2>&1", sock);
}

TEST(tui_without_model) {
  if (setup()) return;
  // From a folder without assets/, and no --model: only works when no model ships next to
  // the binary either.
  if (access("assets/base.safetensors", R_OK) == 0) { test_skip("assets/base.safetensors exists, so there is always a model"); return; }
  char dir[400], bin[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/empty", test_tmpdir());
  mkdir(dir, 0700);
  ASSERT(realpath(BIN, bin));
  ASSERT(open_shell("nomodel", 100, 30, dir) == 0);
  char k[PATH_MAX + 64];
  snprintf(k, sizeof k, "'%s --graphics none' Enter", bin);  // no command at all: the explorer
  keys("nomodel", k);
  ASSERT(wait_for("nomodel", "SNR_dB(t)", 10, 0));
  ASSERT(wait_for("nomodel", "no model", 2, 0));
  keys("nomodel", "3");
  ASSERT(wait_for("nomodel", "No base model", 3, 0));
  ASSERT(wait_for("nomodel", "stepscope train", 1, 0));
  keys("nomodel", "1 Right");  // the Schedule view still edits
  ASSERT(wait_for("nomodel", "[+]", 3, 0));
  keys("nomodel", "q n");
  ASSERT(wait_for("nomodel", "1 Schedule", 5, 1));
  sh(TMUX "kill-session -t nomodel >/dev/null 2>&1", sock);
}

TEST(tui_cli_errors) {
  if (setup()) return;
  // not a terminal: a clear message and status 2; bad options: 2; a missing plan: 1
  ASSERT_EQ_INT(sh("%s tui </dev/null >/dev/null 2>&1", BIN), 2);
  ASSERT_EQ_INT(sh("%s tui --graphics paper </dev/null >/dev/null 2>&1", BIN), 2);
  ASSERT_EQ_INT(sh("%s tui --help | grep -q -- --graphics", BIN), 0);
  ASSERT_EQ_INT(sh("%s help | grep -q 'tui'", BIN), 0);
  ASSERT(open_shell("cli", 100, 30, NULL) == 0);
  keys("cli", "'./" TEST_BUILD_DIR "/stepscope tui --plan /nonexistent.plan; echo status=$?' Enter");
  ASSERT(wait_for("cli", "status=1", 5, 0));
  ASSERT(wait_for("cli", "stepscope: ", 1, 0));
  sh(TMUX "kill-session -t cli >/dev/null 2>&1", sock);
}

// What tmux knows of a pane's terminal: the value of a format such as #{alternate_on}.
static int pane_flag(const char *s, const char *name) {
  char cmd[512], out[64] = "";
  snprintf(cmd, sizeof cmd, TMUX "display -p -t %s '#{%s}' 2>/dev/null", sock, s, name);
  FILE *f = popen(cmd, "r");
  if (f && !fgets(out, sizeof out, f)) out[0] = 0;
  if (f) pclose(f);
  return out[0] ? atoi(out) : -1;
}

// Reads a pid a script wrote, waiting up to secs for the file. 0 when none came.
static int read_pid(const char *path, double secs) {
  for (double t = 0; t < secs; t += 0.05) {
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f) {
      if (fscanf(f, "%d", &pid) != 1) pid = 0;
      fclose(f);
    }
    if (pid > 0) return pid;
    usleep(50000);
  }
  return 0;
}

// The external proposer, a child of the Prune view's job thread, killed with SIGKILL while
// it runs: the round is skipped with the reason, the search goes on to its last round and
// writes its model, and quitting leaves a sane terminal.
TEST(tui_proposer_sigkill) {
  if (setup()) return;
  char dir[400], plan[500], script[500], pidfile[500], args[600], body[1200];
  snprintf(dir, sizeof dir, "%s/kill", test_tmpdir());
  snprintf(plan, sizeof plan, "%s/k.plan", dir);
  snprintf(script, sizeof script, "%s/slow-proposer.sh", dir);
  snprintf(pidfile, sizeof pidfile, "%s/proposer.pid", dir);
  mkdir(dir, 0700);
  // The first call writes its pid and hangs (the test kills it); later calls answer at once.
  snprintf(body, sizeof body,
           "#!/bin/sh\ncat >/dev/null\nif [ ! -e '%s' ]; then echo $$ > '%s'; exec sleep 120; fi\n"
           "echo '{\"keep\": {}, \"why\": \"uniform\"}'\n", pidfile, pidfile);
  FILE *f = fopen(script, "w");
  ASSERT(f);
  fputs(body, f);
  fclose(f);
  chmod(script, 0755);
  ASSERT(sh("%s plan --model %s --out %s --groups 2 --criterion magnitude --calib 16 --rounds 3 --finetune 6 "
            "--proposer 'cmd:%s' >/dev/null", BIN, model, plan, script) == 0);
  snprintf(args, sizeof args, "--plan %s", plan);
  ASSERT(start("pkill", 120, 40, args) == 0);
  keys("pkill", "4");
  ASSERT(wait_for("pkill", "group models", 3, 0));
  keys("pkill", "Down p");  // the search for group i=1 (ratio 0.75): round 2 asks the proposer
  int pid = read_pid(pidfile, 60);
  if (!pid) wait_for("pkill", "(the proposer never started)", 0, 0);  // shows the screen
  ASSERTF(pid > 0, "the proposer never started (no %s)", pidfile);
  ASSERT(kill(pid, SIGKILL) == 0);
  ASSERT(wait_for("pkill", "skipped: ", 20, 0));  // round 2, with why: the signal, or the
  static char text[65536];                          // status of the sh -c that ran the script
  screen("pkill", text, sizeof text);
  ASSERTF(strstr(text, "killed by signal 9") || strstr(text, "exited with status 137"), "%s", text);
  ASSERT(wait_for("pkill", "finished", 60, 0));    // round 3 answered, the model written
  ASSERT(wait_for("pkill", "1 Schedule", 1, 0));   // still running, still drawing
  ASSERT(quit_to_shell("pkill"));
}

// A crash signal sent to the explorer: its handler puts the terminal back (line discipline,
// cursor, main screen, mouse off) before it dies of that signal. Without the handler the
// shell is left in raw mode on the alternate screen and never sees an Enter.
TEST(tui_crash_signal_restores_terminal) {
  if (setup()) return;
  static const struct { int sig; const char *name; } crash[] = {{SIGSEGV, "SEGV"}, {SIGABRT, "ABRT"}};
  for (int i = 0; i < 2; i++) {
    ASSERT(start("crash", 100, 30, "") == 0);
    keys("crash", "3");  // with jobs running
    ASSERT(wait_for("crash", "x_t", 5, 0));
    ASSERT_EQ_INT(pane_flag("crash", "alternate_on"), 1);
    ASSERT_EQ_INT(pane_flag("crash", "cursor_flag"), 0);
    ASSERT(sh("pid=$(pgrep -P $(" TMUX "display -p -t crash '#{pane_pid}')) && kill -%s $pid", sock, crash[i].name) == 0);
    ASSERT(wait_for("crash", "1 Schedule", 5, 1));
    ASSERTF(pane_flag("crash", "alternate_on") == 0, "SIG%s: still on the alternate screen", crash[i].name);
    ASSERTF(pane_flag("crash", "cursor_flag") == 1, "SIG%s: the cursor is still hidden", crash[i].name);
    ASSERTF(pane_flag("crash", "mouse_any_flag") == 0, "SIG%s: mouse reporting is still on", crash[i].name);
    // it died of the signal (128 + its number), and the shell reads lines and echoes them again
    char k[700], want[32];
    snprintf(k, sizeof k, "'echo status=$?; stty -a | tr \" \" \"\\n\" | grep -x -e -icanon -e -echo -e icanon -e echo"
                          " | tr \"\\n\" \" \"; echo alive-$((6*7))' Enter");
    keys("crash", k);
    snprintf(want, sizeof want, "status=%d", 128 + crash[i].sig);
    ASSERTF(wait_for("crash", "alive-42", 5, 0), "SIG%s: the shell does not run what is typed", crash[i].name);
    ASSERT(wait_for("crash", want, 1, 0));
    ASSERT(wait_for("crash", "icanon echo", 1, 0));
    sh(TMUX "kill-session -t crash >/dev/null 2>&1", sock);
  }
}
