// bank.c — see bank.h.
#include "bank.h"
#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

BankEntry *bank_add(Bank *b, int round) {
  b->e = xrealloc(b->e, sizeof *b->e * (b->n + 1));
  BankEntry *x = &b->e[b->n++];
  memset(x, 0, sizeof *x);
  x->round = round;
  x->score = x->macs_ratio = NAN;
  return x;
}

static void ratios_json(const Bank *b, const double *r, JsonBuf *o) {
  jb_obj(o);
  for (int g = 0; g < b->ngroups; g++) { jb_key(o, b->name[g]); jb_num(o, r[g]); }
  jb_obj_end(o);
}

void bank_json(const Bank *b, int next_round, JsonBuf *o) {
  jb_obj(o);
  jb_key(o, "target"); jb_num(o, b->target);
  jb_key(o, "t_range"); jb_arr(o); jb_int(o, b->t0); jb_int(o, b->t1); jb_arr_end(o);
  jb_key(o, "round"); jb_int(o, next_round);
  jb_key(o, "groups");
  jb_arr(o);
  for (int g = 0; g < b->ngroups; g++) {
    jb_obj(o);
    jb_key(o, "name"); jb_str(o, b->name[g]);
    jb_key(o, "width"); jb_int(o, b->width[g]);
    jb_key(o, "macs_share"); jb_num(o, b->share[g]);
    jb_obj_end(o);
  }
  jb_arr_end(o);
  jb_key(o, "history");
  jb_arr(o);
  for (int i = 0; i < b->n; i++) {
    const BankEntry *x = &b->e[i];
    jb_obj(o);
    jb_key(o, "round"); jb_int(o, x->round);
    if (x->keep) { jb_key(o, "keep"); ratios_json(b, x->keep, o); }
    if (x->realized) { jb_key(o, "realized"); ratios_json(b, x->realized, o); }
    if (x->skipped[0]) { jb_key(o, "skipped"); jb_str(o, x->skipped); }
    jb_key(o, "score"); jb_num(o, x->score);  // NaN is written as null
    jb_key(o, "macs_ratio"); jb_num(o, x->macs_ratio);
    jb_obj_end(o);
  }
  jb_arr_end(o);
  if (b->best >= 0) { jb_key(o, "best_round"); jb_int(o, b->e[b->best].round); }
  jb_obj_end(o);
}

int bank_save(const Bank *b, const char *path, Err *e) {
  JsonBuf o;
  jb_init(&o);
  bank_json(b, b->n + 1, &o);
  jb_raw(&o, "\n", 1);
  remove_stale_temporaries(path);  // left by a writer that was killed mid-save
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  int rc = 0;
  if (!f) rc = err_set(e, "%s: %s", tmp, strerror(errno));
  else {
    if (fwrite(o.s, 1, o.len, f) != o.len || fflush(f) || fsync(fileno(f))) rc = err_set(e, "%s: %s", tmp, strerror(errno));
    if (fclose(f) && !rc) rc = err_set(e, "%s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path)) rc = err_set(e, "%s: %s", path, strerror(errno));
    if (rc) unlink(tmp);
  }
  jb_free(&o);
  return rc;
}

void bank_free(Bank *b) {
  for (int i = 0; i < b->n; i++) { free(b->e[i].keep); free(b->e[i].realized); }
  free(b->e);
  free(b->name);
  free(b->width);
  free(b->share);
  memset(b, 0, sizeof *b);
}
