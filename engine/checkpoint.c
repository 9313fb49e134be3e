#include "checkpoint.h"
#include "json.h"
#include "safetensors.h"
#include <string.h>

#define FORMAT "stepscope/1"

static void add_vector(StFile *f, const UNet *m, const char *prefix, const float *dev) {
  Backend *be = m->be;
  float *h = xmalloc(sizeof(float) * m->size);
  be->download(be, h, dev, m->size);
  for (int i = 0; i < m->nparams; i++) {
    const Param *p = &m->params[i];
    char name[128];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    int64_t shape[4];
    for (int k = 0; k < p->ndim; k++) shape[k] = p->shape[k];
    st_add(f, name, p->ndim, shape, h + p->off);
  }
  free(h);
}

static void meta_int(StFile *f, const char *key, long v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%ld", v);
  st_set_meta(f, key, buf);
}

static int save(const char *path, UNet *m, const Trainer *tr, int slim, const char *data_spec,
                const char *const *extra, Err *e) {
  StFile f;
  st_init(&f);
  char *cfg = unet_config_json(&m->cfg), *widths = unet_widths_json(m);
  st_set_meta(&f, "format", FORMAT);
  st_set_meta(&f, "config", cfg);
  st_set_meta(&f, "widths", widths);
  free(cfg);
  free(widths);
  if (data_spec) st_set_meta(&f, "data", data_spec);
  add_vector(&f, m, "", slim && tr ? tr->opt.ema : m->w);
  char buf[256];
  if (tr) {
    st_set_meta(&f, "schedule", schedule_name(tr->sched.kind));
    meta_int(&f, "T", tr->sched.T);
    meta_int(&f, "step", tr->opt.step);
    meta_int(&f, "t0", tr->t0);
    meta_int(&f, "t1", tr->t1);
  }
  if (tr && !slim) {
    meta_int(&f, "batch", tr->batch);
    Rng rng;
    int epoch;
    long pos;
    uint64_t perm_seed;
    trainer_position(tr, &rng, &epoch, &pos, &perm_seed);
    rng_to_string(&rng, buf, sizeof buf);
    st_set_meta(&f, "rng", buf);
    snprintf(buf, sizeof buf, "%d,%ld,%016llx", epoch, pos, (unsigned long long)perm_seed);
    st_set_meta(&f, "data_position", buf);
    const OptimCfg *o = &tr->opt.cfg;
    snprintf(buf, sizeof buf,
             "{\"lr\":%.9g,\"beta1\":%.9g,\"beta2\":%.9g,\"eps\":%.9g,\"wd\":%.9g,\"warmup\":%d,"
             "\"clip\":%.9g,\"ema_decay\":%.9g}",
             o->lr, o->beta1, o->beta2, o->eps, o->wd, o->warmup, o->clip, o->ema_decay);
    st_set_meta(&f, "optimizer", buf);
    snprintf(buf, sizeof buf, tr->minsnr_gamma > 0 ? "min-snr:%g" : "none", tr->minsnr_gamma);
    st_set_meta(&f, "loss_weight", buf);
    add_vector(&f, m, "ema.", tr->opt.ema);
    add_vector(&f, m, "optim.m.", tr->opt.m);
    add_vector(&f, m, "optim.v.", tr->opt.v);
  }
  for (int i = 0; extra && extra[i] && extra[i + 1]; i += 2) st_set_meta(&f, extra[i], extra[i + 1]);
  int rc = st_save(path, &f, e);
  st_free(&f);
  return rc;
}

int ckpt_save(const char *path, UNet *m, const Trainer *tr, const char *data_spec,
              const char *const *extra, Err *e) {
  return save(path, m, tr, 0, data_spec, extra, e);
}

int ckpt_save_slim(const char *path, UNet *m, const Trainer *tr, const char *data_spec,
                   const char *const *extra, Err *e) {
  return save(path, m, tr, 1, data_spec, extra, e);
}

// An integer member in [0, 1<<20] (larger is refused later by unet_create), else -1.
static int cfg_int(const Json *j) { return json_size(j, 1 << 20); }

static int parse_config(const char *path, const char *text, UNetConfig *c, Err *e) {
  Json j;
  if (json_parse(text, strlen(text), &j, e)) return err_set(e, "%s: config: %s", path, e->msg);
  memset(c, 0, sizeof *c);
  c->in_ch = cfg_int(json_get(&j, "in_ch"));
  c->img = cfg_int(json_get(&j, "img"));
  c->ch = cfg_int(json_get(&j, "ch"));
  c->nres = cfg_int(json_get(&j, "nres"));
  c->groups = cfg_int(json_get(&j, "groups"));
  double dropout = json_num(json_get(&j, "dropout"), 0);
  c->dropout = dropout >= 0 && dropout < 1 ? (float)dropout : 0;
  const Json *mult = json_get(&j, "mult"), *attn = json_get(&j, "attn_res");
  c->nlevels = json_arr_len(mult);
  c->nattn = json_arr_len(attn);
  int ok = c->nlevels >= 1 && c->nlevels <= UNET_MAX_LEVELS && c->nattn >= 0 && c->nattn <= 4;
  for (int i = 0; ok && i < c->nlevels; i++) c->mult[i] = cfg_int(json_at(mult, i));
  for (int i = 0; ok && i < c->nattn; i++) c->attn_res[i] = cfg_int(json_at(attn, i));
  json_free(&j);
  if (!ok) return err_set(e, "%s: config: bad 'mult' or 'attn_res'", path);
  return 0;
}

static int parse_widths(const char *path, const char *text, WidthMap *w, Err *e) {
  Json j;
  if (json_parse(text, strlen(text), &j, e)) return err_set(e, "%s: widths: %s", path, e->msg);
  if (j.type != JSON_OBJ) { json_free(&j); return err_set(e, "%s: widths: not an object", path); }
  for (int i = 0; i < j.n; i++) {
    int64_t v;
    if (json_int(&j.kids[i], &v) || v < 1 || v > 4096) {
      err_set(e, "%s: widths: bad width for '%s'", path, j.keys[i]);
      json_free(&j);
      return -1;
    }
    widthmap_set(w, j.keys[i], (int)v);
  }
  json_free(&j);
  return 0;
}

// Copies the tensors named prefix+<param> into a parameter-vector-shaped device buffer.
static int load_vector(const char *path, const StFile *f, UNet *m, const char *prefix, float *dev, Err *e) {
  float *h = xcalloc(m->size, sizeof(float));
  for (int i = 0; i < m->nparams; i++) {
    const Param *p = &m->params[i];
    char name[128];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    const StTensor *t = st_find(f, name);
    int ok = t && t->ndim == p->ndim;
    for (int k = 0; ok && k < p->ndim; k++) ok = t->shape[k] == p->shape[k];
    if (!ok) {
      free(h);
      if (!t) return err_set(e, "%s: tensor '%s' is missing", path, name);
      return err_set(e, "%s: tensor '%s' has the wrong shape for the recorded widths", path, name);
    }
    memcpy(h + p->off, t->data, sizeof(float) * p->n);
  }
  m->be->upload(m->be, dev, h, m->size);
  free(h);
  return 0;
}

static int meta_atoi(const StFile *f, const char *key, int dflt) {
  const char *v = st_meta(f, key);
  return v ? atoi(v) : dflt;
}

UNet *ckpt_load_model(const char *path, Backend *be, int use_ema, CkptInfo *info, Err *e) {
  StFile f;
  if (st_load(path, &f, e)) return NULL;
  UNet *m = NULL;
  WidthMap w = {0};
  UNetConfig cfg;
  const char *fmt = st_meta(&f, "format"), *cj = st_meta(&f, "config"), *wj = st_meta(&f, "widths");
  if (!fmt || strcmp(fmt, FORMAT) || !cj || !wj) {
    err_set(e, "%s: not a stepscope model (no '%s' format, config and widths in its metadata)", path, FORMAT);
    goto done;
  }
  if (parse_config(path, cj, &cfg, e) || parse_widths(path, wj, &w, e)) goto done;
  Err e2;
  // The weights must be in the file: a config asking for more parameters than it holds is
  // refused before the model is allocated.
  size_t held = 0;
  for (int k = 0; k < f.n; k++) held += (size_t)st_numel(&f.t[k]);
  if (!(m = unet_create_within(&cfg, &w, be, held, &e2))) { err_set(e, "%s: %s", path, e2.msg); goto done; }
  int ema = use_ema && st_find(&f, "ema.conv_in.weight");
  if (load_vector(path, &f, m, ema ? "ema." : "", m->w, e)) { unet_free(m); m = NULL; goto done; }
  if (info) {
    memset(info, 0, sizeof *info);
    const char *s = st_meta(&f, "schedule"), *d = st_meta(&f, "data"), *p = st_meta(&f, "parent");
    snprintf(info->schedule, sizeof info->schedule, "%s", s ? s : "linear");
    snprintf(info->data, sizeof info->data, "%s", d ? d : "");
    snprintf(info->parent, sizeof info->parent, "%s", p ? p : "");
    info->T = meta_atoi(&f, "T", 1000);
    info->step = meta_atoi(&f, "step", 0);
    info->t0 = meta_atoi(&f, "t0", 0);
    info->t1 = meta_atoi(&f, "t1", info->T);
    info->has_ema = st_find(&f, "ema.conv_in.weight") != NULL;
    info->has_train_state = st_find(&f, "optim.m.conv_in.weight") && st_meta(&f, "rng");
  }
done:
  widthmap_free(&w);
  st_free(&f);
  return m;
}

int ckpt_load_train_state(const char *path, Trainer *tr, Err *e) {
  StFile f;
  if (st_load(path, &f, e)) return -1;
  int rc = -1;
  const char *rng = st_meta(&f, "rng"), *pos = st_meta(&f, "data_position");
  int epoch;
  long p;
  unsigned long long seed;
  if (!rng || !pos || !st_find(&f, "optim.m.conv_in.weight")) {
    err_set(e, "%s: has no training state to resume from", path);
    goto done;
  }
  if (rng_from_string(&tr->rng, rng) || sscanf(pos, "%d,%ld,%llx", &epoch, &p, &seed) != 3) {
    err_set(e, "%s: malformed rng or data_position metadata", path);
    goto done;
  }
  if (load_vector(path, &f, tr->model, "ema.", tr->opt.ema, e) ||
      load_vector(path, &f, tr->model, "optim.m.", tr->opt.m, e) ||
      load_vector(path, &f, tr->model, "optim.v.", tr->opt.v, e))
    goto done;
  tr->opt.step = meta_atoi(&f, "step", 0);
  trainer_discard_next(tr);
  tr->epoch = epoch;
  tr->pos = p;
  tr->perm_seed = seed;
  if (tr->data && p >= 0) {
    if (p > tr->data->n) { err_set(e, "%s: data position beyond the data set", path); goto done; }
    trainer_shuffle(tr);  // rebuild this epoch's order from its seed
  }
  rc = 0;
done:
  st_free(&f);
  return rc;
}

char *ckpt_meta(const char *path, const char *key, Err *e) {
  StFile f;
  if (st_load(path, &f, e)) return NULL;
  const char *v = st_meta(&f, key);
  char *r = v ? xstrdup(v) : NULL;
  st_free(&f);
  return r;
}

int ckpt_load_train_settings(const char *path, int *batch, OptimCfg *oc, float *gamma, Err *e) {
  StFile f;
  if (st_load(path, &f, e)) return -1;
  int rc = -1;
  const char *b = st_meta(&f, "batch"), *o = st_meta(&f, "optimizer"), *lw = st_meta(&f, "loss_weight");
  Json j = {0};
  if (!b || !o || !lw || json_parse(o, strlen(o), &j, e) || loss_weight_parse(lw, gamma)) {
    err_set(e, "%s: missing or malformed training settings (batch, optimizer, loss_weight)", path);
    goto done;
  }
  *batch = atoi(b);
  oc->lr = (float)json_num(json_get(&j, "lr"), oc->lr);
  oc->beta1 = (float)json_num(json_get(&j, "beta1"), oc->beta1);
  oc->beta2 = (float)json_num(json_get(&j, "beta2"), oc->beta2);
  oc->eps = (float)json_num(json_get(&j, "eps"), oc->eps);
  oc->wd = (float)json_num(json_get(&j, "wd"), oc->wd);
  oc->warmup = (int)json_num(json_get(&j, "warmup"), oc->warmup);
  oc->clip = (float)json_num(json_get(&j, "clip"), oc->clip);
  oc->ema_decay = (float)json_num(json_get(&j, "ema_decay"), oc->ema_decay);
  rc = *batch >= 1 ? 0 : err_set(e, "%s: bad batch size in metadata", path);
done:
  json_free(&j);
  st_free(&f);
  return rc;
}
