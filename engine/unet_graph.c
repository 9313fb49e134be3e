// unet_graph.c — eps = model(x, t) for samplers, with the forward recorded once per batch
// size and replayed after that.
//
// A DDPM run calls the model 1000 times with the same shapes; issuing a forward's ~150 ops
// one by one each time costs more in launches than the GPU spends computing at small
// batches. Backends that can record (CUDA graphs) get the forward recorded per batch size:
// the inputs are staged into fixed buffers (xin, tfeat) before each replay, and the replay
// reads the weights and writes activations where the recording did. A recording stays valid
// while none of that memory moves; the key below notices when some of it did.
#include "unet.h"
#include <string.h>

// Grows a backend buffer to hold n floats (its contents are not kept).
static void reserve(Backend *be, float **p, size_t *cap, size_t n) {
  if (*cap >= n) return;
  if (*p) be->free(be, *p);
  *p = be->alloc(be, n);
  *cap = n;
}

void unet_graphs_clear(UNet *m) {
  for (int i = 0; i < UNET_MAX_GRAPHS; i++)
    if (m->graphs[i].g) m->be->graph_destroy(m->be, m->graphs[i].g);
  memset(m->graphs, 0, sizeof m->graphs);
}

static int graph_valid(const UNet *m, const UNetGraph *g, int B) {
  return g->g && g->B == B && g->w == m->w && g->xin == m->xin && g->tfeat == m->tfeat &&
         g->arena_gen == m->arena.gen;
}

// Records the forward for batch B into a free (or the least recently used) slot. NULL when the
// backend cannot record; graphs are then switched off for this model.
static UNetGraph *record(UNet *m, int B) {
  Backend *be = m->be;
  float *out;
  // An ordinary pass first: it lets the backend plan algorithms and grow its workspaces and
  // sizes the arena, none of which may happen while recording. The reset after it leaves the
  // arena one chunk that holds this pass, so the recorded pass allocates nothing.
  unet_forward_features(m, m->xin, m->tfeat, B, &out);
  arena_reset(&m->arena);
  const unsigned gen = m->arena.gen;
  if (be->capture_begin(be) != 0) { m->use_graphs = 0; return NULL; }
  unet_forward_features(m, m->xin, m->tfeat, B, &out);
  BackendGraph *bg = be->capture_end(be);
  if (!bg || m->arena.gen != gen) {  // the second can only be a bug, but costs nothing to catch
    if (bg) be->graph_destroy(be, bg);
    m->use_graphs = 0;
    return NULL;
  }
  UNetGraph *slot = &m->graphs[0];
  for (int i = 0; i < UNET_MAX_GRAPHS; i++) {
    UNetGraph *g = &m->graphs[i];
    if (!g->g || !graph_valid(m, g, g->B)) { slot = g; break; }  // empty or stale
    if (g->used < slot->used) slot = g;
  }
  if (slot->g) be->graph_destroy(be, slot->g);
  *slot = (UNetGraph){.g = bg, .B = B, .w = m->w, .xin = m->xin, .tfeat = m->tfeat,
                      .arena_gen = gen, .out = out};
  m->graph_captures++;
  return slot;
}

static UNetGraph *graph_for(UNet *m, int B) {
  if (!m->use_graphs || !m->be->capture_begin) return NULL;
  for (int i = 0; i < UNET_MAX_GRAPHS; i++)
    if (graph_valid(m, &m->graphs[i], B)) return &m->graphs[i];
  return record(m, B);
}

void unet_eps_begin(UNet *m, int t, const float *x, int B) {
  Backend *be = m->be;
  const size_t n = (size_t)B * m->cfg.in_ch * m->cfg.img * m->cfg.img;
  reserve(be, &m->xin, &m->xin_cap, n);
  be->upload(be, m->xin, x, n);
  int *ts = xmalloc(sizeof(int) * B);
  for (int b = 0; b < B; b++) ts[b] = t;
  unet_stage_timesteps(m, ts, B);
  free(ts);

  const int was = m->training;
  m->training = 0;
  float *out;
  UNetGraph *g = graph_for(m, B);
  if (g) {
    be->graph_launch(be, g->g);
    g->used = ++m->graph_clock;
    m->graph_launches++;
    out = g->out;
  } else {
    unet_forward_features(m, m->xin, m->tfeat, B, &out);
  }
  m->training = was;
  m->eps_out = out;
  m->eps_B = B;
}

void unet_eps_finish(UNet *m, float *eps) {
  CHECK(m->eps_out, "unet_eps_finish without unet_eps_begin");
  m->be->download(m->be, eps, m->eps_out, (size_t)m->eps_B * m->cfg.in_ch * m->cfg.img * m->cfg.img);
  m->eps_out = NULL;
}

void unet_eps_host(UNet *m, int t, const float *x, int B, float *eps) {
  unet_eps_begin(m, t, x, B);
  unet_eps_finish(m, eps);
}
