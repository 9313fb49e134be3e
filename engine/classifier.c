// classifier.c — the FID-FMNIST feature network: build, forward, backward, training step,
// feature extraction and its safetensors file. See classifier.h for the architecture.
#include "classifier.h"
#include "json.h"
#include "rng.h"
#include "safetensors.h"
#include <math.h>
#include <string.h>

#define P(idx) (m->w + m->params[idx].off)
#define G(idx) (m->g + m->params[idx].off)

ClassifierConfig classifier_default_config(int in_ch) {
  // 16 M MACs per 32x32 image: one thread trains ~480 images/s, so an epoch of
  // Fashion-MNIST takes about two minutes and 4 epochs reach the accuracy recorded in
  // assets/README.md. The 96 features are what FID-FMNIST compares.
  return (ClassifierConfig){.in_ch = in_ch, .img = 32, .width = {24, 48, 96}, .groups = 8, .nclass = 10};
}

// ---- building ----

static int add_param(Classifier *m, const char *name, int ndim, const int *shape) {
  CHECK(m->nparams < (int)(sizeof m->params / sizeof m->params[0]), "too many parameters");
  ClsParam *p = &m->params[m->nparams];
  snprintf(p->name, sizeof p->name, "%s", name);
  p->ndim = ndim;
  p->n = 1;
  for (int i = 0; i < ndim; i++) { p->shape[i] = shape[i]; p->n *= shape[i]; }
  p->off = m->size;
  m->size += (p->n + 15) / 16 * 16;  // keep every tensor 64-byte aligned
  return m->nparams++;
}

Classifier *classifier_create(const ClassifierConfig *cfg, Backend *be, Err *err) {
  // Bounded so that no shape product overflows and a corrupt file cannot ask for a huge model.
  int ok = cfg->in_ch >= 1 && cfg->in_ch <= 64 && cfg->img >= 4 && cfg->img <= 4096 && cfg->img % 4 == 0 &&
           cfg->groups >= 1 && cfg->groups <= 4096 && cfg->nclass >= 2 && cfg->nclass <= 1000;
  for (int i = 0; i < 3; i++) ok = ok && cfg->width[i] >= 1 && cfg->width[i] <= 4096;
  if (!ok) {
    err_set(err, "invalid classifier config (in_ch %d, img %d, widths %d,%d,%d, groups %d, classes %d)",
            cfg->in_ch, cfg->img, cfg->width[0], cfg->width[1], cfg->width[2], cfg->groups, cfg->nclass);
    return NULL;
  }
  Classifier *m = xcalloc(1, sizeof *m);
  m->cfg = *cfg;
  m->be = be;
  // (cin, cout, stride) of each layer; the side halves at every stride-2 conv
  const int *w = cfg->width;
  int spec[CLS_NLAYERS][3] = {{cfg->in_ch, w[0], 1}, {w[0], w[1], 2}, {w[1], w[1], 1}, {w[1], w[2], 2}, {w[2], w[2], 1}};
  int side = cfg->img;
  for (int l = 0; l < CLS_NLAYERS; l++) {
    ClsLayer *L = &m->layer[l];
    char name[32];
    L->cin = spec[l][0]; L->cout = spec[l][1]; L->stride = spec[l][2]; L->side = side;
    L->groups = cfg->groups < L->cout ? cfg->groups : L->cout;
    while (L->cout % L->groups) L->groups--;
    snprintf(name, sizeof name, "layer.%d.conv.weight", l); L->w = add_param(m, name, 4, (int[]){L->cout, L->cin, 3, 3});
    snprintf(name, sizeof name, "layer.%d.conv.bias", l);   L->b = add_param(m, name, 1, (int[]){L->cout});
    snprintf(name, sizeof name, "layer.%d.norm.weight", l); L->gn_g = add_param(m, name, 1, (int[]){L->cout});
    snprintf(name, sizeof name, "layer.%d.norm.bias", l);   L->gn_b = add_param(m, name, 1, (int[]){L->cout});
    side /= L->stride;
  }
  m->fc_w = add_param(m, "fc.weight", 2, (int[]){cfg->nclass, w[2]});
  m->fc_b = add_param(m, "fc.bias", 1, (int[]){cfg->nclass});
  m->w = be->alloc(be, m->size);
  m->g = be->alloc(be, m->size);
  arena_init(&m->arena, be);
  return m;
}

void classifier_free(Classifier *m) {
  if (!m) return;
  arena_free(&m->arena);
  m->be->free(m->be, m->w);
  m->be->free(m->be, m->g);
  if (m->xin) { m->be->free(m->be, m->xin); m->be->free(m->be, m->dlogits); }
  free(m);
}

// PyTorch's default: weights and biases uniform in +-1/sqrt(fan_in); norms scale 1, shift 0.
void classifier_init_params(Classifier *m, uint64_t seed) {
  Rng r;
  rng_seed(&r, seed);
  float *h = xcalloc(m->size, sizeof(float));
  for (int i = 0; i < m->nparams; i++) {
    const ClsParam *p = &m->params[i];
    float *x = h + p->off;
    const char *leaf = strrchr(p->name, '.') + 1;
    if (strstr(p->name, ".norm.")) {
      for (size_t j = 0; j < p->n; j++) x[j] = !strcmp(leaf, "weight") ? 1.0f : 0.0f;
    } else {
      const ClsParam *wp = !strcmp(leaf, "weight") ? p : &m->params[i - 1];
      float bound = (float)(1.0 / sqrt((double)wp->n / wp->shape[0]));
      for (size_t j = 0; j < p->n; j++) x[j] = (2 * rng_uniform(&r) - 1) * bound;
    }
  }
  m->be->upload(m->be, m->w, h, m->size);
  free(h);
}

int classifier_feature_dim(const Classifier *m) { return m->cfg.width[2]; }

double classifier_macs(const Classifier *m) {
  double macs = 0;
  for (int l = 0; l < CLS_NLAYERS; l++) {
    const ClsLayer *L = &m->layer[l];
    int so = L->side / L->stride;
    macs += 9.0 * L->cin * L->cout * so * so;
  }
  return macs + (double)m->cfg.width[2] * m->cfg.nclass;
}

// ---- forward and backward ----

static ConvDesc desc(const ClsLayer *L, int B) {
  return conv_desc(B, L->cin, L->side, L->side, L->cout, 3, L->stride, 1);
}

// s = silu(groupnorm(conv(x)))
static void layer_fwd(Classifier *m, ClsLayer *L, int B, const float *x) {
  Backend *be = m->be;
  Arena *A = &m->arena;
  ConvDesc d = desc(L, B);
  size_t n = (size_t)B * L->cout * d.Ho * d.Wo;
  L->x = x;
  L->h = arena_get(A, n);
  L->a = arena_get(A, n);
  L->s = arena_get(A, n);
  L->mean = arena_get(A, (size_t)B * L->groups);
  L->rstd = arena_get(A, (size_t)B * L->groups);
  be->conv2d_fwd(be, &d, x, P(L->w), P(L->b), L->h);
  be->groupnorm_fwd(be, B, L->cout, d.Ho * d.Wo, L->groups, L->h, P(L->gn_g), P(L->gn_b), L->a, L->mean, L->rstd);
  be->silu_fwd(be, n, L->a, L->s);
}

// ds: gradient w.r.t. L->s; dx (may be NULL for the first layer) accumulates w.r.t. L->x.
static void layer_bwd(Classifier *m, ClsLayer *L, int B, const float *ds, float *dx) {
  Backend *be = m->be;
  Arena *A = &m->arena;
  ConvDesc d = desc(L, B);
  int hw = d.Ho * d.Wo;
  size_t n = (size_t)B * L->cout * hw;
  float *da = arena_zeros(A, n), *dh = arena_zeros(A, n);
  be->silu_bwd(be, n, L->a, ds, da);
  be->groupnorm_bwd(be, B, L->cout, hw, L->groups, L->h, da, P(L->gn_g), L->mean, L->rstd, dh, G(L->gn_g), G(L->gn_b));
  be->conv2d_bwd_filter(be, &d, L->x, dh, G(L->w), G(L->b));
  if (dx) be->conv2d_bwd_data(be, &d, dh, P(L->w), dx);
}

static int last_side(const Classifier *m) { return m->cfg.img / 4; }

void classifier_forward(Classifier *m, const float *x, int B, float **logits) {
  Backend *be = m->be;
  Arena *A = &m->arena;
  arena_reset(A);
  m->B = B;
  const float *cur = x;
  for (int l = 0; l < CLS_NLAYERS; l++) {
    layer_fwd(m, &m->layer[l], B, cur);
    cur = m->layer[l].s;
  }
  // Global average pool: feat[b,c] = mean over HW of cur[b,c,:]. bcast_add's backward is
  // exactly "sum over HW into (B,C)", so it pools into a zeroed buffer.
  int C = m->cfg.width[2], hw = last_side(m) * last_side(m), K = m->cfg.nclass;
  m->feat = arena_zeros(A, (size_t)B * C);
  be->bcast_add_bwd(be, B, C, hw, cur, C, m->feat);
  be->scale(be, (size_t)B * C, 1.0f / hw, m->feat);
  // logits = feat W^T + b; W is (K, C)
  m->logits = arena_get(A, (size_t)B * K);
  be->gemm(be, 1, 0, 1, B, K, C, 1.0f, m->feat, 0, P(m->fc_w), 0, 0.0f, m->logits, 0);
  be->bcast_add(be, B, K, 1, P(m->fc_b), 0, m->logits);
  *logits = m->logits;
}

void classifier_backward(Classifier *m, const float *dlogits) {
  Backend *be = m->be;
  Arena *A = &m->arena;
  int B = m->B, C = m->cfg.width[2], hw = last_side(m) * last_side(m), K = m->cfg.nclass;
  float *dfeat = arena_zeros(A, (size_t)B * C);
  be->gemm(be, 1, 1, 0, K, C, B, 1.0f, dlogits, 0, m->feat, 0, 1.0f, G(m->fc_w), 0);  // dW += dy^T feat
  be->bcast_add_bwd(be, B, K, 1, dlogits, 0, G(m->fc_b));
  be->gemm(be, 1, 0, 0, B, C, K, 1.0f, dlogits, 0, P(m->fc_w), 0, 1.0f, dfeat, 0);    // dfeat += dy W
  // The pool's backward spreads dfeat/HW evenly over the positions: a broadcast add.
  be->scale(be, (size_t)B * C, 1.0f / hw, dfeat);
  float *ds = arena_zeros(A, (size_t)B * C * hw);
  be->bcast_add(be, B, C, hw, dfeat, C, ds);
  for (int l = CLS_NLAYERS - 1; l >= 0; l--) {
    ClsLayer *L = &m->layer[l];
    float *dx = NULL;
    if (l > 0) dx = arena_zeros(A, (size_t)B * L->cin * L->side * L->side);
    layer_bwd(m, L, B, ds, dx);
    ds = dx;
  }
}

// ---- loss, training, evaluation (host side) ----

double classifier_xent(const float *logits, const uint8_t *labels, int B, int n, float *dlogits, int *correct) {
  double loss = 0;
  int hits = 0;
  for (int b = 0; b < B; b++) {
    const float *z = logits + (size_t)b * n;
    int arg = 0;
    for (int i = 1; i < n; i++)
      if (z[i] > z[arg]) arg = i;
    hits += arg == labels[b];
    double sum = 0;  // log-sum-exp, shifted by the max for stability
    for (int i = 0; i < n; i++) sum += exp((double)z[i] - z[arg]);
    loss += log(sum) + z[arg] - z[labels[b]];
    if (dlogits)
      for (int i = 0; i < n; i++)
        dlogits[(size_t)b * n + i] = (float)((exp((double)z[i] - z[arg]) / sum - (i == labels[b])) / B);
  }
  if (correct) *correct = hits;
  return loss / B;
}

// Device buffers for host-supplied batches of up to B images.
static void reserve(Classifier *m, int B) {
  if (B <= m->cap) return;
  Backend *be = m->be;
  if (m->xin) { be->free(be, m->xin); be->free(be, m->dlogits); }
  m->xin = be->alloc(be, (size_t)B * m->cfg.in_ch * m->cfg.img * m->cfg.img);
  m->dlogits = be->alloc(be, (size_t)B * m->cfg.nclass);
  m->cap = B;
}

double classifier_train_step(Classifier *m, Optim *o, const float *x, const uint8_t *labels, int B, int *correct) {
  Backend *be = m->be;
  int K = m->cfg.nclass;
  reserve(m, B);
  be->upload(be, m->xin, x, (size_t)B * m->cfg.in_ch * m->cfg.img * m->cfg.img);
  float *logits, *hl = xmalloc(sizeof(float) * B * K), *hd = xmalloc(sizeof(float) * B * K);
  classifier_forward(m, m->xin, B, &logits);
  be->download(be, hl, logits, (size_t)B * K);
  double loss = classifier_xent(hl, labels, B, K, hd, correct);
  be->upload(be, m->dlogits, hd, (size_t)B * K);
  be->fill(be, m->g, 0.0f, m->size);
  classifier_backward(m, m->dlogits);
  optim_step(o, m->w, m->g);
  free(hl);
  free(hd);
  return loss;
}

void classifier_features(Classifier *m, const float *x, long n, int batch, float *feat, int *pred) {
  Backend *be = m->be;
  int C = m->cfg.width[2], K = m->cfg.nclass;
  size_t d = (size_t)m->cfg.in_ch * m->cfg.img * m->cfg.img;
  reserve(m, batch);
  float *hl = xmalloc(sizeof(float) * batch * K);
  for (long i = 0; i < n; i += batch) {
    int B = n - i < batch ? (int)(n - i) : batch;
    float *logits;
    be->upload(be, m->xin, x + i * d, B * d);
    classifier_forward(m, m->xin, B, &logits);
    if (feat) be->download(be, feat + i * C, m->feat, (size_t)B * C);
    if (pred) {
      be->download(be, hl, logits, (size_t)B * K);
      for (int b = 0; b < B; b++) {
        int arg = 0;
        for (int k = 1; k < K; k++)
          if (hl[b * K + k] > hl[b * K + arg]) arg = k;
        pred[i + b] = arg;
      }
    }
  }
  free(hl);
}

double classifier_accuracy(Classifier *m, const Dataset *d, long n, int batch) {
  if (n <= 0 || n > d->n) n = d->n;
  if (!d->labels || n == 0) return 0;
  int *pred = xmalloc(sizeof(int) * n);
  classifier_features(m, d->x, n, batch, NULL, pred);
  long hits = 0;
  for (long i = 0; i < n; i++) hits += pred[i] == d->labels[i];
  free(pred);
  return (double)hits / n;
}

void classifier_hash(Classifier *m, char out[17]) {
  float *h = xmalloc(sizeof(float) * m->size);
  m->be->download(m->be, h, m->w, m->size);
  uint64_t x = 1469598103934665603ull;  // FNV-1a, 64 bit
  for (int i = 0; i < m->nparams; i++) {
    const unsigned char *p = (const unsigned char *)(h + m->params[i].off);
    for (size_t j = 0; j < m->params[i].n * sizeof(float); j++) x = (x ^ p[j]) * 1099511628211ull;
  }
  free(h);
  snprintf(out, 17, "%016llx", (unsigned long long)x);
}

// ---- file ----

static char *config_json(const ClassifierConfig *c) {
  JsonBuf b;
  jb_init(&b);
  jb_obj(&b);
  jb_key(&b, "in_ch"); jb_int(&b, c->in_ch);
  jb_key(&b, "img"); jb_int(&b, c->img);
  jb_key(&b, "width"); jb_arr(&b);
  for (int i = 0; i < 3; i++) jb_int(&b, c->width[i]);
  jb_arr_end(&b);
  jb_key(&b, "groups"); jb_int(&b, c->groups);
  jb_key(&b, "nclass"); jb_int(&b, c->nclass);
  jb_obj_end(&b);
  return b.s;
}

int classifier_save(const char *path, Classifier *m, const char *const *extra, Err *e) {
  StFile f;
  st_init(&f);
  char *cfg = config_json(&m->cfg), hash[17];
  classifier_hash(m, hash);
  st_set_meta(&f, "format", CLS_FORMAT);
  st_set_meta(&f, "config", cfg);
  st_set_meta(&f, "weights_hash", hash);
  st_set_meta(&f, "note", "FID-FMNIST feature network: features are the global average pool before fc");
  free(cfg);
  float *h = xmalloc(sizeof(float) * m->size);
  m->be->download(m->be, h, m->w, m->size);
  for (int i = 0; i < m->nparams; i++) {
    const ClsParam *p = &m->params[i];
    int64_t shape[4];
    for (int k = 0; k < p->ndim; k++) shape[k] = p->shape[k];
    st_add(&f, p->name, p->ndim, shape, h + p->off);
  }
  free(h);
  for (int i = 0; extra && extra[i] && extra[i + 1]; i += 2) st_set_meta(&f, extra[i], extra[i + 1]);
  int rc = st_save(path, &f, e);
  st_free(&f);
  return rc;
}

// An integer member in [0, 1<<20] (classifier_create refuses what is too large for it), else -1.
static int cfg_int(const Json *j) { return json_size(j, 1 << 20); }

static int parse_config(const char *path, const char *text, ClassifierConfig *c, Err *e) {
  Json j;
  if (json_parse(text, strlen(text), &j, e)) return err_set(e, "%s: config: %s", path, e->msg);
  const Json *w = json_get(&j, "width");
  *c = (ClassifierConfig){.in_ch = cfg_int(json_get(&j, "in_ch")), .img = cfg_int(json_get(&j, "img")),
                          .groups = cfg_int(json_get(&j, "groups")), .nclass = cfg_int(json_get(&j, "nclass"))};
  for (int i = 0; i < 3; i++) c->width[i] = cfg_int(json_at(w, i));
  int ok = json_arr_len(w) == 3;
  json_free(&j);
  return ok ? 0 : err_set(e, "%s: config: 'width' must list 3 widths", path);
}

// The floats of the parameters a (range-checked) config asks for: 5 convs (weight, bias, norm
// scale and shift) and the fc layer.
static size_t config_params(const ClassifierConfig *c) {
  size_t cin[CLS_NLAYERS] = {c->in_ch, c->width[0], c->width[1], c->width[1], c->width[2]};
  size_t cout[CLS_NLAYERS] = {c->width[0], c->width[1], c->width[1], c->width[2], c->width[2]}, n = 0;
  for (int l = 0; l < CLS_NLAYERS; l++) n += cout[l] * cin[l] * 9 + 3 * cout[l];
  return n + (size_t)c->nclass * c->width[2] + c->nclass;
}

Classifier *classifier_load(const char *path, Backend *be, Err *e) {
  StFile f;
  if (st_load(path, &f, e)) return NULL;
  Classifier *m = NULL;
  ClassifierConfig cfg;
  const char *fmt = st_meta(&f, "format"), *cj = st_meta(&f, "config");
  if (!fmt || strcmp(fmt, CLS_FORMAT) || !cj) {
    err_set(e, "%s: not a stepscope classifier (no '%s' format and config in its metadata)", path, CLS_FORMAT);
    goto done;
  }
  if (parse_config(path, cj, &cfg, e)) goto done;
  // The weights must be in the file: a config asking for more parameters than it holds is
  // refused before the model is allocated.
  size_t held = 0;
  for (int k = 0; k < f.n; k++) held += (size_t)st_numel(&f.t[k]);
  if (cfg.in_ch >= 1 && cfg.width[0] >= 1 && cfg.width[1] >= 1 && cfg.width[2] >= 1 && cfg.nclass >= 1 &&
      config_params(&cfg) > held) {
    err_set(e, "%s: the config asks for %zu parameters, more than the %zu the file holds", path,
            config_params(&cfg), held);
    goto done;
  }
  Err e2;
  if (!(m = classifier_create(&cfg, be, &e2))) { err_set(e, "%s: %s", path, e2.msg); goto done; }
  float *h = xcalloc(m->size, sizeof(float));
  for (int i = 0; i < m->nparams; i++) {
    const ClsParam *p = &m->params[i];
    const StTensor *t = st_find(&f, p->name);
    int ok = t && t->ndim == p->ndim;
    for (int k = 0; ok && k < p->ndim; k++) ok = t->shape[k] == p->shape[k];
    if (!ok) {
      err_set(e, "%s: tensor '%s' is %s", path, p->name, t ? "of the wrong shape for the config" : "missing");
      free(h);
      classifier_free(m);
      m = NULL;
      goto done;
    }
    memcpy(h + p->off, t->data, sizeof(float) * p->n);
  }
  be->upload(be, m->w, h, m->size);
  free(h);
done:
  st_free(&f);
  return m;
}
