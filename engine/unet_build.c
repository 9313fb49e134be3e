// unet_build.c — turns a config (+ width overrides) into parameters and a node list.
#include "unet.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

int unet_preset(const char *name, int in_ch, UNetConfig *c) {
  memset(c, 0, sizeof *c);
  c->in_ch = in_ch;
  c->img = 32;
  c->groups = 8;
  if (!strcmp(name, "tiny")) {
    // Hundreds of steps in seconds: for tests and smoke runs.
    c->ch = 8; c->nlevels = 2; c->mult[0] = 1; c->mult[1] = 2; c->nres = 1;
    c->attn_res[0] = 16; c->nattn = 1; c->groups = 4;
  } else if (!strcmp(name, "small")) {
    c->ch = 16; c->nlevels = 3; c->mult[0] = 1; c->mult[1] = 2; c->mult[2] = 2; c->nres = 1;
    c->attn_res[0] = 16; c->nattn = 1;
  } else if (!strcmp(name, "default")) {
    // 1.02 M parameters, 172 M MACs per 32x32 image (`stepscope info`); most of the cost is
    // at full resolution, so the base width stays modest and depth goes to the coarse levels.
    c->ch = 24; c->nlevels = 3; c->mult[0] = 1; c->mult[1] = 2; c->mult[2] = 3; c->nres = 1;
    c->attn_res[0] = 8; c->nattn = 1;
  } else {
    return -1;
  }
  return 0;
}

const char *unet_preset_names(void) { return "tiny, small, default"; }

void widthmap_set(WidthMap *w, const char *name, int value) {
  for (int i = 0; i < w->n; i++)
    if (!strcmp(w->name[i], name)) { w->value[i] = value; return; }
  w->name = xrealloc(w->name, sizeof *w->name * (w->n + 1));
  w->value = xrealloc(w->value, sizeof *w->value * (w->n + 1));
  snprintf(w->name[w->n], sizeof w->name[0], "%s", name);
  w->value[w->n++] = value;
}

int widthmap_get(const WidthMap *w, const char *name, int dflt) {
  if (w)
    for (int i = 0; i < w->n; i++)
      if (!strcmp(w->name[i], name)) return w->value[i];
  return dflt;
}

void widthmap_free(WidthMap *w) {
  free(w->name);
  free(w->value);
  *w = (WidthMap){0};
}

// ---- parameter registration ----

int chans_total(const Chans *c) {
  int t = 0;
  for (int i = 0; i < c->nseg; i++) t += c->seg[i].count;
  return t;
}

static int chans_base(const Chans *c) {
  int t = 0;
  for (int i = 0; i < c->nseg; i++) t += c->seg[i].base;
  return t;
}

static Chans fixed(int n) { return (Chans){1, {{-1, n, n}}}; }

static Chans concat(Chans a, Chans b) {
  for (int i = 0; i < b.nseg; i++) a.seg[a.nseg++] = b.seg[i];
  return a;
}

static int add_param(UNet *m, const char *prefix, const char *leaf, int ndim, const int *shape,
                     int decay, const Chans *d0, const Chans *d1) {
  CHECK(m->nparams < (int)(sizeof m->params / sizeof m->params[0]), "too many parameters");
  Param *p = &m->params[m->nparams];
  snprintf(p->name, sizeof p->name, "%s.%s", prefix, leaf);
  p->ndim = ndim;
  p->n = 1;
  for (int i = 0; i < ndim; i++) { p->shape[i] = shape[i]; p->n *= shape[i]; }
  p->off = m->size;
  p->decay = decay;
  p->dim[0] = *d0;
  p->dim[1] = d1 ? *d1 : (Chans){0};
  m->size += (p->n + 15) / 16 * 16;  // keep every tensor 64-byte aligned
  return m->nparams++;
}

static Conv mk_conv(UNet *m, const char *prefix, Chans in, Chans out, int k, int stride) {
  int cin = chans_total(&in), cout = chans_total(&out);
  Conv c = {cin, cout, k, stride, 0, 0};
  c.w = add_param(m, prefix, "weight", 4, (int[]){cout, cin, k, k}, 1, &out, &in);
  c.b = add_param(m, prefix, "bias", 1, (int[]){cout}, 0, &out, NULL);
  return c;
}

static Linear mk_linear(UNet *m, const char *prefix, Chans in, Chans out) {
  int ni = chans_total(&in), no = chans_total(&out);
  Linear l = {ni, no, 0, 0};
  l.w = add_param(m, prefix, "weight", 2, (int[]){no, ni}, 1, &out, &in);
  l.b = add_param(m, prefix, "bias", 1, (int[]){no}, 0, &out, NULL);
  return l;
}

// GroupNorm needs C divisible by its group count. A pruned norm keeps the base model's
// channels per group when it can (so pruning removes whole norm groups and the statistics
// of the others stay as they were); otherwise it takes the largest group count <= the
// configured one that divides C. Both follow from the widths, so a checkpoint rebuilds it.
static Norm mk_norm(UNet *m, const char *prefix, Chans ch, int groups) {
  int c = chans_total(&ch), base = chans_base(&ch), g;
  int per = base % groups == 0 ? base / groups : 0;
  if (per && c % per == 0 && c / per <= groups) {
    g = c / per;
  } else {
    g = groups < c ? groups : c;
    while (c % g) g--;
  }
  Norm n = {c, g, 0, 0};
  n.g = add_param(m, prefix, "weight", 1, (int[]){c}, 0, &ch, NULL);
  n.b = add_param(m, prefix, "bias", 1, (int[]){c}, 0, &ch, NULL);
  return n;
}

static int has_attn(const UNetConfig *c, int side) {
  for (int i = 0; i < c->nattn; i++)
    if (c->attn_res[i] == side) return 1;
  return 0;
}

// Looks up a free width, records it in the model's own map, and validates it.
// Looks up a free width (one dependency group), records it in the model's own map, and
// returns it as a channel set; dflt is the base model's width.
static Chans width(UNet *m, const WidthMap *w, const char *name, int dflt, int *bad) {
  int v = widthmap_get(w, name, dflt);
  if (v < 1 || v > 4096) { *bad = 1; v = 1; }  // keep building; the caller reports it
  widthmap_set(&m->widths, name, v);
  int g = 0;
  while (strcmp(m->widths.name[g], name)) g++;
  return (Chans){1, {{g, v, dflt}}};
}

static Node *new_node(UNet *m, NodeKind kind, const char *name, int side, Chans in) {
  CHECK(m->nnodes < UNET_MAX_NODES, "too many nodes");
  Node *n = &m->nodes[m->nnodes++];
  memset(n, 0, sizeof *n);
  n->kind = kind;
  snprintf(n->name, sizeof n->name, "%s", name);
  n->side = side;
  n->in_ch = in;
  n->cin = chans_total(&in);
  n->skip_from = -1;
  return n;
}

static void set_out(Node *n, Chans out) {
  n->out_ch = out;
  n->cout = chans_total(&out);
}

// A block whose input and output widths differ in the base model has a 1x1 skip conv and
// an output width of its own; otherwise the identity skip ties its output to its input.
static void build_res(UNet *m, const WidthMap *w, Node *n, int base_out, int has_skip, int *bad) {
  char key[64], p[64];
  ResBlock *r = &n->res;
  const UNetConfig *c = &m->cfg;
  Chans in = n->in_ch, tdim = fixed(m->tdim);
  snprintf(key, sizeof key, "%s.mid", n->name);
  Chans mid = width(m, w, key, base_out, bad), out = in;
  if (has_skip) {
    snprintf(key, sizeof key, "%s.out", n->name);
    out = width(m, w, key, base_out, bad);
  }
  r->cin = n->cin; r->mid = chans_total(&mid); r->cout = chans_total(&out); r->has_skip = has_skip;
  snprintf(p, sizeof p, "%s.norm1", n->name); r->n1 = mk_norm(m, p, in, c->groups);
  snprintf(p, sizeof p, "%s.conv1", n->name); r->c1 = mk_conv(m, p, in, mid, 3, 1);
  snprintf(p, sizeof p, "%s.temb", n->name);  r->temb = mk_linear(m, p, tdim, mid);
  snprintf(p, sizeof p, "%s.norm2", n->name); r->n2 = mk_norm(m, p, mid, c->groups);
  snprintf(p, sizeof p, "%s.conv2", n->name); r->c2 = mk_conv(m, p, mid, out, 3, 1);
  if (has_skip) { snprintf(p, sizeof p, "%s.skip", n->name); r->skip = mk_conv(m, p, in, out, 1, 1); }
  set_out(n, out);
}

static void build_attn(UNet *m, const WidthMap *w, Node *n, int *bad) {
  char key[64], p[64];
  AttnBlock *a = &n->attn;
  Chans c = n->in_ch;
  snprintf(key, sizeof key, "%s.inner", n->name);
  Chans d = width(m, w, key, chans_base(&c), bad);
  a->c = n->cin;
  a->d = chans_total(&d);
  a->scale = 1.0f / sqrtf((float)d.seg[0].base);
  snprintf(p, sizeof p, "%s.norm", n->name); a->n = mk_norm(m, p, c, m->cfg.groups);
  snprintf(p, sizeof p, "%s.qkv", n->name);  a->qkv = mk_conv(m, p, c, concat(concat(d, d), d), 1, 1);
  snprintf(p, sizeof p, "%s.proj", n->name); a->proj = mk_conv(m, p, d, c, 1, 1);
  set_out(n, c);
}

// A down- or upsampling block: its 3x3 conv (stride 2 down; stride 1 after the nearest 2x
// upsampling up) to an output width of its own.
static void build_resample(UNet *m, const WidthMap *w, Node *n, int base_out, int stride, int *bad) {
  char key[64];
  snprintf(key, sizeof key, "%s.out", n->name);
  Chans out = width(m, w, key, base_out, bad);
  n->conv = mk_conv(m, n->name, n->in_ch, out, 3, stride);
  set_out(n, out);
}

static UNet *build(const UNetConfig *cfg, const WidthMap *w, Backend *be, size_t max_params, float *borrow_w,
                   Err *err);

UNet *unet_create(const UNetConfig *cfg, const WidthMap *w, Backend *be, Err *err) {
  return build(cfg, w, be, SIZE_MAX, NULL, err);
}

UNet *unet_create_within(const UNetConfig *cfg, const WidthMap *w, Backend *be, size_t max_params, Err *err) {
  return build(cfg, w, be, max_params, NULL, err);
}

UNet *unet_twin(UNet *m, Backend *be) {
  Err e;
  UNet *t = build(&m->cfg, &m->widths, be, SIZE_MAX, m->w, &e);
  CHECK(t && t->size == m->size, "unet_twin: the model does not rebuild from its own widths");
  t->twin_of = m;
  return t;
}

// The model of cfg with the widths of w on be; its parameters allocated, or borrow_w's (a
// twin's: no gradients either).
static UNet *build(const UNetConfig *cfg, const WidthMap *w, Backend *be, size_t max_params, float *borrow_w,
                   Err *err) {
  // Nodes: conv_in, out; per level nres res blocks (each maybe with attention) and a resample
  // on the way down, nres + 1 (each maybe with attention) and a resample on the way up; the
  // middle's three. More than UNET_MAX_NODES would overrun the node table.
  long nodes = cfg->nlevels < 1 || cfg->nres < 1 || cfg->nres > 64 ? 0
             : 2 + 3 + 2L * (cfg->nlevels - 1) + 2L * cfg->nlevels * cfg->nres + 2L * cfg->nlevels * (cfg->nres + 1);
  int widths_ok = cfg->ch >= 1 && cfg->ch <= 4096;
  for (int i = 0; widths_ok && i < cfg->nlevels && i < UNET_MAX_LEVELS; i++)
    widths_ok = cfg->mult[i] >= 1 && (long)cfg->mult[i] * cfg->ch <= 4096;
  if (cfg->nlevels < 1 || cfg->nlevels > UNET_MAX_LEVELS || cfg->ch < 1 || cfg->nres < 1 || nodes < 1 ||
      nodes >= UNET_MAX_NODES || !widths_ok || cfg->img < 1 || cfg->img > 4096 || cfg->in_ch > 64 ||
      cfg->groups > 4096 || cfg->img % (1 << (cfg->nlevels - 1)) || cfg->in_ch < 1 || cfg->groups < 1) {
    err_set(err, "invalid model config (levels %d, ch %d, nres %d, img %d)", cfg->nlevels, cfg->ch,
            cfg->nres, cfg->img);
    return NULL;
  }
  UNet *m = xcalloc(1, sizeof *m);
  m->cfg = *cfg;
  m->be = be;
  m->tdim = 4 * cfg->ch;
  int bad = 0, L = cfg->nlevels, side = cfg->img;
  int stack[UNET_MAX_NODES], sp = 0;
  char name[48];

  Chans cbase = fixed(cfg->ch), tdim = fixed(m->tdim);
  m->temb1 = mk_linear(m, "time_embed.0", cbase, tdim);
  m->temb2 = mk_linear(m, "time_embed.2", tdim, tdim);

  Node *n = new_node(m, NODE_CONV_IN, "conv_in", side, fixed(cfg->in_ch));
  Chans stream = width(m, w, "conv_in.out", cfg->ch, &bad);
  n->conv = mk_conv(m, "conv_in", n->in_ch, stream, 3, 1);
  set_out(n, stream);
  n->push = 1;
  stack[sp++] = m->nnodes - 1;

  for (int l = 0; l < L; l++) {
    for (int i = 0; i < cfg->nres; i++) {
      int base_in = i == 0 ? cfg->ch * (l == 0 ? 1 : cfg->mult[l - 1]) : cfg->ch * cfg->mult[l];
      int base_out = cfg->ch * cfg->mult[l];
      snprintf(name, sizeof name, "down.%d.res.%d", l, i);
      n = new_node(m, NODE_RES, name, side, stream);
      build_res(m, w, n, base_out, base_in != base_out, &bad);
      stream = n->out_ch;
      if (has_attn(cfg, side)) {
        snprintf(name, sizeof name, "down.%d.attn.%d", l, i);
        n = new_node(m, NODE_ATTN, name, side, stream);
        build_attn(m, w, n, &bad);
      }
      n->push = 1;
      stack[sp++] = m->nnodes - 1;
    }
    if (l != L - 1) {
      snprintf(name, sizeof name, "down.%d.downsample", l);
      n = new_node(m, NODE_DOWN, name, side, stream);
      build_resample(m, w, n, cfg->ch * cfg->mult[l], 2, &bad);
      stream = n->out_ch;
      n->push = 1;
      stack[sp++] = m->nnodes - 1;
      side /= 2;
    }
  }

  int top = cfg->ch * cfg->mult[L - 1];
  n = new_node(m, NODE_RES, "mid.res.0", side, stream);
  build_res(m, w, n, top, 0, &bad);
  n = new_node(m, NODE_ATTN, "mid.attn.0", side, stream);
  build_attn(m, w, n, &bad);
  n = new_node(m, NODE_RES, "mid.res.1", side, stream);
  build_res(m, w, n, top, 0, &bad);

  for (int l = L - 1; l >= 0; l--) {
    for (int i = 0; i <= cfg->nres; i++) {
      int from = stack[--sp];
      snprintf(name, sizeof name, "up.%d.res.%d", l, i);
      n = new_node(m, NODE_RES, name, side, concat(stream, m->nodes[from].out_ch));
      n->skip_from = from;
      build_res(m, w, n, cfg->ch * cfg->mult[l], 1, &bad);
      stream = n->out_ch;
      if (has_attn(cfg, side)) {
        snprintf(name, sizeof name, "up.%d.attn.%d", l, i);
        n = new_node(m, NODE_ATTN, name, side, stream);
        build_attn(m, w, n, &bad);
      }
    }
    if (l != 0) {
      snprintf(name, sizeof name, "up.%d.upsample", l);
      n = new_node(m, NODE_UP, name, side, stream);
      build_resample(m, w, n, cfg->ch * cfg->mult[l], 1, &bad);
      stream = n->out_ch;
      side *= 2;
    }
  }
  CHECK(sp == 0, "unbalanced skip stack");

  n = new_node(m, NODE_OUT, "out", side, stream);
  n->norm = mk_norm(m, "out.norm", stream, cfg->groups);
  n->conv = mk_conv(m, "out.conv", stream, fixed(cfg->in_ch), 3, 1);
  set_out(n, fixed(cfg->in_ch));

  if (bad) {
    err_set(err, "invalid layer width in the model's width table (must be 1..4096)");
    unet_free(m);
    return NULL;
  }
  size_t need = 0;  // the parameters themselves: m->size also counts the padding between them
  for (int i = 0; i < m->nparams; i++) need += m->params[i].n;
  if (need > max_params) {
    err_set(err, "model config asks for %zu parameters, more than the %zu the file holds", need, max_params);
    unet_free(m);
    return NULL;
  }
  m->w = borrow_w ? borrow_w : be->alloc(be, m->size);
  m->g = borrow_w ? NULL : be->alloc(be, m->size);
  m->use_lanes = 1;
  arena_init(&m->own_arena, be);
  m->arena = &m->own_arena;
  m->use_graphs = 1;
  return m;
}

void unet_share_arena(UNet *m, UNet *owner) {
  CHECK(m->be == owner->be && m->own_arena.nchunks == 0, "unet_share_arena: another backend's model, or one that ran");
  unet_graphs_clear(m);
  m->arena = owner->arena;
  m->arena_owner = owner;
}

void unet_own_arena(UNet *m) {
  if (!m->arena_owner) return;
  unet_graphs_clear(m);  // they and the twins point into the shared arenas
  unet_lanes_free(m);
  m->arena = &m->own_arena;
  m->arena_owner = NULL;
}

void unet_free(UNet *m) {
  if (!m) return;
  unet_graphs_clear(m);  // before the memory they point into goes
  unet_lanes_free(m);
  arena_free(&m->own_arena);
  if (m->w && !m->twin_of) m->be->free(m->be, m->w);
  if (m->g && !(m->twin_of && m->g == m->twin_of->g)) m->be->free(m->be, m->g);
  if (m->xin) m->be->free(m->be, m->xin);
  if (m->tfeat) m->be->free(m->be, m->tfeat);
  widthmap_free(&m->widths);
  free(m);
}

int unet_param_index(const UNet *m, const char *name) {
  for (int i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, name)) return i;
  return -1;
}

// PyTorch's default init (uniform in +-1/sqrt(fan_in)), with DDPM's zero init of the layers
// that close a residual branch (conv2, attention proj, conv_out), so that every block starts
// as the identity and early training is stable.
void unet_init_params(UNet *m, uint64_t seed) {
  Rng r;
  rng_seed(&r, seed);
  float *h = xcalloc(m->size, sizeof(float));
  for (int i = 0; i < m->nparams; i++) {
    Param *p = &m->params[i];
    float *x = h + p->off;
    const char *leaf = strrchr(p->name, '.') + 1;
    int is_norm = strstr(p->name, "norm") != NULL;
    int zero = strstr(p->name, ".conv2.") || strstr(p->name, ".proj.") || !strncmp(p->name, "out.conv", 8);
    if (is_norm) {
      for (size_t j = 0; j < p->n; j++) x[j] = !strcmp(leaf, "weight") ? 1.0f : 0.0f;
    } else if (!zero) {
      // fan_in of the layer owning this tensor: the weight's size over its first dim
      const Param *wp = !strcmp(leaf, "weight") ? p : &m->params[i - 1];
      double fan_in = (double)wp->n / wp->shape[0];
      float bound = (float)(1.0 / sqrt(fan_in));
      for (size_t j = 0; j < p->n; j++) x[j] = (2 * rng_uniform(&r) - 1) * bound;
    }
  }
  m->be->upload(m->be, m->w, h, m->size);
  free(h);
}

// ---- cost accounting ----

static double conv_macs(const Conv *c, int side_in) {
  int so = (side_in + 2 * (c->k / 2) - c->k) / c->stride + 1;
  return (double)c->cout * c->cin * c->k * c->k * so * so;
}

static long conv_params(const Conv *c) { return (long)c->cout * c->cin * c->k * c->k + c->cout; }

static void put(LayerCost *out, int cap, int *k, const char *name, double macs, long params) {
  if (*k < cap) {
    snprintf(out[*k].name, sizeof out[*k].name, "%s", name);
    out[*k].macs = macs;
    out[*k].params = params;
  }
  (*k)++;
}

int unet_costs(const UNet *m, LayerCost *out, int cap) {
  int k = 0;
  put(out, cap, &k, "time_embed", (double)m->temb1.in * m->temb1.out + (double)m->temb2.in * m->temb2.out,
      (long)m->temb1.in * m->temb1.out + m->temb1.out + (long)m->temb2.in * m->temb2.out + m->temb2.out);
  for (int i = 0; i < m->nnodes; i++) {
    const Node *n = &m->nodes[i];
    double macs = 0;
    long params = 0;
    int hw = n->side * n->side;
    switch (n->kind) {
      case NODE_CONV_IN: case NODE_DOWN: macs = conv_macs(&n->conv, n->side); params = conv_params(&n->conv); break;
      case NODE_UP: macs = conv_macs(&n->conv, 2 * n->side); params = conv_params(&n->conv); break;
      case NODE_OUT: macs = conv_macs(&n->conv, n->side); params = conv_params(&n->conv) + 2L * n->norm.c; break;
      case NODE_RES: {
        const ResBlock *r = &n->res;
        macs = conv_macs(&r->c1, n->side) + conv_macs(&r->c2, n->side) + (double)r->temb.in * r->temb.out;
        params = conv_params(&r->c1) + conv_params(&r->c2) + (long)r->temb.in * r->temb.out + r->temb.out +
                 2L * r->cin + 2L * r->mid;
        if (r->has_skip) { macs += conv_macs(&r->skip, n->side); params += conv_params(&r->skip); }
        break;
      }
      case NODE_ATTN: {
        const AttnBlock *a = &n->attn;
        macs = conv_macs(&a->qkv, n->side) + conv_macs(&a->proj, n->side) + 2.0 * a->d * hw * hw;
        params = conv_params(&a->qkv) + conv_params(&a->proj) + 2L * a->c;
        break;
      }
    }
    put(out, cap, &k, n->name, macs, params);
  }
  return k;
}

double unet_macs(const UNet *m) {
  LayerCost c[UNET_MAX_NODES + 1];
  int n = unet_costs(m, c, UNET_MAX_NODES + 1);
  double s = 0;
  for (int i = 0; i < n; i++) s += c[i].macs;
  return s;
}

long unet_nparams(const UNet *m) {
  long s = 0;
  for (int i = 0; i < m->nparams; i++) s += m->params[i].n;
  return s;
}

char *unet_config_json(const UNetConfig *c) {
  char mult[64] = "", attn[64] = "";
  for (int i = 0; i < c->nlevels; i++)
    snprintf(mult + strlen(mult), sizeof mult - strlen(mult), "%s%d", i ? "," : "", c->mult[i]);
  for (int i = 0; i < c->nattn; i++)
    snprintf(attn + strlen(attn), sizeof attn - strlen(attn), "%s%d", i ? "," : "", c->attn_res[i]);
  char *s = xmalloc(512);
  snprintf(s, 512,
           "{\"in_ch\":%d,\"img\":%d,\"ch\":%d,\"mult\":[%s],\"nres\":%d,\"attn_res\":[%s],"
           "\"groups\":%d,\"dropout\":%.9g}",
           c->in_ch, c->img, c->ch, mult, c->nres, attn, c->groups, c->dropout);
  return s;
}

char *unet_widths_json(const UNet *m) {
  size_t cap = 64 + (size_t)m->widths.n * 80, len = 0;
  char *s = xmalloc(cap);
  len += snprintf(s + len, cap - len, "{");
  for (int i = 0; i < m->widths.n; i++)
    len += snprintf(s + len, cap - len, "%s\"%s\":%d", i ? "," : "", m->widths.name[i], m->widths.value[i]);
  snprintf(s + len, cap - len, "}");
  return s;
}
