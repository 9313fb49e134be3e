// png_io.c — libpng, wrapped so that every failure comes back as an Err.
//
// libpng reports errors by calling a handler that must not return. Ours keeps the message
// and longjmps to the setjmp of whichever small function below made the failing call.
// Each of those functions does nothing after its setjmp except call libpng, so no local
// variable is left indeterminate by the jump; buffers are allocated by their callers,
// outside the jump's reach, and freed on every path.
#include "png_io.h"
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PNG_MAX_SIDE 16384
// The most libpng may allocate for one chunk's decompression (zTXt, iCCP, ...); the chunks
// themselves are checked against the file's size first (chunks_fit).
#define PNG_MAX_CHUNK (8 << 20)

typedef struct {
  FILE *f;
  long off;         // bytes read so far, to say where a short file ran out
  int truncated;    // the file ended early
  int errnum;       // errno of a failed read or write, 0 if none
  char why[200];    // libpng's message for anything else
} Io;

static void on_error(png_structp png, png_const_charp msg) {
  Io *io = png_get_error_ptr(png);
  snprintf(io->why, sizeof io->why, "%s", msg);
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void read_fn(png_structp png, png_bytep buf, size_t n) {
  Io *io = png_get_io_ptr(png);
  size_t got = fread(buf, 1, n, io->f);
  io->off += (long)got;
  if (got < n) {
    if (ferror(io->f)) io->errnum = errno ? errno : EIO;
    else io->truncated = 1;
    png_error(png, "short read");
  }
}

static void write_fn(png_structp png, png_bytep buf, size_t n) {
  Io *io = png_get_io_ptr(png);
  if (fwrite(buf, 1, n, io->f) != n) {
    io->errnum = errno ? errno : EIO;
    png_error(png, "short write");
  }
}

static void flush_fn(png_structp png) { (void)png; }  // png_write() flushes and fsyncs at the end

// The Err for a failed libpng call on path.
static int io_err(const Io *io, const char *path, Err *e) {
  if (io->errnum) return err_set(e, "%s: %s", path, strerror(io->errnum));
  if (io->truncated) return err_set(e, "%s: truncated at byte %ld", path, io->off);
  return err_set(e, "%s: corrupt PNG (%s)", path, io->why);
}

// ---- writing ----

static int write_body(png_structp png, png_infop info, const uint8_t *pix, int w, int h, int c,
                      png_textp text, int ntext) {
  if (setjmp(png_jmpbuf(png))) return -1;
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (ntext > 0) png_set_text(png, info, text, ntext);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) png_write_row(png, pix + (size_t)y * w * c);
  png_write_end(png, NULL);
  return 0;
}

int png_write(const char *path, const uint8_t *pix, int w, int h, int channels,
              const char *const *text, Err *e) {
  if (w <= 0 || h <= 0 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE || (channels != 1 && channels != 3))
    return err_set(e, "%s: cannot write a %dx%d image with %d channels", path, w, h, channels);
  int ntext = 0;
  for (; text && text[2 * ntext]; ntext++) {
    size_t klen = strlen(text[2 * ntext]);
    if (klen < 1 || klen > 79) return err_set(e, "%s: text key '%s' is not 1 to 79 characters", path, text[2 * ntext]);
    if (!text[2 * ntext + 1]) return err_set(e, "%s: text key '%s' has no value", path, text[2 * ntext]);
  }
  remove_stale_temporaries(path);  // left by a writer that was killed mid-save
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
    return err_set(e, "%s: path too long", path);

  Io io = {0};
  if (!(io.f = fopen(tmp, "wb"))) return err_set(e, "%s: %s", path, strerror(errno));
  png_textp chunks = xcalloc(ntext > 0 ? ntext : 1, sizeof *chunks);
  for (int i = 0; i < ntext; i++) {
    chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
    chunks[i].key = (char *)text[2 * i];
    chunks[i].text = (char *)text[2 * i + 1];
    chunks[i].text_length = strlen(text[2 * i + 1]);
  }
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  int rc = -1;
  if (!info) {
    err_set(e, "%s: libpng could not start (out of memory?)", path);
  } else {
    png_set_write_fn(png, &io, write_fn, flush_fn);
    if (write_body(png, info, pix, w, h, channels, chunks, ntext)) io_err(&io, path, e);
    else rc = 0;
  }
  png_destroy_write_struct(&png, &info);
  free(chunks);
  // The bytes must be on disk before the rename makes them visible under path.
  if (rc == 0 && (fflush(io.f) || fsync(fileno(io.f)))) rc = err_set(e, "%s: %s", path, strerror(errno));
  if (fclose(io.f) && rc == 0) rc = err_set(e, "%s: %s", path, strerror(errno));
  if (rc == 0 && rename(tmp, path)) rc = err_set(e, "%s: %s", path, strerror(errno));
  if (rc) unlink(tmp);
  return rc;
}

// ---- reading ----

typedef struct {
  Io io;
  png_structp png;
  png_infop info;
} Reader;

static void reader_close(Reader *r) {
  if (r->png) png_destroy_read_struct(&r->png, &r->info, NULL);
  if (r->io.f) fclose(r->io.f);
}

// Every chunk but IDAT (which libpng streams) must fit in what is left of the file: libpng
// allocates a text chunk's claimed length before it reads it, so a 122-byte file whose tEXt
// chunk claimed 1.8 GB made it allocate that much (make fuzz). Reads the chunk headers from
// byte 8 until IEND or the end of the file, then seeks back to byte 8.
static int chunks_fit(FILE *f, const char *path, Err *e) {
  struct stat st;
  if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) return 0;  // libpng will say what is wrong
  long long size = st.st_size, pos = 8;
  uint8_t h[8];
  int rc = 0;
  while (pos + 8 <= size && fseeko(f, pos, SEEK_SET) == 0 && fread(h, 1, 8, f) == 8) {
    long long len = (long long)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
    if (!memcmp(h + 4, "IEND", 4)) break;
    if (memcmp(h + 4, "IDAT", 4) && len > size - pos - 12) {
      char type[5];
      for (int i = 0; i < 4; i++) type[i] = (h[4 + i] >= 'A' && h[4 + i] <= 'z') ? (char)h[4 + i] : '?';
      type[4] = 0;
      rc = err_set(e, "%s: corrupt PNG, or truncated at byte %lld: chunk '%s' at byte %lld claims %lld bytes", path,
                   size, type, pos, len);
      break;
    }
    pos += 12 + len;
  }
  if (fseeko(f, 8, SEEK_SET) && !rc) rc = err_set(e, "%s: %s", path, strerror(errno));
  return rc;
}

// Opens path, checks the PNG signature and sets libpng up with our handlers.
static int reader_open(Reader *r, const char *path, Err *e) {
  memset(r, 0, sizeof *r);
  if (!(r->io.f = fopen(path, "rb"))) return err_set(e, "%s: %s", path, strerror(errno));
  uint8_t sig[8];
  size_t got = fread(sig, 1, sizeof sig, r->io.f);
  if (got < sizeof sig && ferror(r->io.f)) {
    int err = errno;
    reader_close(r);
    return err_set(e, "%s: %s", path, strerror(err));
  }
  if (got == 0) { reader_close(r); return err_set(e, "%s: empty file", path); }
  if (got < sizeof sig || png_sig_cmp(sig, 0, sizeof sig)) {
    reader_close(r);
    return err_set(e, "%s: not a PNG file", path);
  }
  if (chunks_fit(r->io.f, path, e)) { reader_close(r); return -1; }
  r->io.off = sizeof sig;
  r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r->io, on_error, on_warning);
  if (r->png) r->info = png_create_info_struct(r->png);
  if (!r->info) { reader_close(r); return err_set(e, "%s: libpng could not start (out of memory?)", path); }
  png_set_read_fn(r->png, &r->io, read_fn);
  png_set_sig_bytes(r->png, sizeof sig);
  png_set_user_limits(r->png, PNG_MAX_SIDE, PNG_MAX_SIDE);
  png_set_chunk_malloc_max(r->png, PNG_MAX_CHUNK);
  png_set_chunk_cache_max(r->png, 1000);  // ancillary chunks kept, at most
  return 0;
}

// Reads the chunks before the image data and asks libpng to deliver 8-bit samples: palette
// to RGB, 1/2/4-bit grey to 8-bit, tRNS to alpha, 16-bit scaled (rounded) to 8, interlacing
// undone. Rows then hold 1..4 channels (grey, grey+alpha, RGB, RGBA); we drop alpha later.
static int read_header(Reader *r, int *w, int *h, int *channels, int *passes) {
  if (setjmp(png_jmpbuf(r->png))) return -1;
  png_read_info(r->png, r->info);
  png_set_expand(r->png);
  png_set_scale_16(r->png);
  *passes = png_set_interlace_handling(r->png);
  png_read_update_info(r->png, r->info);
  *w = (int)png_get_image_width(r->png, r->info);
  *h = (int)png_get_image_height(r->png, r->info);
  *channels = png_get_channels(r->png, r->info);
  if (png_get_bit_depth(r->png, r->info) != 8 || *channels < 1 || *channels > 4)
    png_error(r->png, "unsupported pixel format");
  return 0;
}

static int read_image(Reader *r, png_bytepp rows) {
  if (setjmp(png_jmpbuf(r->png))) return -1;
  png_read_image(r->png, rows);
  png_read_end(r->png, r->info);
  return 0;
}

int png_read(const char *path, uint8_t **pix, int *w, int *h, int *channels, Err *e) {
  *pix = NULL;
  Reader r;
  if (reader_open(&r, path, e)) return -1;
  int W, H, cin, passes, rc = -1;
  uint8_t *buf = NULL;
  png_bytep *rows = NULL;
  if (read_header(&r, &W, &H, &cin, &passes)) { io_err(&r.io, path, e); goto done; }
  // Deflate packs at most 1032 bytes into one, and PNG adds a filter byte a row: an image the
  // file is too small to hold is refused before its pixels are allocated.
  struct stat sb;
  if (fstat(fileno(r.io.f), &sb) == 0 && (double)W * H * cin > 1032.0 * (double)sb.st_size + 65536) {
    err_set(e, "%s: a %dx%d image cannot fit in a file of %lld bytes (corrupt header?)", path, W, H,
            (long long)sb.st_size);
    goto done;
  }
  size_t stride = (size_t)W * cin;
  buf = xmalloc(stride * H);
  rows = xmalloc(sizeof *rows * H);
  for (int y = 0; y < H; y++) rows[y] = buf + y * stride;
  if (read_image(&r, rows)) { io_err(&r.io, path, e); goto done; }
  // Drop alpha in place: grey+alpha -> grey, RGBA -> RGB. Writes never overtake reads.
  int cout = cin >= 3 ? 3 : 1;
  if (cout != cin)
    for (size_t i = 0; i < (size_t)W * H; i++)
      for (int k = 0; k < cout; k++) buf[i * cout + k] = buf[i * cin + k];
  *pix = buf, *w = W, *h = H, *channels = cout;
  buf = NULL;
  rc = 0;
done:
  free(buf);
  free(rows);
  reader_close(&r);
  return rc;
}

// ---- text ----

static const char *find_text(Reader *r, const char *key) {
  png_textp t;
  int n = 0;
  png_get_text(r->png, r->info, &t, &n);
  for (int i = 0; i < n; i++)
    if (t[i].key && t[i].text && !strcmp(t[i].key, key)) return t[i].text;
  return NULL;
}

// Decodes and discards the image, one row at a time, to reach the chunks after it.
static int skip_image(Reader *r, png_bytep row, int h, int passes) {
  if (setjmp(png_jmpbuf(r->png))) return -1;
  for (int p = 0; p < passes; p++)
    for (int y = 0; y < h; y++) png_read_row(r->png, row, NULL);
  png_read_end(r->png, r->info);
  return 0;
}

int png_read_text(const char *path, const char *key, char *out, int cap, Err *e) {
  if (cap > 0) out[0] = 0;
  Reader r;
  if (reader_open(&r, path, e)) return -1;
  int w, h, c, passes, rc = -1;
  png_bytep row = NULL;
  const char *val;
  if (read_header(&r, &w, &h, &c, &passes)) { io_err(&r.io, path, e); goto done; }
  if (!(val = find_text(&r, key))) {
    row = xmalloc(png_get_rowbytes(r.png, r.info));
    if (skip_image(&r, row, h, passes)) { io_err(&r.io, path, e); goto done; }
    val = find_text(&r, key);
  }
  if (!val) err_set(e, "%s: no text chunk named '%s'", path, key);
  else if ((int)strlen(val) >= cap) err_set(e, "%s: text '%s' is longer than %d bytes", path, key, cap - 1);
  else memcpy(out, val, strlen(val) + 1), rc = 0;
done:
  free(row);
  reader_close(&r);
  return rc;
}
