#include "tui/cli/args.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int usage_error(const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stepscope: %s: ", what);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 2;
}

int data_error(const char *msg) {
  fprintf(stderr, "stepscope: %s\n", msg);
  return 1;
}

static int has_range(const Opt *o) { return o->min < o->max; }

// The default as --help shows it: in words, or the value the variable holds before parsing.
static void default_text(const Opt *o, char *buf, size_t cap) {
  buf[0] = 0;
  if (o->def) { snprintf(buf, cap, "%s", o->def); return; }
  switch (o->type) {
    case OPT_STR: if (*(const char **)o->dst) snprintf(buf, cap, "%s", *(const char **)o->dst); break;
    case OPT_INT: snprintf(buf, cap, "%d", *(int *)o->dst); break;
    case OPT_FLOAT: snprintf(buf, cap, "%g", (double)*(float *)o->dst); break;
    case OPT_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(uint64_t *)o->dst); break;
    case OPT_FLAG: case OPT_LIST: break;
  }
}

// Appends "; text" (or the first "text") to the notes that follow an option's help.
static void note(char *notes, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char *notes, size_t cap, const char *fmt, ...) {
  size_t k = strlen(notes);
  if (k && k + 2 < cap) strcpy(notes + k, "; "), k += 2;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(notes + k, cap - k, fmt, ap);
  va_end(ap);
}

// Each option: its name and argument, its help, then (required; the words or the range
// allowed; the default).
void args_usage(const ArgSpec *s, FILE *f) {
  fprintf(f, "usage: stepscope %s %s\n\n%s\n", s->cmd, s->usage, s->about);
  if (s->nopts) fputs("\noptions:\n", f);
  for (int i = 0; i < s->nopts; i++) {
    const Opt *o = &s->opts[i];
    char left[64], def[128], notes[320] = "";
    snprintf(left, sizeof left, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    default_text(o, def, sizeof def);
    if (o->required) note(notes, sizeof notes, "required");
    if (o->choices) note(notes, sizeof notes, "%s", o->choices);
    if (has_range(o)) note(notes, sizeof notes, "%.15g..%.15g", o->min, o->max);
    if (def[0]) note(notes, sizeof notes, "default: %s", def);
    fprintf(f, "  %-24s %s%s%s%s\n", left, o->help, notes[0] ? " (" : "", notes, notes[0] ? ")" : "");
  }
  fprintf(f, "  %-24s %s\n", "--help", "show this help");
}

// Bad usage: one line naming the option (or argument), what is wrong, and where the help is.
static int bad(const ArgSpec *s, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(const ArgSpec *s, const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stepscope: %s: ", what);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (stepscope %s --help)\n", s->cmd);
  va_end(ap);
  return 2;
}

// 1 when word is one of list's ", "-separated words.
static int one_of(const char *word, const char *list) {
  size_t n = strlen(word);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && !strncmp(p, word, n)) return 1;
    if (!end) break;
    for (p = end + 1; *p == ' '; p++) {}
  }
  return 0;
}

static int set_value(const ArgSpec *s, const Opt *o, const char *v) {
  char *end;
  double x = 0;
  errno = 0;
  switch (o->type) {
    case OPT_STR:
      if (o->choices && !one_of(v, o->choices)) return bad(s, o->name, "unknown value '%s' (%s)", v, o->choices);
      *(const char **)o->dst = v;
      return 0;
    case OPT_INT: {  // a value outside int's range is refused, never wrapped
      long l = strtol(v, &end, 10);
      if (*v == 0 || isspace((unsigned char)*v) || *end || errno || l < -2147483647L || l > 2147483647L) break;
      if (has_range(o) && (l < o->min || l > o->max)) { x = (double)l; goto out_of_range; }
      *(int *)o->dst = (int)l;
      return 0;
    }
    case OPT_U64: {
      // strtoull would take "-5" (or " -5") as 2^64 - 5: a sign or a space is refused
      unsigned long long u = strtoull(v, &end, 10);
      if (!isdigit((unsigned char)*v) || *end || errno) break;
      *(uint64_t *)o->dst = u;
      return 0;
    }
    case OPT_FLOAT: {
      float f = strtof(v, &end);  // nan, inf and values beyond float's range are refused
      if (*v == 0 || isspace((unsigned char)*v) || *end || errno || !isfinite(f)) break;
      if (has_range(o) && (f < o->min || f > o->max)) { x = f; goto out_of_range; }
      *(float *)o->dst = f;
      return 0;
    }
    case OPT_LIST: {
      OptList *l = o->dst;
      if (l->n == OPT_LIST_MAX) return bad(s, o->name, "given more than %d times", OPT_LIST_MAX);
      l->v[l->n++] = v;
      return 0;
    }
    case OPT_FLAG: break;
  }
  return bad(s, o->name, "'%s' is not a%s number", v,
             o->type == OPT_INT ? "n integer" : o->type == OPT_U64 ? " non-negative integer" : " finite");
out_of_range:
  return bad(s, o->name, "%.15g is out of range %.15g..%.15g", x, o->min, o->max);
}

static const Opt *find(const ArgSpec *s, const char *a, size_t len) {
  for (int k = 0; k < s->nopts; k++)
    if (strlen(s->opts[k].name) == len && !strncmp(s->opts[k].name, a, len)) return &s->opts[k];
  return NULL;
}

int args_parse(const ArgSpec *s, int argc, char **argv) {
  // --help first, wherever it stands, so that it shows the defaults before any option is set.
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { args_usage(s, stdout); return 0; }
  int npos = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] == '-' && a[1] == '-') {
      const char *eq = strchr(a, '=');
      size_t len = eq ? (size_t)(eq - a) : strlen(a);
      const Opt *o = find(s, a, len);
      if (!o) return bad(s, a, "unknown option");
      if (o->type == OPT_FLAG) {
        if (eq) return bad(s, o->name, "takes no value");
        *(int *)o->dst = 1;
        continue;
      }
      const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v) return bad(s, o->name, "needs a value (%s)", o->arg);
      int rc = set_value(s, o, v);
      if (rc) return rc;
    } else {
      if (npos >= s->npos_max) return bad(s, a, "unexpected argument");
      s->pos[npos++] = a;
    }
  }
  if (npos < s->npos_min) return bad(s, s->pos_name ? s->pos_name : "argument", "missing");
  for (int k = 0; k < s->nopts; k++) {
    const Opt *o = &s->opts[k];
    if (o->required && o->type == OPT_STR && !*(const char **)o->dst) {
      char what[96];
      snprintf(what, sizeof what, "%s %s", o->name, o->arg);
      return bad(s, what, "required");
    }
  }
  return ARGS_OK;
}
