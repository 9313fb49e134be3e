// bytes.c — the byte buffer of bytes.h.
#include "tui/termgfx/bytes.h"
#include "engine/common.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bytes_append(Bytes *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > b->cap) b->cap *= 2;
    b->data = xrealloc(b->data, b->cap);
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;  // always a C string too, handy in tests and debuggers
}

void bytes_puts(Bytes *b, const char *s) { bytes_append(b, s, strlen(s)); }

void bytes_printf(Bytes *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  CHECK(n >= 0 && n < (int)sizeof tmp, "bytes_printf: %d bytes is more than it is for", n);
  bytes_append(b, tmp, (size_t)n);
}

void bytes_free(Bytes *b) {
  free(b->data);
  *b = (Bytes){0};
}

int bytes_write(int fd, const Bytes *b) {
  for (size_t off = 0; off < b->len;) {
    ssize_t n = write(fd, b->data + off, b->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    off += (size_t)n;
  }
  return 0;
}
