// eval_cache.h — what `stepscope eval --fid` keeps between runs: the classifier features of
// the samples of each seed set, the test split's features, and the real-data floor, each in
// its own safetensors file under a cache folder. A file's name is a fingerprint of
// everything its contents depend on (the bytes of every model file, the sampler, the seeds,
// the backend, the classifier), so a changed model never meets a stale entry, and an
// experiment that is stopped and rerun samples nothing twice.
#pragma once
#include <stddef.h>
#include <stdint.h>

// The folder: dir when given ("" means no cache: every call below then does nothing), else
// $XDG_CACHE_HOME/stepscope, else $HOME/.cache/stepscope. Created when missing; 0 and out
// filled, or -1 (no usable folder: the caller goes on without a cache).
int eval_cache_dir(const char *dir, char *out, size_t cap);

// FNV-1a, 64 bit: a running fingerprint.
typedef struct { uint64_t h; } Fingerprint;
void fp_init(Fingerprint *f);
void fp_bytes(Fingerprint *f, const void *p, size_t n);
void fp_str(Fingerprint *f, const char *s);  // with its terminating 0, so "ab","c" != "a","bc"
int fp_file(Fingerprint *f, const char *path);  // the file's bytes; -1 when it cannot be read
void fp_hex(const Fingerprint *f, char out[17]);

// A (rows, cols) float matrix in DIR/NAME.safetensors with its fingerprint in the metadata.
// load: 0 when present with that shape, else -1 (absent, unreadable or another shape: the
// caller recomputes). save: atomic; a failure is only a note on stderr.
int eval_cache_load(const char *dir, const char *name, long rows, int cols, float *out);
void eval_cache_save(const char *dir, const char *name, long rows, int cols, const float *m);
