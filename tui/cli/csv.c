// csv.c — see csv.h.
#include "tui/cli/csv.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// Splits one line (no newline) into fields, in place; returns the count or -1 for a quote
// left open or text after a closing quote. fields grows as needed.
static int split(char *s, char ***fields, int *cap) {
  int n = 0;
  for (;;) {
    if (n == *cap) *cap = *cap ? 2 * *cap : 16, *fields = xrealloc(*fields, sizeof(char *) * *cap);
    char *out = s;
    (*fields)[n++] = out;
    if (*s == '"') {  // quoted: copy down, "" is one quote
      for (s++;; s++) {
        if (!*s) return -1;
        if (*s == '"' && s[1] == '"') *out++ = '"', s++;
        else if (*s == '"') break;
        else *out++ = *s;
      }
      s++;
      if (*s && *s != ',') return -1;
    } else {
      while (*s && *s != ',') *out++ = *s++;
    }
    char sep = *s;
    *out = 0;
    if (!sep) return n;
    s++;
  }
}

static char *slurp(const char *path, Err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(e, "%s: %s", path, strerror(errno)), NULL;
  size_t len = 0, cap = 4096;
  char *buf = xmalloc(cap);
  for (size_t got; (got = fread(buf + len, 1, cap - len - 1, f)) > 0;)
    if ((len += got) + 1 == cap) buf = xrealloc(buf, cap *= 2);
  int bad = ferror(f);
  fclose(f);
  if (bad) { free(buf); return err_set(e, "%s: read error", path), NULL; }
  buf[len] = 0;
  if (strlen(buf) != len) { free(buf); return err_set(e, "%s: not a text file (NUL bytes)", path), NULL; }
  return buf;
}

int csv_read(const char *path, Csv *t, Err *e) {
  *t = (Csv){.path = path};
  char *buf = slurp(path, e);
  if (!buf) return -1;
  char **f = NULL;
  int fcap = 0, rcap = 0, lineno = 0, rc = 0;
  for (char *p = buf, *next; p && *p && rc == 0; p = next) {
    lineno++;
    char *nl = strchr(p, '\n');
    next = nl ? nl + 1 : NULL;
    if (nl) *nl = 0;
    size_t len = strlen(p);
    if (len && p[len - 1] == '\r') p[--len] = 0;
    if (!len) continue;
    int n = split(p, &f, &fcap);
    if (n < 0) { rc = err_set(e, "%s: line %d: unbalanced quotes", path, lineno); break; }
    if (!t->names) {
      t->ncols = n;
      t->names = xmalloc(sizeof(char *) * n);
      for (int i = 0; i < n; i++) {
        t->names[i] = strdup(f[i]);
        if (!*f[i]) rc = err_set(e, "%s: line %d: column %d has no name", path, lineno, i + 1);
        for (int k = 0; k < i && rc == 0; k++)
          if (!strcmp(f[k], f[i])) rc = err_set(e, "%s: line %d: column '%s' twice", path, lineno, f[i]);
      }
      continue;
    }
    if (n != t->ncols) {
      rc = err_set(e, "%s: line %d: %d field%s, the header has %d", path, lineno, n, n == 1 ? "" : "s", t->ncols);
      break;
    }
    if (t->nrows == rcap) {
      rcap = rcap ? 2 * rcap : 64;
      t->cells = xrealloc(t->cells, sizeof(char *) * rcap * t->ncols);
      t->line = xrealloc(t->line, sizeof(int) * rcap);
    }
    for (int i = 0; i < n; i++) t->cells[(long)t->nrows * t->ncols + i] = strdup(f[i]);
    t->line[t->nrows++] = lineno;
  }
  free(f);
  free(buf);
  if (rc == 0 && !t->names) rc = err_set(e, "%s: empty (no header row)", path);
  if (rc) csv_free(t);
  return rc;
}

void csv_free(Csv *t) {
  for (int i = 0; t->names && i < t->ncols; i++) free(t->names[i]);
  for (long i = 0; i < (long)t->nrows * t->ncols; i++) free(t->cells[i]);
  free(t->names);
  free(t->cells);
  free(t->line);
  *t = (Csv){0};
}

int csv_col(const Csv *t, const char *name, Err *e) {
  for (int i = 0; i < t->ncols; i++)
    if (!strcmp(t->names[i], name)) return i;
  size_t k = (size_t)snprintf(e->msg, sizeof e->msg, "%s: no column '%s' (columns:", t->path, name);
  for (int i = 0; i < t->ncols && k < sizeof e->msg; i++)
    k += (size_t)snprintf(e->msg + k, sizeof e->msg - k, "%s %s", i ? "," : "", t->names[i]);
  if (k < sizeof e->msg) snprintf(e->msg + k, sizeof e->msg - k, ")");
  return -1;
}

const char *csv_cell(const Csv *t, int row, int col) { return t->cells[(long)row * t->ncols + col]; }

int csv_number(const Csv *t, int row, int col, double *v, Err *e) {
  const char *s = csv_cell(t, row, col);
  while (*s == ' ') s++;
  char *end;
  errno = 0;
  *v = NAN;
  if (!*s || !strcasecmp(s, "nan")) return 1;
  double x = strtod(s, &end);
  while (*end == ' ') end++;
  // strtod also takes "inf" and hex floats; a result table holds neither on purpose.
  if (end == s || *end || errno == ERANGE || !isfinite(x) || strchr(s, 'x') || strchr(s, 'X')) {
    err_set(e, "%s: line %d: column '%s' is not a number ('%s')", t->path, t->line[row], t->names[col],
            csv_cell(t, row, col));
    return -1;
  }
  *v = x;
  return 0;
}
