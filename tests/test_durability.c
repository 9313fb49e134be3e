// test_durability.c — a kill never loses work: SIGKILL mid-save, stale temporaries, failed
// saves (read-only and full file systems), and training killed at random moments.
#include "test.h"
#include "engine/safetensors.h"
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *scratch(const char *sub) {
  static char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), sub);
  mkdir(dir, 0755);
  return dir;
}

// How many files in dir have ".tmp." in their names.
static char temp_names[1024];  // the names temporaries() found, joined
static int temporaries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  temp_names[0] = 0;
  for (struct dirent *ent; d && (ent = readdir(d));)
    if (strstr(ent->d_name, ".tmp.")) {
      n++;
      snprintf(temp_names + strlen(temp_names), sizeof temp_names - strlen(temp_names), " %s", ent->d_name);
    }
  if (d) closedir(d);
  return n;
}

// A file of `floats` floats (all equal to v) whose metadata "step" is v.
static void make_file(StFile *f, int64_t floats, int v) {
  st_init(f);
  float *x = malloc(sizeof(float) * (size_t)floats);
  for (int64_t i = 0; i < floats; i++) x[i] = (float)v;
  st_add(f, "w", 1, &floats, x);
  free(x);
  char s[32];
  snprintf(s, sizeof s, "%d", v);
  st_set_meta(f, "step", s);
}

// 1 when path loads and all its floats equal its "step"; its step in *step.
static int intact(const char *path, int *step) {
  StFile f;
  Err e;
  if (st_load(path, &f, &e)) { printf("    %s\n", e.msg); return 0; }
  const StTensor *t = st_find(&f, "w");
  const char *s = st_meta(&f, "step");
  int ok = t && s;
  *step = ok ? atoi(s) : -1;
  for (int64_t i = 0; ok && i < st_numel(t); i++) ok = t->data[i] == (float)*step;
  st_free(&f);
  return ok;
}

// A dead process's temporary is removed by the next save of the same path; a live one's is not.
TEST(durability_stale_temporaries_removed) {
  const char *dir = scratch("stale");
  char path[600], dead[700], live[700];
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);  // pid now names no process (pids are not reused this fast)
  snprintf(dead, sizeof dead, "%s.tmp.%d", path, (int)pid);
  snprintf(live, sizeof live, "%s.tmp.%d", path, (int)getppid());
  FILE *f = fopen(dead, "w");
  fputs("half a file", f);
  fclose(f);
  f = fopen(live, "w");
  fclose(f);
  StFile s;
  make_file(&s, 4, 1);
  Err e;
  ASSERTF(st_save(path, &s, &e) == 0, "%s", e.msg);
  st_free(&s);
  ASSERTF(access(dead, F_OK) != 0, "%s is still there", dead);
  ASSERTF(access(live, F_OK) == 0, "a live writer's %s was removed", live);
  unlink(live);
}

// A writer saving over and over, killed with SIGKILL at random moments (many of them mid-save):
// the file always loads whole, with a step no older than the last one seen, and the next save
// leaves no temporary behind.
TEST(durability_sigkill_mid_save) {
  const char *dir = scratch("kill");
  char path[600];
  snprintf(path, sizeof path, "%s/ck.safetensors", dir);
  srand(12345);
  int last = 0, mid = 0;
  for (int round = 0; round < 12; round++) {
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
      for (int v = last + 1;; v++) {
        StFile f;
        Err e;
        make_file(&f, 1 << 20, v);  // 4 MiB: a save takes milliseconds
        if (st_save(path, &f, &e)) _exit(3);
        st_free(&f);
      }
    }
    usleep(20000 + rand() % 200000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    mid += temporaries(dir) > 0;
    int step;
    if (access(path, F_OK) == 0) {
      ASSERTF(intact(path, &step), "round %d: the checkpoint does not load whole", round);
      ASSERTF(step >= last, "round %d: step went back from %d to %d", round, last, step);
      last = step;
    }
  }
  printf("    %d of 12 kills landed mid-save; last step %d\n", mid, last);
  ASSERT(last > 0);
  StFile f;
  Err e;
  make_file(&f, 16, last + 1);
  ASSERTF(st_save(path, &f, &e) == 0, "%s", e.msg);
  st_free(&f);
  ASSERT_EQ_INT(temporaries(dir), 0);
}

// A failed save keeps the old file, leaves no temporary and says why: a full file system and a
// read-only one (a small tmpfs, which needs root; skipped with the reason otherwise).
TEST(durability_failed_save_keeps_old_file) {
  const char *dir = scratch("tmpfs");
  if (geteuid() != 0) { test_skip("mounting a small tmpfs needs root"); return; }
  if (mount("tmpfs", dir, "tmpfs", 0, "size=256k")) {
    char why[200];
    snprintf(why, sizeof why, "cannot mount a tmpfs here (%s)", strerror(errno));
    test_skip(why);
    return;
  }
  char path[600];
  snprintf(path, sizeof path, "%s/ck.safetensors", dir);
  StFile small, big;
  Err e;
  make_file(&small, 16 * 1024, 7);   // 64 KiB: fits
  make_file(&big, 64 * 1024, 8);     // 256 KiB: does not fit beside it
  int step = 0;
  ASSERTF(st_save(path, &small, &e) == 0, "%s", e.msg);
  int rc = st_save(path, &big, &e);
  ASSERT(rc != 0);
  ASSERTF(strstr(e.msg, path) && strstr(e.msg, "No space left"), "message: %s", e.msg);
  ASSERT(intact(path, &step) && step == 7);
  ASSERT_EQ_INT(temporaries(dir), 0);
  // read-only: remount the same tmpfs
  if (mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=256k") == 0) {
    rc = st_save(path, &small, &e);
    ASSERT(rc != 0);
    ASSERTF(strstr(e.msg, "cannot create temporary file") && strstr(e.msg, "Read-only"), "message: %s", e.msg);
    ASSERT(intact(path, &step) && step == 7);
  } else {
    printf("    remount read-only failed (%s): only the full file system was tested\n", strerror(errno));
  }
  st_free(&small);
  st_free(&big);
  umount2(dir, MNT_DETACH);
}

// ---- training killed with SIGKILL ----

// 1 when the checkpoint at path loads whole; its "step" metadata in *step.
static int intact_step(const char *path, int *step) {
  StFile f;
  Err e;
  if (st_load(path, &f, &e)) return 0;
  const char *s = st_meta(&f, "step");
  *step = s ? atoi(s) : -1;
  int ok = s && st_find(&f, "conv_in.weight") && st_find(&f, "optim.m.conv_in.weight");
  st_free(&f);
  return ok;
}

static const char *bin(void) {
  static char path[4200];
  if (!path[0]) {
    char self[4096] = {0};
    if (readlink("/proc/self/exe", self, sizeof self - 1) > 0) snprintf(path, sizeof path, "%s/stepscope", dirname(self));
  }
  return access(path, X_OK) == 0 ? path : NULL;
}

// `stepscope train` saving every 2 steps, killed with SIGKILL at random moments three times,
// each time resumed from what it left: the checkpoint always loads and resumes, and no
// temporary file survives the next save.
TEST(durability_train_sigkill_resumes) {
  const char *b = bin();
  if (!b) { test_skip("the stepscope binary is not built beside run_tests"); return; }
  if (access("/usr/share/datasets/fashion-mnist", R_OK)) { test_skip("no Fashion-MNIST (dataset-fashion-mnist)"); return; }
  const char *dir = scratch("train-kill");
  char ck[600], cmd[6000];
  snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
  srand(777);
  int last = 0;
  for (int round = 0; round < 3; round++) {
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
      if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
      if (round == 0)
        execl(b, b, "train", "--config", "tiny", "--steps", "100000", "--save-every", "2", "--batch", "4",
              "--device", "cpu", "--threads", "1", "--quiet", "--out", ck, (char *)NULL);
      else
        execl(b, b, "train", "--resume", ck, "--steps", "100000", "--save-every", "2", "--device", "cpu",
              "--threads", "1", "--quiet", "--out", ck, (char *)NULL);
      _exit(127);
    }
    // wait for a checkpoint newer than the last, then kill at a random moment after it
    for (int i = 0; i < 600; i++) {
      int step;
      if (access(ck, F_OK) == 0 && intact_step(ck, &step) && step > last) break;
      usleep(50000);
    }
    usleep(rand() % 400000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    int step = 0;
    ASSERTF(intact_step(ck, &step), "round %d: the checkpoint does not load", round);
    ASSERTF(step >= last, "round %d: step went back from %d to %d", round, last, step);
    last = step;
  }
  snprintf(cmd, sizeof cmd, "%s train --resume %s --out %s --steps %d --device cpu --threads 1 --quiet >/dev/null 2>&1",
           b, ck, ck, last + 2);
  ASSERT_EQ_INT(system(cmd), 0);
  int step = 0;
  ASSERT(intact_step(ck, &step) && step == last + 2);
  ASSERTF(temporaries(dir) == 0, "left behind:%s", temp_names);
}
