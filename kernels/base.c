// base.c — see base.h.
#include "base.h"
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
