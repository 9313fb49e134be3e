// data_cifar.c — CIFAR-10 binary batches (the "binary version" of the data set).
//
// A batch file is a run of 3073-byte records: one label byte (0..9), then the 32×32 red
// plane, the green plane and the blue plane — already planar (c,h,w), like our tensors.
#include "data_common.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define SIDE 32
#define PIXELS (3 * SIDE * SIDE)
#define RECORD (1 + PIXELS)
#define BATCH_RECORDS 256   // records read per fread

static const char *const train_files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                          "data_batch_4.bin", "data_batch_5.bin", NULL};
static const char *const test_files[] = {"test_batch.bin", NULL};

// Reads the nrec records of path into ds, from record `first` on.
static int read_batch(const char *path, long nrec, long first, Dataset *ds, Err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(e, "%s: %s", path, strerror(errno));
  uint8_t *buf = xmalloc((size_t)BATCH_RECORDS * RECORD);
  int rc = 0;
  for (long i = 0; i < nrec && rc == 0; i += BATCH_RECORDS) {
    long b = nrec - i < BATCH_RECORDS ? nrec - i : BATCH_RECORDS;
    size_t got = fread(buf, RECORD, (size_t)b, f);
    if (got < (size_t)b) {  // the file shrank since we measured it, or could not be read
      if (ferror(f)) rc = err_set(e, "%s: %s", path, strerror(errno));
      else rc = err_set(e, "%s: truncated at byte %ld (expected %ld)", path, (i + (long)got) * RECORD, nrec * RECORD);
      break;
    }
    for (long j = 0; j < b; j++) {
      const uint8_t *rec = buf + j * RECORD;
      long r = first + i + j;
      if (rec[0] > 9) { rc = err_set(e, "%s: label %d in record %ld is not a class 0..9", path, rec[0], i + j); break; }
      ds->labels[r] = rec[0];
      float *dst = ds->x + (size_t)r * PIXELS;
      for (int k = 0; k < PIXELS; k++) dst[k] = rec[1 + k] / 127.5f - 1.0f;
    }
  }
  free(buf);
  fclose(f);
  return rc;
}

int data_load_cifar(const char *dir, int split, Dataset *ds, Err *e) {
  memset(ds, 0, sizeof *ds);
  const char *const *files = split == DATA_TEST ? test_files : train_files;
  char path[4096], sub[4096];
  struct stat st;
  // DIR may be the folder the archive unpacks to, or the folder holding it.
  if (data_path(path, sizeof path, dir, files[0], e)) return -1;
  if (stat(path, &st) && data_path(sub, sizeof sub, dir, "cifar-10-batches-bin", e) == 0 &&
      data_path(path, sizeof path, sub, files[0], e) == 0 && stat(path, &st) == 0)
    dir = sub;

  // Measure every file first, so that a bad one is reported before anything is read.
  long nrec[8], total = 0;
  int nf = 0;
  for (; files[nf]; nf++) {
    if (data_path(path, sizeof path, dir, files[nf], e)) return -1;
    if (stat(path, &st)) return err_set(e, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return err_set(e, "%s: not a regular file", path);
    if (st.st_size == 0) return err_set(e, "%s: empty file", path);
    if (st.st_size % RECORD)
      return err_set(e, "%s: size %lld is not a whole number of %d-byte CIFAR-10 records", path,
                     (long long)st.st_size, RECORD);
    nrec[nf] = (long)(st.st_size / RECORD);
    total += nrec[nf];
  }
  if (data_alloc(ds, total, 3, SIDE, SIDE, 1, path, e)) return -1;
  long first = 0;
  for (int i = 0; i < nf; first += nrec[i++]) {
    if (data_path(path, sizeof path, dir, files[i], e) || read_batch(path, nrec[i], first, ds, e)) {
      data_free(ds);
      return -1;
    }
  }
  return 0;
}
