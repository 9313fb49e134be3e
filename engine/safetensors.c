// safetensors.c — reading, validating and atomically writing safetensors files.
#include "safetensors.h"
#include "json.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Tensor bytes go to and from disk with plain memcpy semantics: little-endian hosts only.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "stepscope's safetensors code assumes a little-endian host"
#endif

// ---- building an StFile ---------------------------------------------------------------

void st_init(StFile *f) { memset(f, 0, sizeof *f); }

int64_t st_numel(const StTensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  return n;
}

// Grows an array of count elements when count reaches a power of two, so no capacity
// field is needed: capacities run 1, 2, 4, 8, ...
static void *grow(void *p, int count, size_t elem) {
  if (count & (count - 1)) return p;
  return xrealloc(p, elem * (size_t)(count ? 2 * count : 1));
}

void st_add(StFile *f, const char *name, int ndim, const int64_t *shape, const float *data) {
  CHECK(ndim >= 0 && ndim <= ST_MAX_DIMS, "st_add(%s): %d dimensions", name, ndim);
  f->t = grow(f->t, f->n, sizeof *f->t);
  StTensor *t = &f->t[f->n++];
  memset(t, 0, sizeof *t);
  t->name = xstrdup(name);
  t->ndim = ndim;
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    CHECK(shape[d] >= 0 && (shape[d] == 0 || numel <= INT64_MAX / 4 / shape[d]), "st_add(%s): bad shape", name);
    t->shape[d] = shape[d];
    numel *= shape[d];
  }
  size_t bytes = (size_t)numel * sizeof(float);
  t->data = data ? memcpy(xmalloc(bytes), data, bytes) : xcalloc((size_t)numel, sizeof(float));
}

void st_set_meta(StFile *f, const char *key, const char *val) {
  for (int k = 0; k < f->nmeta; k++)
    if (!strcmp(f->meta_key[k], key)) { free(f->meta_val[k]); f->meta_val[k] = xstrdup(val); return; }
  f->meta_key = grow(f->meta_key, f->nmeta, sizeof *f->meta_key);
  f->meta_val = grow(f->meta_val, f->nmeta, sizeof *f->meta_val);
  f->meta_key[f->nmeta] = xstrdup(key);
  f->meta_val[f->nmeta] = xstrdup(val);
  f->nmeta++;
}

const StTensor *st_find(const StFile *f, const char *name) {
  for (int k = 0; k < f->n; k++)
    if (!strcmp(f->t[k].name, name)) return &f->t[k];
  return NULL;
}

const char *st_meta(const StFile *f, const char *key) {
  for (int k = 0; k < f->nmeta; k++)
    if (!strcmp(f->meta_key[k], key)) return f->meta_val[k];
  return NULL;
}

void st_free(StFile *f) {
  for (int k = 0; k < f->n; k++) { free(f->t[k].name); free(f->t[k].data); }
  for (int k = 0; k < f->nmeta; k++) { free(f->meta_key[k]); free(f->meta_val[k]); }
  free(f->t);
  free(f->meta_key);
  free(f->meta_val);
  st_init(f);
}

// ---- saving ---------------------------------------------------------------------------

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// The header: __metadata__ first, then the tensors in order, each right after the last.
static int build_header(const char *path, const StFile *f, JsonBuf *b, Err *e) {
  const char **names = xmalloc(sizeof *names * (size_t)(f->n + 1));
  for (int k = 0; k < f->n; k++) names[k] = f->t[k].name;
  qsort(names, (size_t)f->n, sizeof *names, by_name);
  int rc = 0;
  for (int k = 0; k < f->n && !rc; k++) {
    if (k > 0 && !strcmp(names[k - 1], names[k])) rc = err_set(e, "%s: two tensors are named \"%s\"", path, names[k]);
    if (!strcmp(names[k], "__metadata__")) rc = err_set(e, "%s: a tensor may not be named __metadata__", path);
  }
  free(names);
  if (rc) return rc;

  jb_obj(b);
  if (f->nmeta) {
    jb_key(b, "__metadata__");
    jb_obj(b);
    for (int k = 0; k < f->nmeta; k++) { jb_key(b, f->meta_key[k]); jb_str(b, f->meta_val[k]); }
    jb_obj_end(b);
  }
  int64_t offset = 0;
  for (int k = 0; k < f->n; k++) {
    const StTensor *t = &f->t[k];
    int64_t bytes = st_numel(t) * (int64_t)sizeof(float);
    jb_key(b, t->name);
    jb_obj(b);
    jb_key(b, "dtype"); jb_str(b, "F32");
    jb_key(b, "shape"); jb_arr(b);
    for (int d = 0; d < t->ndim; d++) jb_int(b, t->shape[d]);
    jb_arr_end(b);
    jb_key(b, "data_offsets"); jb_arr(b); jb_int(b, offset); jb_int(b, offset + bytes); jb_arr_end(b);
    jb_obj_end(b);
    offset += bytes;
  }
  jb_obj_end(b);
  while (b->len % 8) jb_raw(b, " ", 1);  // so that the data starts 8-byte aligned
  if (b->len > ST_MAX_HEADER)  // st_load would refuse it
    return err_set(e, "%s: header of %zu bytes exceeds the limit of %d", path, b->len, ST_MAX_HEADER);
  return 0;
}

// fsync of the directory makes the rename itself durable. Best effort: some file systems
// cannot fsync a directory, and the file is already complete and in place.
static void fsync_dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
  if (!dir) return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) { fsync(fd); close(fd); }
  free(dir);
}

int st_save(const char *path, const StFile *f, Err *e) {
  JsonBuf hdr;
  jb_init(&hdr);
  if (build_header(path, f, &hdr, e)) { jb_free(&hdr); return -1; }
  unsigned char len8[8];
  for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)hdr.len >> (8 * k));

  remove_stale_temporaries(path);  // left by a writer that was killed mid-save
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    jb_free(&hdr);
    return err_set(e, "%s: path too long", path);
  }
  const char *what = "cannot create temporary file";
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (!fp) goto fail;
  what = "write failed";
  if (fwrite(len8, 1, 8, fp) != 8 || fwrite(hdr.s, 1, hdr.len, fp) != hdr.len) goto fail;
  for (int k = 0; k < f->n; k++) {
    size_t n = (size_t)st_numel(&f->t[k]);
    if (fwrite(f->t[k].data, sizeof(float), n, fp) != n) goto fail;
  }
  if (fflush(fp) || fsync(fd)) goto fail;
  fd = -1;
  if (fclose(fp)) { fp = NULL; goto fail; }
  fp = NULL;
  what = "cannot replace the file";
  if (rename(tmp, path)) goto fail;
  fsync_dir_of(path);
  jb_free(&hdr);
  return 0;

fail:;
  int errnum = errno;
  if (fp) fclose(fp);
  else if (fd >= 0) close(fd);
  unlink(tmp);
  jb_free(&hdr);
  return err_set(e, "%s: %s: %s", path, what, strerror(errnum));
}

// ---- loading --------------------------------------------------------------------------

typedef enum { DT_F32, DT_F16, DT_BF16, DT_F64 } Dtype;
static const char *dtype_names[] = {"F32", "F16", "BF16", "F64"};
static const int dtype_size[] = {4, 2, 2, 8};

// Where one tensor's bytes lie, for the layout checks and the read.
typedef struct { int tensor; Dtype dtype; int64_t begin, end; } Span;

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = h >> 10 & 0x1F, mant = h & 0x3FF, bits;
  if (exp == 0 && mant) {  // subnormal: mant · 2^-24
    float x = (float)mant * 0x1p-24f;
    return sign ? -x : x;
  }
  if (exp == 0) bits = sign;                                    // ±0
  else if (exp == 0x1F) bits = sign | 0x7F800000 | mant << 13;  // ±inf, NaN
  else bits = sign | (exp + 112) << 23 | mant << 13;            // rebias 15 -> 127
  float x;
  memcpy(&x, &bits, 4);
  return x;
}

static int read_at(int fd, void *buf, size_t n, int64_t off) {
  for (size_t got = 0; got < n;) {
    ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { if (r == 0) errno = EIO; return -1; }  // r == 0: the file shrank under us
    got += (size_t)r;
  }
  return 0;
}

// One tensor entry of the header: fills t (name, shape) and s (dtype, offsets).
static int parse_entry(const char *path, const char *name, const Json *v, int64_t data_size,
                       StTensor *t, Span *s, Err *e) {
  if (v->type != JSON_OBJ)
    return err_set(e, "%s: tensor \"%s\": entry is a %s, not an object", path, name, json_type_name(v->type));
  const char *dtype = json_str(json_get(v, "dtype"));
  if (!dtype) return err_set(e, "%s: tensor \"%s\": no dtype string", path, name);
  int dt = -1;
  for (int k = 0; k < 4; k++) if (!strcmp(dtype, dtype_names[k])) dt = k;
  if (dt < 0)
    return err_set(e, "%s: tensor \"%s\" has dtype %.32s; stepscope reads F32, F16, BF16 and F64", path, name, dtype);

  const Json *shape = json_get(v, "shape");
  int ndim = json_arr_len(shape);
  if (ndim < 0) return err_set(e, "%s: tensor \"%s\": no shape array", path, name);
  if (ndim > ST_MAX_DIMS)
    return err_set(e, "%s: tensor \"%s\": shape has %d dimensions (at most %d)", path, name, ndim, ST_MAX_DIMS);
  int has_zero = 0;
  for (int d = 0; d < ndim; d++) {
    if (json_int(json_at(shape, d), &t->shape[d]) || t->shape[d] < 0)
      return err_set(e, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", path, name, d);
    has_zero |= t->shape[d] == 0;
  }
  t->ndim = ndim;
  // Bytes the shape needs, or -1 when that is beyond 2^62 (no file is that large).
  const int64_t limit = INT64_C(1) << 62;
  int64_t bytes = has_zero ? 0 : dtype_size[dt];
  for (int d = 0; d < ndim && bytes > 0; d++)
    bytes = bytes > limit / t->shape[d] ? -1 : bytes * t->shape[d];

  const Json *offs = json_get(v, "data_offsets");
  int64_t begin, end;
  if (json_arr_len(offs) != 2 || json_int(json_at(offs, 0), &begin) || json_int(json_at(offs, 1), &end) ||
      begin < 0 || end < 0)
    return err_set(e, "%s: tensor \"%s\": data_offsets is not [begin, end] of non-negative integers", path, name);
  if (end < begin || end > data_size)
    return err_set(e, "%s: tensor \"%s\": data_offsets [%lld, %lld] lie outside the data section [0, %lld]",
                   path, name, (long long)begin, (long long)end, (long long)data_size);
  if (end - begin != bytes) {
    char dims[8 * 24] = "";
    for (int d = 0, at = 0; d < ndim; d++)
      at += snprintf(dims + at, sizeof dims - (size_t)at, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (bytes < 0)
      return err_set(e, "%s: tensor \"%s\": shape [%s] of %s needs more than 2^62 bytes", path, name, dims, dtype);
    return err_set(e, "%s: tensor \"%s\": shape [%s] of %s needs %lld bytes but data_offsets [%lld, %lld] hold %lld",
                   path, name, dims, dtype, (long long)bytes, (long long)begin, (long long)end,
                   (long long)(end - begin));
  }
  *s = (Span){0, (Dtype)dt, begin, end};
  return 0;
}

static int by_offset(const void *a, const void *b) {
  const Span *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return (x->end > y->end) - (x->end < y->end);
}

// The tensors must tile [0, data_size) exactly, as the reference reader demands.
static int check_layout(const char *path, const StFile *f, Span *spans, int64_t data_size, Err *e) {
  qsort(spans, (size_t)f->n, sizeof *spans, by_offset);
  int64_t at = 0;
  for (int k = 0; k < f->n; k++) {
    const Span *s = &spans[k];
    const char *name = f->t[s->tensor].name;
    if (s->begin < at)
      return err_set(e, "%s: tensors \"%s\" and \"%s\" overlap (bytes [%lld, %lld) and [%lld, %lld))", path,
                     f->t[spans[k - 1].tensor].name, name, (long long)spans[k - 1].begin,
                     (long long)spans[k - 1].end, (long long)s->begin, (long long)s->end);
    if (s->begin > at)
      return err_set(e, "%s: tensor \"%s\" starts at data byte %lld, leaving a gap after byte %lld", path, name,
                     (long long)s->begin, (long long)at);
    at = s->end;
  }
  if (at != data_size)
    return err_set(e, "%s: data section is %lld bytes but the tensors cover %lld", path, (long long)data_size,
                   (long long)at);
  return 0;
}

static int read_tensor(int fd, int64_t data_start, const Span *s, StTensor *t) {
  int64_t n = st_numel(t);
  t->data = xmalloc((size_t)n * sizeof(float));
  if (s->dtype == DT_F32) return read_at(fd, t->data, (size_t)(s->end - s->begin), data_start + s->begin);
  void *raw = xmalloc((size_t)(s->end - s->begin));
  int rc = read_at(fd, raw, (size_t)(s->end - s->begin), data_start + s->begin);
  for (int64_t i = 0; i < n && !rc; i++) {
    uint16_t h;
    double x;
    switch (s->dtype) {
      case DT_F16: memcpy(&h, (char *)raw + 2 * i, 2); t->data[i] = f16_to_f32(h); break;
      case DT_BF16: {
        memcpy(&h, (char *)raw + 2 * i, 2);
        uint32_t bits = (uint32_t)h << 16;
        memcpy(&t->data[i], &bits, 4);
        break;
      }
      case DT_F64: memcpy(&x, (char *)raw + 8 * i, 8); t->data[i] = (float)x; break;
      case DT_F32: break;
    }
  }
  free(raw);
  return rc;
}

// The header (already read) into *f: metadata, tensor names and shapes, then the data.
static int load_header(const char *path, int fd, const char *hdr, uint64_t hlen, int64_t data_size, StFile *f,
                       Err *e) {
  Json root;
  Err je;
  if (json_parse(hdr, (size_t)hlen, &root, &je)) return err_set(e, "%s: header: %s", path, je.msg);
  int rc = 0;
  Span *spans = xmalloc(sizeof *spans * (size_t)(root.n + 1));
  if (root.type != JSON_OBJ || hdr[0] != '{') {
    rc = root.type != JSON_OBJ ? err_set(e, "%s: header is a JSON %s, not an object", path, json_type_name(root.type))
                               : err_set(e, "%s: header must start with '{'", path);
  }
  for (int k = 0; k < root.n && !rc && root.type == JSON_OBJ; k++) {
    const char *key = root.keys[k];
    const Json *v = &root.kids[k];
    if (!strcmp(key, "__metadata__")) {
      if (v->type != JSON_OBJ) {
        rc = err_set(e, "%s: __metadata__ is a %s, not an object", path, json_type_name(v->type));
        break;
      }
      for (int m = 0; m < v->n && !rc; m++) {
        if (v->kids[m].type != JSON_STR)
          rc = err_set(e, "%s: metadata \"%.200s\" is a %s, not a string", path, v->keys[m],
                       json_type_name(v->kids[m].type));
        else st_set_meta(f, v->keys[m], v->kids[m].str);  // keys are unique: the parser saw to it
      }
      continue;
    }
    f->t = grow(f->t, f->n, sizeof *f->t);
    StTensor *t = &f->t[f->n];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(key);
    f->n++;
    rc = parse_entry(path, key, v, data_size, t, &spans[f->n - 1], e);
    spans[f->n - 1].tensor = f->n - 1;
  }
  json_free(&root);
  if (!rc) rc = check_layout(path, f, spans, data_size, e);
  for (int k = 0; k < f->n && !rc; k++)
    if (read_tensor(fd, 8 + (int64_t)hlen, &spans[k], &f->t[spans[k].tensor]))
      rc = err_set(e, "%s: reading tensor \"%s\": %s", path, f->t[spans[k].tensor].name, strerror(errno));
  free(spans);
  return rc;
}

int st_load(const char *path, StFile *f, Err *e) {
  st_init(f);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return err_set(e, "%s: %s", path, strerror(errno));
  struct stat sb;
  unsigned char len8[8];
  char *hdr = NULL;
  int rc = -1;
  if (fstat(fd, &sb)) { err_set(e, "%s: %s", path, strerror(errno)); goto done; }
  if (!S_ISREG(sb.st_mode)) { err_set(e, "%s: not a regular file", path); goto done; }
  uint64_t size = (uint64_t)sb.st_size;
  if (size < 8) {
    err_set(e, "%s: file is %llu bytes, too short for a safetensors header", path, (unsigned long long)size);
    goto done;
  }
  if (read_at(fd, len8, 8, 0)) { err_set(e, "%s: %s", path, strerror(errno)); goto done; }
  uint64_t hlen = 0;
  for (int k = 7; k >= 0; k--) hlen = hlen << 8 | len8[k];
  if (hlen > ST_MAX_HEADER) {
    err_set(e, "%s: header length %llu is absurd (limit %d); not a safetensors file?", path,
            (unsigned long long)hlen, ST_MAX_HEADER);
    goto done;
  }
  if (hlen > size - 8) {
    err_set(e, "%s: header length %llu exceeds file size %llu", path, (unsigned long long)hlen,
            (unsigned long long)size);
    goto done;
  }
  if (hlen == 0) { err_set(e, "%s: header is empty", path); goto done; }
  hdr = xmalloc(hlen);
  if (read_at(fd, hdr, hlen, 8)) { err_set(e, "%s: %s", path, strerror(errno)); goto done; }
  rc = load_header(path, fd, hdr, hlen, (int64_t)(size - 8 - hlen), f, e);
done:
  free(hdr);
  close(fd);
  if (rc) st_free(f);
  return rc;
}
