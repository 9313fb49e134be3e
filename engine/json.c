// json.c — strict recursive-descent JSON parser, DOM lookups, and a comma-placing writer.
#include "json.h"
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

// Numbers are read and written in the "C" locale: a TUI that calls setlocale(LC_ALL, "")
// must not turn 0.5 into "0,5" in a checkpoint.
static locale_t c_loc;
static pthread_once_t c_loc_once = PTHREAD_ONCE_INIT;
static void c_loc_init(void) { c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0); }
static locale_t c_locale(void) { pthread_once(&c_loc_once, c_loc_init); return c_loc; }

static double strtod_c(const char *s) {
  locale_t loc = c_locale();
  return loc ? strtod_l(s, NULL, loc) : strtod(s, NULL);
}

// Length of the well-formed UTF-8 sequence at s (n bytes available), or 0 if there is none:
// no overlong forms, no surrogates, nothing above U+10FFFF.
static int utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  int len;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
  else return 0;
  if (n < (size_t)len || s[1] < lo || s[1] > hi) return 0;
  for (int k = 2; k < len; k++) if (s[k] < 0x80 || s[k] > 0xBF) return 0;
  return len;
}

static int utf8_put(char *d, uint32_t cp) {
  if (cp < 0x80) { d[0] = (char)cp; return 1; }
  if (cp < 0x800) { d[0] = (char)(0xC0 | cp >> 6); d[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    d[0] = (char)(0xE0 | cp >> 12); d[1] = (char)(0x80 | (cp >> 6 & 0x3F)); d[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  d[0] = (char)(0xF0 | cp >> 18); d[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  d[2] = (char)(0x80 | (cp >> 6 & 0x3F)); d[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

// ---- parser ---------------------------------------------------------------------------

typedef struct {
  const unsigned char *s;
  size_t n, i;  // input length, current offset
  int depth;
  Err *e;
} Parser;

static int peek(const Parser *p) { return p->i < p->n ? p->s[p->i] : -1; }

static void skip_ws(Parser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

// The error for whatever sits at the current offset.
static int unexpected(const Parser *p) {
  int c = peek(p);
  if (c < 0) return err_set(p->e, "json: unexpected end of input at byte %zu", p->i);
  if (c >= 0x20 && c < 0x7F) return err_set(p->e, "json: unexpected '%c' at byte %zu", c, p->i);
  return err_set(p->e, "json: unexpected byte 0x%02x at byte %zu", c, p->i);
}

static int parse_value(Parser *p, Json *out);

static int parse_literal(Parser *p, const char *word, Json *out, JsonType type, int b) {
  for (const char *w = word; *w; w++, p->i++)
    if (peek(p) != *w) return unexpected(p);
  out->type = type;
  out->b = b;
  return 0;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int parse_number(Parser *p, Json *out) {
  size_t start = p->i;
  if (peek(p) == '-') p->i++;
  if (peek(p) == '0') p->i++;                     // no leading zeros: "01" ends after the 0
  else if (is_digit(peek(p))) while (is_digit(peek(p))) p->i++;
  else return unexpected(p);
  if (peek(p) == '.') {
    p->i++;
    if (!is_digit(peek(p))) return unexpected(p);
    while (is_digit(peek(p))) p->i++;
  }
  if (peek(p) == 'e' || peek(p) == 'E') {
    p->i++;
    if (peek(p) == '+' || peek(p) == '-') p->i++;
    if (!is_digit(peek(p))) return unexpected(p);
    while (is_digit(peek(p))) p->i++;
  }
  // strtod needs a NUL-terminated copy; the input need not have one.
  size_t len = p->i - start;
  char small[64], *lexeme = len < sizeof small ? small : xmalloc(len + 1);
  memcpy(lexeme, p->s + start, len);
  lexeme[len] = 0;
  double x = strtod_c(lexeme);
  if (lexeme != small) free(lexeme);
  if (!isfinite(x)) return err_set(p->e, "json: number out of range at byte %zu", start);
  out->type = JSON_NUM;
  out->num = x;
  return 0;
}

static int hex4(const Parser *p, size_t at, uint32_t *out) {
  if (at + 4 > p->n) return -1;
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    int c = p->s[at + k];
    int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (uint32_t)d;
  }
  *out = v;
  return 0;
}

// One escape sequence at p->i (the backslash), decoded into d; returns bytes written or -1.
static int parse_escape(Parser *p, char *d) {
  size_t at = p->i;
  if (at + 1 >= p->n) { p->i = p->n; return unexpected(p); }
  int c = p->s[at + 1];
  const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
  const char *hit = c ? strchr(from, c) : NULL;
  if (hit) { *d = to[hit - from]; p->i += 2; return 1; }
  if (c != 'u') {
    if (c >= 0x20 && c < 0x7F) return err_set(p->e, "json: bad escape '\\%c' at byte %zu", c, at);
    p->i++;
    return unexpected(p);
  }
  uint32_t cp, lo;
  if (hex4(p, at + 2, &cp)) return err_set(p->e, "json: bad \\u escape at byte %zu", at);
  p->i += 6;
  if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate must be followed by a low one
    if (p->i + 1 < p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u' && !hex4(p, p->i + 2, &lo) &&
        lo >= 0xDC00 && lo <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p->i += 6;
    } else {
      return err_set(p->e, "json: unpaired surrogate \\u%04X at byte %zu", cp, at);
    }
  } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
    return err_set(p->e, "json: unpaired surrogate \\u%04X at byte %zu", cp, at);
  }
  if (cp == 0) return err_set(p->e, "json: \\u0000 in a string is not supported at byte %zu", at);
  return utf8_put(d, cp);
}

// A string at p->i (the opening quote) into a fresh NUL-terminated buffer.
static int parse_string(Parser *p, char **out) {
  size_t start = ++p->i, end = start;
  // Decoding never makes a string longer, so the raw span up to the closing quote bounds it.
  while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
  char *d = xmalloc((end < p->n ? end : p->n) - start + 1);
  size_t k = 0;
  for (;;) {
    int c = peek(p), m;
    if (c == '"') { p->i++; break; }
    if (c < 0) { unexpected(p); goto fail; }
    if (c < 0x20) {
      err_set(p->e, "json: unescaped control character 0x%02x in a string at byte %zu", c, p->i);
      goto fail;
    }
    if (c == '\\') {
      if ((m = parse_escape(p, d + k)) < 0) goto fail;
      k += (size_t)m;
    } else {
      if (!(m = utf8_seq(p->s + p->i, p->n - p->i))) {
        err_set(p->e, "json: invalid UTF-8 at byte %zu", p->i);
        goto fail;
      }
      memcpy(d + k, p->s + p->i, (size_t)m);
      k += (size_t)m;
      p->i += (size_t)m;
    }
  }
  d[k] = 0;
  *out = d;
  return 0;
fail:
  free(d);
  return -1;
}

// Appends a zeroed slot to a container being built; cap is the caller's capacity count.
static Json *push_kid(Parser *p, Json *c, int *cap) {
  if (c->n == INT_MAX / 2) { err_set(p->e, "json: too many elements at byte %zu", p->i); return NULL; }
  if (c->n == *cap) {
    *cap = *cap ? 2 * *cap : 4;
    c->kids = xrealloc(c->kids, sizeof *c->kids * (size_t)*cap);
    if (c->type == JSON_OBJ) c->keys = xrealloc(c->keys, sizeof *c->keys * (size_t)*cap);
  }
  Json *kid = &c->kids[c->n];
  memset(kid, 0, sizeof *kid);
  if (c->type == JSON_OBJ) c->keys[c->n] = NULL;
  c->n++;  // counted at once, so that json_free releases a half-parsed kid
  return kid;
}

typedef struct { const char *key; size_t at; } KeyAt;
static int by_key(const void *a, const void *b) {
  const KeyAt *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->at > y->at) - (x->at < y->at);
}

static int check_duplicates(Parser *p, const Json *obj, const size_t *key_at) {
  if (obj->n < 2) return 0;
  KeyAt *ka = xmalloc(sizeof *ka * (size_t)obj->n);
  for (int k = 0; k < obj->n; k++) ka[k] = (KeyAt){obj->keys[k], key_at[k]};
  qsort(ka, (size_t)obj->n, sizeof *ka, by_key);
  int rc = 0;
  for (int k = 1; k < obj->n && !rc; k++)
    if (!strcmp(ka[k - 1].key, ka[k].key))
      rc = err_set(p->e, "json: duplicate key \"%.200s\" at byte %zu", ka[k].key, ka[k].at);
  free(ka);
  return rc;
}

// Arrays and objects: '[' value (',' value)* ']' and '{' string ':' value (',' ...)* '}'.
static int parse_container(Parser *p, Json *out) {
  int is_obj = peek(p) == '{', close = is_obj ? '}' : ']', cap = 0, rc = -1;
  size_t *key_at = NULL;  // byte offset of each key, for the duplicate-key message
  if (p->depth == JSON_MAX_DEPTH)
    return err_set(p->e, "json: nesting deeper than %d at byte %zu", JSON_MAX_DEPTH, p->i);
  p->depth++;
  p->i++;
  out->type = is_obj ? JSON_OBJ : JSON_ARR;
  skip_ws(p);
  if (peek(p) == close) { p->i++; p->depth--; return 0; }
  for (;;) {
    int old_cap = cap;
    Json *kid = push_kid(p, out, &cap);
    if (!kid) goto done;
    if (is_obj) {
      if (cap != old_cap) key_at = xrealloc(key_at, sizeof *key_at * (size_t)cap);
      skip_ws(p);
      if (peek(p) != '"') { unexpected(p); goto done; }
      key_at[out->n - 1] = p->i;
      if (parse_string(p, &out->keys[out->n - 1])) goto done;
      skip_ws(p);
      if (peek(p) != ':') { unexpected(p); goto done; }
      p->i++;
    }
    if (parse_value(p, kid)) goto done;
    skip_ws(p);
    if (peek(p) == ',') { p->i++; continue; }
    if (peek(p) == close) { p->i++; break; }
    unexpected(p);
    goto done;
  }
  rc = is_obj ? check_duplicates(p, out, key_at) : 0;
  p->depth--;
done:
  free(key_at);
  return rc;
}

static int parse_value(Parser *p, Json *out) {
  skip_ws(p);
  int c = peek(p);
  switch (c) {
    case '{': case '[': return parse_container(p, out);
    case '"': out->type = JSON_STR; return parse_string(p, &out->str);
    case 't': return parse_literal(p, "true", out, JSON_BOOL, 1);
    case 'f': return parse_literal(p, "false", out, JSON_BOOL, 0);
    case 'n': return parse_literal(p, "null", out, JSON_NULL, 0);
    default: return c == '-' || is_digit(c) ? parse_number(p, out) : unexpected(p);
  }
}

int json_parse(const char *text, size_t len, Json *out, Err *e) {
  Parser p = {(const unsigned char *)text, len, 0, 0, e};
  memset(out, 0, sizeof *out);
  if (parse_value(&p, out) == 0) {
    skip_ws(&p);
    if (p.i == p.n) return 0;
    unexpected(&p);  // something after the value
  }
  json_free(out);
  return -1;
}

void json_free(Json *j) {
  if (!j) return;
  free(j->str);
  for (int k = 0; k < j->n; k++) {
    if (j->keys) free(j->keys[k]);
    if (j->kids) json_free(&j->kids[k]);
  }
  free(j->keys);
  free(j->kids);
  memset(j, 0, sizeof *j);
}

// ---- lookups --------------------------------------------------------------------------

const Json *json_get(const Json *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJ) return NULL;
  for (int k = 0; k < obj->n; k++)
    if (!strcmp(obj->keys[k], key)) return &obj->kids[k];
  return NULL;
}

const Json *json_at(const Json *arr, int i) {
  return arr && arr->type == JSON_ARR && i >= 0 && i < arr->n ? &arr->kids[i] : NULL;
}

int json_arr_len(const Json *arr) { return arr && arr->type == JSON_ARR ? arr->n : -1; }
double json_num(const Json *j, double fallback) { return j && j->type == JSON_NUM ? j->num : fallback; }
const char *json_str(const Json *j) { return j && j->type == JSON_STR ? j->str : NULL; }

int json_size(const Json *j, int max) {
  double v = json_num(j, -1);
  return v >= 0 && v <= max ? (int)v : -1;
}

int json_int(const Json *j, int64_t *out) {
  const double lim = 9007199254740992.0;  // 2^53
  if (!j || j->type != JSON_NUM || j->num != floor(j->num) || fabs(j->num) > lim) return -1;
  *out = (int64_t)j->num;
  return 0;
}

const char *json_type_name(JsonType t) {
  static const char *names[] = {"null", "bool", "number", "string", "array", "object"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

// ---- writer ---------------------------------------------------------------------------

void jb_init(JsonBuf *b) {
  b->cap = 64;
  b->s = xmalloc(b->cap);
  b->s[0] = 0;
  b->len = 0;
  b->comma = 0;
}

void jb_free(JsonBuf *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

static void jb_reserve(JsonBuf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1) cap *= 2;
  b->s = xrealloc(b->s, cap);
  b->cap = cap;
}

void jb_raw(JsonBuf *b, const char *s, size_t n) {
  jb_reserve(b, n);
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

void jb_printf(JsonBuf *b, const char *fmt, ...) {
  locale_t loc = c_locale(), old = loc ? uselocale(loc) : (locale_t)0;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n > 0) {
    jb_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
  }
  if (loc) uselocale(old);
}

static void sep(JsonBuf *b) { if (b->comma) jb_raw(b, ",", 1); }

// Quotes s. Bytes that are not well-formed UTF-8 become U+FFFD, so that whatever we write
// (a path in odd encoding, say) stays readable by every strict JSON reader, ours included.
static void put_quoted(JsonBuf *b, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str);
  jb_raw(b, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    int m;
    if (c == '"' || c == '\\') { char t[2] = {'\\', (char)c}; jb_raw(b, t, 2); i++; }
    else if (c < 0x20) {
      const char *short_esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
      if (short_esc) jb_raw(b, short_esc, 2);
      else jb_printf(b, "\\u%04x", c);
      i++;
    } else if ((m = utf8_seq(s + i, n - i)) > 0) {
      jb_raw(b, (const char *)s + i, (size_t)m);
      i += (size_t)m;
    } else {
      jb_raw(b, "\\ufffd", 6);
      i++;
    }
  }
  jb_raw(b, "\"", 1);
}

// The shortest %.Ng (N from lo up to hi, where hi always round-trips) that reads back as x.
static void put_real(JsonBuf *b, double x, int is_float) {
  if (!isfinite(x)) { jb_raw(b, "null", 4); return; }
  char t[40];
  int lo = is_float ? 6 : 15, hi = is_float ? 9 : 17;
  locale_t loc = c_locale(), old = loc ? uselocale(loc) : (locale_t)0;
  for (int prec = lo; prec <= hi; prec++) {
    snprintf(t, sizeof t, "%.*g", prec, x);
    double y = strtod_c(t);
    if (is_float ? (float)y == (float)x : y == x) break;
  }
  if (loc) uselocale(old);
  jb_raw(b, t, strlen(t));
}

void jb_obj(JsonBuf *b) { sep(b); jb_raw(b, "{", 1); b->comma = 0; }
void jb_obj_end(JsonBuf *b) { jb_raw(b, "}", 1); b->comma = 1; }
void jb_arr(JsonBuf *b) { sep(b); jb_raw(b, "[", 1); b->comma = 0; }
void jb_arr_end(JsonBuf *b) { jb_raw(b, "]", 1); b->comma = 1; }
void jb_key(JsonBuf *b, const char *key) { sep(b); put_quoted(b, key); jb_raw(b, ":", 1); b->comma = 0; }
void jb_str(JsonBuf *b, const char *s) { sep(b); put_quoted(b, s); b->comma = 1; }
void jb_num(JsonBuf *b, double x) { sep(b); put_real(b, x, 0); b->comma = 1; }
void jb_f32(JsonBuf *b, float x) { sep(b); put_real(b, x, 1); b->comma = 1; }
void jb_int(JsonBuf *b, int64_t x) { sep(b); jb_printf(b, "%lld", (long long)x); b->comma = 1; }
void jb_bool(JsonBuf *b, int x) { sep(b); jb_raw(b, x ? "true" : "false", x ? 4 : 5); b->comma = 1; }
void jb_null(JsonBuf *b) { sep(b); jb_raw(b, "null", 4); b->comma = 1; }

void json_write(JsonBuf *b, const Json *j) {
  switch (j->type) {
    case JSON_NULL: jb_null(b); break;
    case JSON_BOOL: jb_bool(b, j->b); break;
    case JSON_NUM: jb_num(b, j->num); break;
    case JSON_STR: jb_str(b, j->str); break;
    case JSON_ARR:
      jb_arr(b);
      for (int k = 0; k < j->n; k++) json_write(b, &j->kids[k]);
      jb_arr_end(b);
      break;
    case JSON_OBJ:
      jb_obj(b);
      for (int k = 0; k < j->n; k++) { jb_key(b, j->keys[k]); json_write(b, &j->kids[k]); }
      jb_obj_end(b);
      break;
  }
}
