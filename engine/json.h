// json.h — a small, strict JSON library: a parser to a DOM and a writer.
//
// Used for safetensors headers, the plan memory bank and the external-proposer protocol.
// The parser accepts exactly RFC 8259 JSON (one value, optional surrounding whitespace)
// and rejects everything else with the byte offset of the first problem:
//   json: unexpected 'x' at byte 17
// Deliberately stricter than the RFC in three ways: duplicate keys in an object, "\u0000"
// inside strings (strings are NUL-terminated C strings here) and numbers that overflow a
// double are errors. Input must be valid UTF-8 inside strings; nesting is limited to
// JSON_MAX_DEPTH. Numbers are parsed and printed in the "C" locale whatever setlocale()
// the program has done.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "engine/common.h"

#define JSON_MAX_DEPTH 128

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } JsonType;

// One node of the DOM. A node owns everything below it; json_free releases it all.
typedef struct Json {
  JsonType type;
  int b;              // JSON_BOOL: 0 or 1
  double num;         // JSON_NUM
  char *str;          // JSON_STR: UTF-8, NUL-terminated
  int n;              // JSON_ARR: elements, JSON_OBJ: members
  char **keys;        // JSON_OBJ: n keys, in document order
  struct Json *kids;  // JSON_ARR, JSON_OBJ: n values
} Json;

// Parses len bytes of text (need not be NUL-terminated) into *out. On failure *out is
// left as JSON_NULL with nothing to free, and e holds "json: <what> at byte <offset>".
int json_parse(const char *text, size_t len, Json *out, Err *e);
void json_free(Json *j);  // frees what j owns and resets it to JSON_NULL; j may be NULL

// Lookups. All accept NULL and a node of the wrong type, so they chain:
//   json_num(json_at(json_get(root, "shape"), 0), -1)
const Json *json_get(const Json *obj, const char *key);  // member value, or NULL
const Json *json_at(const Json *arr, int i);             // element i, or NULL
int json_arr_len(const Json *arr);                       // elements, or -1 if not an array
double json_num(const Json *j, double fallback);         // the number, or fallback
const char *json_str(const Json *j);                     // the string, or NULL
// A number in [0, max] as an int (its integer part), else -1 (missing, not a number, negative,
// NaN or too large): for sizes read from a file, where casting a huge double would be undefined.
int json_size(const Json *j, int max);
// An integral number in [-2^53, 2^53] (where doubles are exact) into *out; else -1.
int json_int(const Json *j, int64_t *out);
const char *json_type_name(JsonType t);                  // "null", "bool", "number", ...

// ---- writer ---------------------------------------------------------------------------
// A growable NUL-terminated string buffer with JSON emitters that place the commas
// themselves, so that nested output reads like the structure it builds:
//   JsonBuf b; jb_init(&b);
//   jb_obj(&b); jb_key(&b, "shape"); jb_arr(&b); jb_int(&b, 3); jb_int(&b, 4); jb_arr_end(&b);
//   jb_obj_end(&b);                                     // b.s == "{\"shape\":[3,4]}"
// The buffer is also usable as a plain string builder (jb_raw, jb_printf).
typedef struct {
  char *s;         // the text so far, always NUL-terminated (after jb_init)
  size_t len, cap;
  int comma;       // a value was just completed: the next value or key needs a ','
} JsonBuf;

void jb_init(JsonBuf *b);
void jb_free(JsonBuf *b);
void jb_raw(JsonBuf *b, const char *s, size_t n);  // appends bytes as they are
void jb_printf(JsonBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void jb_obj(JsonBuf *b);
void jb_obj_end(JsonBuf *b);
void jb_arr(JsonBuf *b);
void jb_arr_end(JsonBuf *b);
void jb_key(JsonBuf *b, const char *key);
void jb_str(JsonBuf *b, const char *s);   // quoted and escaped
void jb_num(JsonBuf *b, double x);        // shortest text that reads back as the same double
void jb_f32(JsonBuf *b, float x);         // shortest text that reads back as the same float (≤ %.9g)
void jb_int(JsonBuf *b, int64_t x);
void jb_bool(JsonBuf *b, int x);
void jb_null(JsonBuf *b);
// NaN and ±inf have no JSON spelling: jb_num and jb_f32 write them as null.

void json_write(JsonBuf *b, const Json *j);  // a DOM as compact JSON (a value, with comma)
