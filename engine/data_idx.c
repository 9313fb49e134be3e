// data_idx.c — IDX files (MNIST, Fashion-MNIST), gzip'd or plain.
//
// An IDX file is a 4-byte magic — 0, 0, element type (0x08: unsigned byte), number of
// dimensions — then one big-endian uint32 per dimension, then the elements.
//   images: 0x00000803, dims (n, rows, cols), n*rows*cols pixel bytes
//   labels: 0x00000801, dims (n),             n label bytes
// zlib's gzread reads .gz and uncompressed files alike, so offsets in messages count bytes
// of uncompressed data.
#include "data_common.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
#define IDX_MAX_SIDE 1024   // a larger image side means a corrupt header
#define CANVAS 32           // smaller images are centred on a black CANVAS×CANVAS square

typedef struct {
  gzFile gz;
  char path[4096];
  long off;       // bytes consumed so far
  long size;      // bytes the header promises, once known
  long disk;      // the file's size when it is not compressed, else -1
} Idx;

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

// Opens DIR/BASE.gz, or DIR/BASE when there is no .gz.
static int idx_open(Idx *f, const char *dir, const char *base, Err *e) {
  memset(f, 0, sizeof *f);
  struct stat st;
  char plain[sizeof f->path];
  if (data_path(plain, sizeof plain, dir, base, e)) return -1;
  if ((size_t)snprintf(f->path, sizeof f->path, "%s.gz", plain) >= sizeof f->path) return err_set(e, "%s: path too long", plain);
  if (stat(f->path, &st)) {
    if (stat(plain, &st)) return err_set(e, "%s: %s (nor %s.gz)", plain, strerror(errno), base);
    memcpy(f->path, plain, sizeof plain);
  }
  f->disk = strcmp(f->path, plain) ? -1 : (long)st.st_size;
  if (!(f->gz = gzopen(f->path, "rb"))) return err_set(e, "%s: %s", f->path, strerror(errno ? errno : ENOMEM));
  gzbuffer(f->gz, 1 << 17);
  return 0;
}

static void idx_close(Idx *f) {
  if (f->gz) gzclose(f->gz);
  f->gz = NULL;
}

// Reads exactly n bytes, or says where the data ran out or what else went wrong. A short
// file is reported against f->size once the header is read, against `need` before.
static int idx_read(Idx *f, void *buf, size_t n, long need, Err *e) {
  uint8_t *p = buf;
  while (n > 0) {
    unsigned want = n > (1u << 30) ? 1u << 30 : (unsigned)n;
    int got = gzread(f->gz, p, want);
    if (got > 0) f->off += got, p += got, n -= (size_t)got;
    if (got == (int)want) continue;
    int zerr;
    const char *msg = gzerror(f->gz, &zerr);  // "PATH: what", and we say PATH ourselves
    size_t plen = strlen(f->path);
    if (!strncmp(msg, f->path, plen) && !strncmp(msg + plen, ": ", 2)) msg += plen + 2;
    if (zerr == Z_ERRNO) return err_set(e, "%s: %s", f->path, strerror(errno));
    if (zerr != Z_OK && zerr != Z_BUF_ERROR)  // Z_BUF_ERROR: the gzip stream is cut short
      return err_set(e, "%s: corrupt gzip data at byte %ld (%s)", f->path, f->off, msg);
    if (f->off == 0) return err_set(e, "%s: empty file", f->path);
    return err_set(e, "%s: truncated at byte %ld (expected %ld)", f->path, f->off, f->size ? f->size : need);
  }
  return 0;
}

// Reads the magic and the dims, checking the magic is `want` (and naming the mix-up when
// the file holds the other kind of IDX data).
static int idx_header(Idx *f, uint32_t want, uint32_t *dims, int ndim, Err *e) {
  uint8_t b[16];
  long hdr = 4 + 4L * ndim;
  if (idx_read(f, b, 4, hdr, e)) return -1;
  uint32_t magic = be32(b);
  if (magic != want) {
    const char *kind = want == IDX_IMAGES ? "images" : "labels";
    if (magic == IDX_IMAGES || magic == IDX_LABELS)
      return err_set(e, "%s: holds IDX %s (magic 0x%08x), expected %s (0x%08x)", f->path,
                     magic == IDX_IMAGES ? "images" : "labels", magic, kind, want);
    return err_set(e, "%s: not an IDX %s file (magic 0x%08x, expected 0x%08x)", f->path, kind, magic, want);
  }
  if (idx_read(f, b, (size_t)(hdr - 4), hdr, e)) return -1;
  for (int i = 0; i < ndim; i++) dims[i] = be32(b + 4 * i);
  return 0;
}

// Nothing may follow the elements the header announced.
static int idx_check_end(Idx *f, Err *e) {
  uint8_t b;
  if (gzread(f->gz, &b, 1) > 0) return err_set(e, "%s: longer than the %ld bytes its header announces", f->path, f->size);
  return 0;
}

// Reads the pixels into ds (already sized), centring each rows×cols image on its h×w canvas.
static int read_pixels(Idx *f, Dataset *ds, int rows, int cols, Err *e) {
  size_t img = (size_t)rows * cols;
  long batch = (1L << 20) / (long)img + 1;   // about a megabyte at a time
  uint8_t *buf = xmalloc(batch * img);
  int top = (ds->h - rows) / 2, left = (ds->w - cols) / 2, rc = 0;
  for (long i = 0; i < ds->n && rc == 0; i += batch) {
    long b = ds->n - i < batch ? ds->n - i : batch;
    if ((rc = idx_read(f, buf, b * img, 0, e))) break;
    for (long j = 0; j < b; j++) {
      float *dst = ds->x + (size_t)(i + j) * ds->h * ds->w;
      for (int k = 0; k < ds->h * ds->w; k++) dst[k] = -1.0f;
      for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++) dst[(top + y) * ds->w + left + x] = buf[j * img + y * cols + x] / 127.5f - 1.0f;
    }
  }
  free(buf);
  return rc;
}

int data_load_idx(const char *dir, int split, Dataset *ds, Err *e) {
  const char *pre = split == DATA_TEST ? "t10k" : "train";
  char base[64];
  Idx im, lb;
  uint32_t d[3] = {0}, nl = 0;
  int rc = -1;
  memset(ds, 0, sizeof *ds);
  memset(&lb, 0, sizeof lb);
  snprintf(base, sizeof base, "%s-images-idx3-ubyte", pre);
  if (idx_open(&im, dir, base, e) || idx_header(&im, IDX_IMAGES, d, 3, e)) goto done;
  snprintf(base, sizeof base, "%s-labels-idx1-ubyte", pre);
  if (idx_open(&lb, dir, base, e) || idx_header(&lb, IDX_LABELS, &nl, 1, e)) goto done;

  long n = d[0];
  if (n == 0) { err_set(e, "%s: holds no images", im.path); goto done; }
  if (d[1] == 0 || d[2] == 0 || d[1] > IDX_MAX_SIDE || d[2] > IDX_MAX_SIDE) {
    err_set(e, "%s: absurd image size %ux%u", im.path, d[1], d[2]);
    goto done;
  }
  int rows = (int)d[1], cols = (int)d[2];
  if (nl != n) { err_set(e, "%s: %u labels for the %ld images of %s", lb.path, nl, n, im.path); goto done; }
  im.size = 16 + n * rows * cols;
  lb.size = 8 + n;
  // An uncompressed file can be checked before allocating what its header asks for.
  Idx *shortf = im.disk >= 0 && im.disk < im.size ? &im : lb.disk >= 0 && lb.disk < lb.size ? &lb : NULL;
  if (shortf) { err_set(e, "%s: truncated at byte %ld (expected %ld)", shortf->path, shortf->disk, shortf->size); goto done; }
  // A gzip'd file holds at most 1032 bytes of data per byte (deflate's best ratio): a header
  // that promises more than that is refused before its images are allocated.
  for (Idx *f = &im; f; f = f == &im ? &lb : NULL) {
    struct stat st;
    if (f->disk < 0 && stat(f->path, &st) == 0 && (double)f->size > 1032.0 * (double)st.st_size + 4096) {
      err_set(e, "%s: header promises %ld bytes, more than a gzip file of %lld bytes can hold", f->path, f->size,
              (long long)st.st_size);
      goto done;
    }
  }
  int h = rows > CANVAS ? rows : CANVAS, w = cols > CANVAS ? cols : CANVAS;
  if (data_alloc(ds, n, 1, h, w, 1, im.path, e)) goto done;

  if (read_pixels(&im, ds, rows, cols, e) || idx_check_end(&im, e)) goto done;
  if (idx_read(&lb, ds->labels, (size_t)n, 0, e) || idx_check_end(&lb, e)) goto done;
  for (long i = 0; i < n; i++)
    if (ds->labels[i] > 9) { err_set(e, "%s: label %d at index %ld is not a class 0..9", lb.path, ds->labels[i], i); goto done; }
  rc = 0;
done:
  if (rc) data_free(ds);
  idx_close(&im);
  idx_close(&lb);
  return rc;
}
