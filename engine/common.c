#include "common.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

int err_set(Err *e, const char *fmt, ...) {
  if (!e) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("stepscope: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void *oom(size_t n) { die("out of memory allocating %zu bytes", n); }

void *xmalloc(size_t n) { void *p = malloc(n ? n : 1); return p ? p : oom(n); }
void *xcalloc(size_t c, size_t s) { void *p = calloc(c ? c : 1, s ? s : 1); return p ? p : oom(c * s); }
void *xrealloc(void *p, size_t n) { void *q = realloc(p, n ? n : 1); return q ? q : oom(n); }
char *xstrdup(const char *s) { size_t n = strlen(s) + 1; return memcpy(xmalloc(n), s, n); }

double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int remove_stale_temporaries(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  char dir[4096];
  if (slash) snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  else snprintf(dir, sizeof dir, ".");
  size_t blen = strlen(base);
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  for (struct dirent *ent; (ent = readdir(d));) {
    const char *n = ent->d_name;
    if (strncmp(n, base, blen) || strncmp(n + blen, ".tmp.", 5)) continue;
    const char *digits = n + blen + 5;
    char *end;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (!*digits || *end || errno || pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", dir, n);
    if (unlink(full) == 0) removed++;
  }
  closedir(d);
  return removed;
}
