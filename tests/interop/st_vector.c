// st_vector.c — the C half of the manual safetensors interop check (check_safetensors.py).
//   st_vector write PATH   writes the reference vector below with st_save
//   st_vector dump PATH    loads PATH with st_load and prints it as JSON, each float as its
//                          32-bit pattern, so that the comparison is bit-exact (NaNs too)
#include "engine/json.h"
#include "engine/safetensors.h"
#include <stdio.h>
#include <string.h>

static const uint32_t special_bits[] = {
  0x7fc01234, 0xffa00001,  // NaNs with payloads, quiet and signalling
  0x7f800000, 0xff800000,  // ±inf
  0x80000000, 0x00000001,  // -0, the smallest denormal
  0x007fffff, 0x7f7fffff,  // the largest denormal, FLT_MAX
  0x3dcccccd,              // 0.1f
};

static int write_vector(const char *path, Err *e) {
  StFile f;
  st_init(&f);
  float w[2 * 3 * 3 * 3], special[9], bias[5] = {-1.5f, 0, 1.5f, 3, 1e-3f}, scalar = 42.5f;
  for (int i = 0; i < 54; i++) w[i] = (float)(i * 37 % 101) / 16.0f - 3.0f;  // exact in float32
  memcpy(special, special_bits, sizeof special);
  st_add(&f, "down.0.res.1.conv1.weight", 4, (int64_t[]){2, 3, 3, 3}, w);
  st_add(&f, "special", 2, (int64_t[]){3, 3}, special);
  st_add(&f, "mid.attn.qkv.bias", 1, (int64_t[]){5}, bias);
  st_add(&f, "step_scalar", 0, NULL, &scalar);
  st_add(&f, "empty", 2, (int64_t[]){0, 3}, NULL);
  st_set_meta(&f, "config", "{\"ch\": [64, 128], \"attn\": true}");
  st_set_meta(&f, "step", "1200");
  st_set_meta(&f, "unicode", "caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x98\x80 \"q\" \\ \t");
  int rc = st_save(path, &f, e);
  st_free(&f);
  return rc;
}

static int dump(const char *path, Err *e) {
  StFile f;
  if (st_load(path, &f, e)) return -1;
  JsonBuf b;
  jb_init(&b);
  jb_obj(&b);
  jb_key(&b, "metadata");
  jb_obj(&b);
  for (int k = 0; k < f.nmeta; k++) { jb_key(&b, f.meta_key[k]); jb_str(&b, f.meta_val[k]); }
  jb_obj_end(&b);
  jb_key(&b, "tensors");
  jb_obj(&b);
  for (int k = 0; k < f.n; k++) {
    const StTensor *t = &f.t[k];
    jb_key(&b, t->name);
    jb_obj(&b);
    jb_key(&b, "shape");
    jb_arr(&b);
    for (int d = 0; d < t->ndim; d++) jb_int(&b, t->shape[d]);
    jb_arr_end(&b);
    jb_key(&b, "bits");
    jb_arr(&b);
    for (int64_t i = 0; i < st_numel(t); i++) {
      uint32_t u;
      memcpy(&u, &t->data[i], 4);
      jb_int(&b, u);
    }
    jb_arr_end(&b);
    jb_obj_end(&b);
  }
  jb_obj_end(&b);
  jb_obj_end(&b);
  puts(b.s);
  jb_free(&b);
  st_free(&f);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "write") && strcmp(argv[1], "dump"))) {
    fprintf(stderr, "usage: st_vector write|dump PATH\n");
    return 2;
  }
  Err e;
  if ((!strcmp(argv[1], "write") ? write_vector : dump)(argv[2], &e)) {
    fprintf(stderr, "st_vector: %s\n", e.msg);
    return 1;
  }
  return 0;
}
