// fuzz_json.c — the JSON parser (engine/json.c) as the memory bank and safetensors headers use
// it: anything it accepts must write back as JSON that parses to the same text again.
#include "engine/json.h"
#include "tests/fuzz/fuzz.h"
#include <stdlib.h>
#include <string.h>

int fuzz_one(const uint8_t *data, size_t n) {
  Json j, k;
  Err e;
  if (json_parse((const char *)data, n, &j, &e)) return 0;
  // the lookups the memory bank readers do
  (void)json_num(json_get(&j, "target"), 0);
  const Json *h = json_get(&j, "history");
  for (int i = 0; i < json_arr_len(h); i++) {
    int64_t r;
    (void)json_int(json_get(json_at(h, i), "round"), &r);
    (void)json_str(json_get(json_at(h, i), "skipped"));
  }
  JsonBuf a, b;
  jb_init(&a);
  jb_init(&b);
  json_write(&a, &j);
  if (json_parse(a.s, a.len, &k, &e)) abort();  // what we write we must read
  json_write(&b, &k);
  if (a.len != b.len || memcmp(a.s, b.s, a.len)) abort();
  jb_free(&a);
  jb_free(&b);
  json_free(&k);
  json_free(&j);
  return 0;
}
