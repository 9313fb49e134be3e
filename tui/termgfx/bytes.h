// bytes.h — a growable byte buffer, the unit every terminal write is built in, and the one
// write that sends it.
#pragma once
#include <stddef.h>

typedef struct { char *data; size_t len, cap; } Bytes;  // data is NUL-terminated once used

void bytes_append(Bytes *b, const void *p, size_t n);
void bytes_puts(Bytes *b, const char *s);
void bytes_printf(Bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bytes_free(Bytes *b);

// Sends all of b to fd, retrying interrupted and short writes. 0, or -1 with errno set.
int bytes_write(int fd, const Bytes *b);
