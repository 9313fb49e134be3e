// test_json.c — the JSON parser, lookups and writer.
#include "engine/json.h"
#include "tests/test.h"
#include <float.h>
#include <stdlib.h>

// Parses s (without its NUL, so the parser cannot lean on one); 0 on success.
static int parse(const char *s, Json *j, Err *e) { return json_parse(s, strlen(s), j, e); }

// Parses and writes back compactly.
static void roundtrip(const char *in, JsonBuf *out) {
  Json j;
  Err e = {{0}};
  jb_init(out);
  if (parse(in, &j, &e)) { jb_raw(out, e.msg, strlen(e.msg)); return; }
  json_write(out, &j);
  json_free(&j);
}

TEST(json_parse_values) {
  Json j;
  Err e = {{0}};
  const char *doc = " {\"z\": 1, \"a\": [true, false, null, -0.5e2, \"s\"], \"m\": {}, \"e\": []}\n";
  ASSERTF(parse(doc, &j, &e) == 0, "%s", e.msg);
  ASSERT_EQ_INT(j.type, JSON_OBJ);
  ASSERT_EQ_INT(j.n, 4);
  ASSERT(!strcmp(j.keys[0], "z") && !strcmp(j.keys[1], "a") && !strcmp(j.keys[3], "e"));  // order kept
  const Json *a = json_get(&j, "a");
  ASSERT_EQ_INT(json_arr_len(a), 5);
  ASSERT(json_at(a, 0)->type == JSON_BOOL && json_at(a, 0)->b == 1);
  ASSERT(json_at(a, 1)->type == JSON_BOOL && json_at(a, 1)->b == 0);
  ASSERT_EQ_INT(json_at(a, 2)->type, JSON_NULL);
  ASSERT(json_num(json_at(a, 3), 0) == -50.0);
  ASSERT(!strcmp(json_str(json_at(a, 4)), "s"));
  ASSERT_EQ_INT(json_get(&j, "m")->type, JSON_OBJ);
  ASSERT_EQ_INT(json_get(&j, "m")->n, 0);
  ASSERT_EQ_INT(json_arr_len(json_get(&j, "e")), 0);
  json_free(&j);
  ASSERT_EQ_INT(j.type, JSON_NULL);
  json_free(&j);  // twice is harmless
}

TEST(json_numbers) {
  struct { const char *s; double v; } cases[] = {
    {"0", 0}, {"-0", -0.0}, {"7", 7}, {"-12", -12}, {"3.25", 3.25}, {"1e3", 1000}, {"1E+3", 1000},
    {"2.5e-3", 0.0025}, {"123456789012345678", 123456789012345678.0}, {"1e-400", 0},
    {"0.1", 0.1}, {"1.7976931348623157e308", DBL_MAX},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    Json j;
    Err e = {{0}};
    ASSERTF(parse(cases[k].s, &j, &e) == 0, "%s: %s", cases[k].s, e.msg);
    ASSERTF(j.type == JSON_NUM && j.num == cases[k].v, "%s -> %.17g", cases[k].s, j.num);
    json_free(&j);
  }
  Json j;
  Err e;
  ASSERT(parse("-0", &j, &e) == 0 && signbit(j.num));
  int64_t i;
  ASSERT(parse("9007199254740992", &j, &e) == 0 && json_int(&j, &i) == 0 && i == 9007199254740992LL);
  ASSERT(parse("9007199254740994", &j, &e) == 0 && json_int(&j, &i) == -1);  // beyond exact doubles
  ASSERT(parse("2.5", &j, &e) == 0 && json_int(&j, &i) == -1);
  ASSERT(parse("-3", &j, &e) == 0 && json_int(&j, &i) == 0 && i == -3);
  ASSERT(parse("\"3\"", &j, &e) == 0 && json_int(&j, &i) == -1);
  json_free(&j);  // a string owns its bytes; the numbers above own nothing
  // json_size: [0, max] as an int, anything else -1
  ASSERT(parse("64", &j, &e) == 0 && json_size(&j, 64) == 64 && json_size(&j, 63) == -1);
  ASSERT(parse("2.5", &j, &e) == 0 && json_size(&j, 10) == 2);
  ASSERT(parse("-1e-9", &j, &e) == 0 && json_size(&j, 10) == -1);
  ASSERT(parse("1e300", &j, &e) == 0 && json_size(&j, 1 << 20) == -1);
  ASSERT(parse("\"3\"", &j, &e) == 0 && json_size(&j, 10) == -1 && json_size(NULL, 10) == -1);
  json_free(&j);
}

TEST(json_strings_escapes_unicode) {
  struct { const char *in, *out; } cases[] = {
    {"\"\"", ""},
    {"\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", "\" \\ / \b \f \n \r \t"},
    {"\"\\u0041\\u00e9\\u20AC\"", "A\xC3\xA9\xE2\x82\xAC"},           // A é €
    {"\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80"},                        // 😀 as a surrogate pair
    {"\"\\uDBFF\\uDFFF\"", "\xF4\x8F\xBF\xBF"},                        // U+10FFFF
    {"\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},  // raw UTF-8
    {"\"\x7f\"", "\x7f"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    Json j;
    Err e = {{0}};
    ASSERTF(parse(cases[k].in, &j, &e) == 0, "%s: %s", cases[k].in, e.msg);
    ASSERTF(j.type == JSON_STR && !strcmp(j.str, cases[k].out), "%s -> %s", cases[k].in, j.str);
    json_free(&j);
  }
}

// Every error class, with the byte offset it must name.
TEST(json_errors) {
  struct { const char *in, *msg; } cases[] = {
    {"", "json: unexpected end of input at byte 0"},
    {"   ", "json: unexpected end of input at byte 3"},
    {"{\"a\": 1,}", "json: unexpected '}' at byte 8"},
    {"[1, 2", "json: unexpected end of input at byte 5"},
    {"[1 2]", "json: unexpected '2' at byte 3"},
    {"{\"a\" 1}", "json: unexpected '1' at byte 5"},
    {"{a: 1}", "json: unexpected 'a' at byte 1"},
    {"{\"a\": 1} x", "json: unexpected 'x' at byte 9"},
    {"[1]]", "json: unexpected ']' at byte 3"},
    {"tru", "json: unexpected end of input at byte 3"},
    {"nul1", "json: unexpected '1' at byte 3"},
    {"True", "json: unexpected 'T' at byte 0"},
    {"[\x01]", "json: unexpected byte 0x01 at byte 1"},
    {"01", "json: unexpected '1' at byte 1"},
    {"-", "json: unexpected end of input at byte 1"},
    {"-a", "json: unexpected 'a' at byte 1"},
    {"1.", "json: unexpected end of input at byte 2"},
    {".5", "json: unexpected '.' at byte 0"},
    {"1.e5", "json: unexpected 'e' at byte 2"},
    {"1e", "json: unexpected end of input at byte 2"},
    {"1e+", "json: unexpected end of input at byte 3"},
    {"+1", "json: unexpected '+' at byte 0"},
    {"[1e999]", "json: number out of range at byte 1"},
    {"[-1e400]", "json: number out of range at byte 1"},
    {"NaN", "json: unexpected 'N' at byte 0"},
    {"\"abc", "json: unexpected end of input at byte 4"},
    {"\"ab\\", "json: unexpected end of input at byte 4"},
    {"\"a\nb\"", "json: unescaped control character 0x0a in a string at byte 2"},
    {"\"a\\qb\"", "json: bad escape '\\q' at byte 2"},
    {"\"\\u12G4\"", "json: bad \\u escape at byte 1"},
    {"\"\\u12\"", "json: bad \\u escape at byte 1"},
    {"\"x\\ud83d\"", "json: unpaired surrogate \\uD83D at byte 2"},
    {"\"\\ud83d\\u0041\"", "json: unpaired surrogate \\uD83D at byte 1"},
    {"\"\\ude00\"", "json: unpaired surrogate \\uDE00 at byte 1"},
    {"\"a\\u0000\"", "json: \\u0000 in a string is not supported at byte 2"},
    {"\"\xC3\"", "json: invalid UTF-8 at byte 1"},             // truncated sequence
    {"\"ab\xC0\xAF\"", "json: invalid UTF-8 at byte 3"},       // overlong '/'
    {"\"\xED\xA0\x80\"", "json: invalid UTF-8 at byte 1"},     // encoded surrogate
    {"\"\xF4\x90\x80\x80\"", "json: invalid UTF-8 at byte 1"}, // above U+10FFFF
    {"\"\xFF\"", "json: invalid UTF-8 at byte 1"},
    {"\xEF\xBB\xBF{}", "json: unexpected byte 0xef at byte 0"}, // no BOM
    {"{\"a\": 1, \"b\": 2, \"a\": 3}", "json: duplicate key \"a\" at byte 17"},
    {"{\"k\": {\"x\": [], \"x\": []}}", "json: duplicate key \"x\" at byte 16"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    Json j = {.type = JSON_NUM};
    Err e = {{0}};
    ASSERTF(parse(cases[k].in, &j, &e) == -1, "accepted: %s", cases[k].in);
    ASSERTF(!strcmp(e.msg, cases[k].msg), "input %s\n      got:      %s\n      expected: %s", cases[k].in, e.msg, cases[k].msg);
    ASSERT_EQ_INT(j.type, JSON_NULL);  // nothing left to free
  }
}

TEST(json_depth_limit) {
  char doc[2 * (JSON_MAX_DEPTH + 1) + 1];
  for (int d = JSON_MAX_DEPTH; d <= JSON_MAX_DEPTH + 1; d++) {
    for (int k = 0; k < d; k++) { doc[k] = '['; doc[2 * d - 1 - k] = ']'; }
    Json j;
    Err e = {{0}};
    int rc = json_parse(doc, 2 * (size_t)d, &j, &e);
    if (d == JSON_MAX_DEPTH) { ASSERTF(rc == 0, "%s", e.msg); json_free(&j); continue; }
    ASSERT(rc == -1);
    char want[100];
    snprintf(want, sizeof want, "json: nesting deeper than %d at byte %d", JSON_MAX_DEPTH, JSON_MAX_DEPTH);
    ASSERTF(!strcmp(e.msg, want), "%s", e.msg);
  }
  // A deep opening with no end must fail fast, not recurse without bound.
  size_t n = 1 << 20;
  char *deep = malloc(n);
  memset(deep, '[', n);
  Json j;
  Err e;
  ASSERT(json_parse(deep, n, &j, &e) == -1);
  free(deep);
}

TEST(json_roundtrip) {
  const char *docs[] = {
    "{\"name\":\"down.0.res.1.conv1.weight\",\"shape\":[64,32,3,3],\"data_offsets\":[0,73728]}",
    "[null,true,false,0,-1,0.5,1e+300,-2.5e-08,\"\",[],{},[[{}]]]",
    "{\"z\":{\"y\":{\"x\":[1,2,3]}},\"a\":\"tab\\there \\\"q\\\" \\\\ \\u0001 \xC3\xA9\"}",
    "0.1",
    "123456789",
  };
  for (size_t k = 0; k < sizeof docs / sizeof *docs; k++) {
    JsonBuf b;
    roundtrip(docs[k], &b);
    ASSERTF(!strcmp(b.s, docs[k]), "\n      in:  %s\n      out: %s", docs[k], b.s);
    jb_free(&b);
  }
  // Pretty input comes back compact, escapes normalised.
  JsonBuf b;
  roundtrip(" { \"a\" : [ 1 , 2 ] ,\n \"b\\/\\u0041\" : \"\\u00e9\" } ", &b);
  ASSERTF(!strcmp(b.s, "{\"a\":[1,2],\"b/A\":\"\xC3\xA9\"}"), "%s", b.s);
  jb_free(&b);
}

TEST(json_writer) {
  JsonBuf b;
  jb_init(&b);
  ASSERT(b.s && b.s[0] == 0 && b.len == 0);
  jb_obj(&b);
  jb_key(&b, "shape"); jb_arr(&b); jb_int(&b, 3); jb_int(&b, -4); jb_int(&b, 1LL << 40); jb_arr_end(&b);
  jb_key(&b, "ok"); jb_bool(&b, 1);
  jb_key(&b, "no"); jb_null(&b);
  jb_key(&b, "nested"); jb_arr(&b); jb_obj(&b); jb_obj_end(&b); jb_arr(&b); jb_arr_end(&b); jb_arr_end(&b);
  jb_key(&b, "esc\n"); jb_str(&b, "q\"b\\s\x01\x1f\t\xC3\xA9");
  jb_key(&b, "bad utf8"); jb_str(&b, "a\xFF" "b\xC3");
  jb_key(&b, "x"); jb_num(&b, 0.1);
  jb_key(&b, "nan"); jb_arr(&b); jb_num(&b, NAN); jb_f32(&b, -INFINITY); jb_arr_end(&b);
  jb_obj_end(&b);
  const char *want = "{\"shape\":[3,-4,1099511627776],\"ok\":true,\"no\":null,\"nested\":[{},[]],"
                     "\"esc\\n\":\"q\\\"b\\\\s\\u0001\\u001f\\t\xC3\xA9\",\"bad utf8\":\"a\\ufffdb\\ufffd\","
                     "\"x\":0.1,\"nan\":[null,null]}";
  ASSERTF(!strcmp(b.s, want), "\n      got:  %s\n      want: %s", b.s, want);
  ASSERT_EQ_INT(b.len, strlen(want));
  Json j;  // what we write, we read
  Err e = {{0}};
  ASSERTF(json_parse(b.s, b.len, &j, &e) == 0, "%s", e.msg);
  ASSERT(!strcmp(json_str(json_get(&j, "esc\n")), "q\"b\\s\x01\x1f\t\xC3\xA9"));
  json_free(&j);
  b.len = 0; b.comma = 0; b.s[0] = 0;
  jb_printf(&b, "%s=%d;", "n", 42);
  jb_printf(&b, "%.1f", 2.5);
  ASSERTF(!strcmp(b.s, "n=42;2.5"), "%s", b.s);
  jb_free(&b);
}

// Floats written with jb_f32 read back bit-exact, in at most 9 significant digits.
TEST(json_float_roundtrip) {
  float vals[] = {0.1f, 1.0f / 3, -2.7182817f, 1e-45f /* denormal */, 1.17549435e-38f, FLT_MAX, -FLT_MAX,
                  16777217.0f, 3.4e-5f, 0.0f, -0.0f, 123456.789f, 1e10f};
  JsonBuf b;
  jb_init(&b);
  jb_arr(&b);
  for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) jb_f32(&b, vals[k]);
  jb_arr_end(&b);
  Json j;
  Err e = {{0}};
  ASSERTF(json_parse(b.s, b.len, &j, &e) == 0, "%s", e.msg);
  for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
    float back = (float)json_num(json_at(&j, (int)k), NAN);
    ASSERTF(memcmp(&back, &vals[k], 4) == 0, "%.9g came back as %.9g (%s)", vals[k], back, b.s);
  }
  ASSERTF(strstr(b.s, "[0.1,0.33333334,") == b.s, "%s", b.s);  // shortest, not always 9 digits
  json_free(&j);
  // Doubles via jb_num: exact, and short when they can be.
  double d[] = {0.1, 1.0 / 3, 1e-310, DBL_MAX, 5e-324, 2.0};
  b.len = 0; b.comma = 0;
  jb_arr(&b);
  for (size_t k = 0; k < sizeof d / sizeof *d; k++) jb_num(&b, d[k]);
  jb_arr_end(&b);
  ASSERTF(json_parse(b.s, b.len, &j, &e) == 0, "%s", e.msg);
  for (size_t k = 0; k < sizeof d / sizeof *d; k++) ASSERT(json_num(json_at(&j, (int)k), NAN) == d[k]);
  ASSERTF(strstr(b.s, "[0.1,0.3333333333333333,") == b.s, "%s", b.s);
  json_free(&j);
  jb_free(&b);
}

TEST(json_lookup_wrong_types) {
  Json j;
  Err e;
  ASSERT(parse("{\"a\": [1, \"two\"], \"n\": 5}", &j, &e) == 0);
  ASSERT(json_get(&j, "missing") == NULL);
  ASSERT(json_get(json_get(&j, "n"), "x") == NULL);  // not an object
  ASSERT(json_get(NULL, "x") == NULL);
  ASSERT_EQ_INT(json_arr_len(json_get(&j, "n")), -1);
  ASSERT_EQ_INT(json_arr_len(NULL), -1);
  ASSERT(json_at(json_get(&j, "a"), 2) == NULL);
  ASSERT(json_at(json_get(&j, "a"), -1) == NULL);
  ASSERT(json_at(&j, 0) == NULL);                    // objects are not indexable
  ASSERT(json_num(json_at(json_get(&j, "a"), 1), -7) == -7);
  ASSERT(json_str(json_at(json_get(&j, "a"), 0)) == NULL);
  ASSERT(!strcmp(json_str(json_at(json_get(&j, "a"), 1)), "two"));
  ASSERT(json_num(json_get(&j, "n"), 0) == 5);
  ASSERT(!strcmp(json_type_name(JSON_OBJ), "object") && !strcmp(json_type_name(JSON_NUM), "number"));
  json_free(&j);
}

// Every prefix and many one-byte corruptions of a document fail or succeed cleanly
// (run under -fsanitize=address to see that nothing reads out of bounds).
TEST(json_truncations_and_mutations) {
  const char *doc = "{\"a\":[1,-2.5e3,true,false,null],\"s\":\"x\\u00e9\\ud83d\\ude00\\n\xC3\xA9\",\"o\":{\"k\":{}}}";
  size_t n = strlen(doc);
  for (size_t len = 0; len < n; len++) {
    char *copy = malloc(len ? len : 1);  // exactly len bytes: no NUL to lean on
    memcpy(copy, doc, len);
    Json j;
    Err e = {{0}};
    int rc = json_parse(copy, len, &j, &e);
    free(copy);
    ASSERTF(rc == -1 && !strncmp(e.msg, "json: ", 6), "prefix %zu: rc %d", len, rc);
  }
  const char bytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'e', '-', 'u', ' ', '\0', (char)0xC3, (char)0xFF};
  for (size_t at = 0; at < n; at++)
    for (size_t k = 0; k < sizeof bytes; k++) {
      char *copy = malloc(n);
      memcpy(copy, doc, n);
      copy[at] = bytes[k];
      Json j;
      Err e = {{0}};
      if (json_parse(copy, n, &j, &e) == 0) json_free(&j);
      else ASSERTF(!strncmp(e.msg, "json: ", 6), "%s", e.msg);
      free(copy);
    }
}
