// base.h — what every layer of stepscope builds on, the kernels first: errors as values,
// checks that abort on bugs, allocation that cannot return NULL, a clock.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// An error message filled in by a function that returned -1. Callers print it as
// "stepscope: <msg>". Keeping errors as values (not exit()) lets the TUI survive them.
typedef struct { char msg[512]; } Err;
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));  // returns -1

// Abort with file:line for conditions that are bugs, not bad input.
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "stepscope: %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } } while (0)
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));  // prints, exit(1)

// Out of memory is not an error a caller can handle here: these print and exit instead.
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

double now_sec(void);  // monotonic clock in seconds
