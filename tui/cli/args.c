#include "tui/cli/args.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void args_usage(const ArgSpec *s, FILE *f) {
  fprintf(f, "usage: stepscope %s %s\n\n%s\n", s->cmd, s->usage, s->about);
  if (s->nopts) fputs("\noptions:\n", f);
  for (int i = 0; i < s->nopts; i++) {
    const Opt *o = &s->opts[i];
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
    fprintf(f, "  %-24s %s\n", left, o->help);
  }
  fprintf(f, "  %-24s %s\n", "--help", "show this help");
}

static int bad(const ArgSpec *s, const char *fmt, const char *a) {
  fprintf(stderr, "stepscope: %s: ", s->cmd);
  fprintf(stderr, fmt, a);
  fprintf(stderr, "\ntry 'stepscope %s --help'\n", s->cmd);
  return 2;
}

static int set_value(const ArgSpec *s, const Opt *o, const char *v) {
  char *end;
  errno = 0;
  switch (o->type) {
    case OPT_STR: *(const char **)o->dst = v; return 0;
    case OPT_INT: {  // a value outside int's range is refused, never wrapped
      long x = strtol(v, &end, 10);
      if (*v == 0 || isspace((unsigned char)*v) || *end || errno || x < -2147483647L || x > 2147483647L) break;
      *(int *)o->dst = (int)x;
      return 0;
    }
    case OPT_U64: {
      // strtoull would take "-5" (or " -5") as 2^64 - 5: a sign or a space is refused
      unsigned long long x = strtoull(v, &end, 10);
      if (!isdigit((unsigned char)*v) || *end || errno) break;
      *(uint64_t *)o->dst = x;
      return 0;
    }
    case OPT_FLOAT: {
      float x = strtof(v, &end);  // nan, inf and values beyond float's range are refused
      if (*v == 0 || isspace((unsigned char)*v) || *end || errno || !isfinite(x)) break;
      *(float *)o->dst = x;
      return 0;
    }
    case OPT_LIST: {
      OptList *l = o->dst;
      if (l->n == OPT_LIST_MAX) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s: given more than %d times ('%%s')", o->name, OPT_LIST_MAX);
        return bad(s, msg, v);
      }
      l->v[l->n++] = v;
      return 0;
    }
    case OPT_FLAG: break;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "%s: bad value '%%s'", o->name);
  return bad(s, msg, v);
}

int args_parse(const ArgSpec *s, int argc, char **argv) {
  int npos = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { args_usage(s, stdout); return 1; }
    if (a[0] == '-' && a[1] == '-') {
      const char *eq = strchr(a, '=');
      size_t len = eq ? (size_t)(eq - a) : strlen(a);
      const Opt *o = NULL;
      for (int k = 0; k < s->nopts; k++)
        if (strlen(s->opts[k].name) == len && !strncmp(s->opts[k].name, a, len)) o = &s->opts[k];
      if (!o) return bad(s, "unknown option '%s'", a);
      if (o->type == OPT_FLAG) {
        if (eq) return bad(s, "option '%s' takes no value", a);
        *(int *)o->dst = 1;
        continue;
      }
      const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v) return bad(s, "option '%s' needs a value", a);
      int rc = set_value(s, o, v);
      if (rc) return rc;
    } else {
      if (npos >= s->npos_max) return bad(s, "unexpected argument '%s'", a);
      s->pos[npos++] = a;
    }
  }
  if (npos < s->npos_min) return bad(s, "%s", "missing argument");
  return 0;
}
