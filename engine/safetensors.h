// safetensors.h — the safetensors container, our checkpoint format.
//
// A file is: an 8-byte little-endian header length N, N bytes of JSON header, then the
// tensor bytes. The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets relative to the first data byte) and may hold "__metadata__", a
// {string: string} object. Like the reference (Rust) writer we pad the header with spaces
// to a multiple of 8 and lay the tensors out contiguously in order.
//
// The loader accepts what the reference reader accepts and nothing else: the tensors must
// tile the data section exactly (no overlap, no gap, no trailing bytes). It reads F32, and
// converts F16, BF16 and F64 to float; the writer writes F32.
#pragma once
#include <stdint.h>
#include "engine/common.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000  // bytes; a longer header means a corrupt or foreign file

typedef struct {
  char *name;                   // e.g. "down.0.res.1.conv1.weight"
  int ndim;                     // 0 (a scalar) to ST_MAX_DIMS
  int64_t shape[ST_MAX_DIMS];
  float *data;                  // st_numel(t) floats, owned by the StFile
} StTensor;

typedef struct {
  int n;                        // tensors, in file order
  StTensor *t;
  int nmeta;                    // __metadata__ entries, in file order
  char **meta_key, **meta_val;
} StFile;

void st_init(StFile *f);
// Appends a tensor, copying name, shape and data (NULL data: zeros). Names must be unique
// by the time of st_save.
void st_add(StFile *f, const char *name, int ndim, const int64_t *shape, const float *data);
void st_set_meta(StFile *f, const char *key, const char *val);  // copies; replaces an old value
// Writes atomically: path.tmp.<pid> is written, flushed and fsync'd, then renamed over
// path (and the directory fsync'd). On failure the old file is untouched and no temporary
// file is left behind. A writer killed mid-save leaves its path.tmp.<pid>: the next save of
// the same path removes those of processes no longer running (remove_stale_temporaries).
int st_save(const char *path, const StFile *f, Err *e);
// Reads and validates a whole file into *f (which it initialises; st_free it on success).
// On failure *f is empty and e says what is wrong, e.g.
//   m.safetensors: header length 999999 exceeds file size 1234
int st_load(const char *path, StFile *f, Err *e);
const StTensor *st_find(const StFile *f, const char *name);  // NULL if absent
const char *st_meta(const StFile *f, const char *key);        // NULL if absent
int64_t st_numel(const StTensor *t);
void st_free(StFile *f);
