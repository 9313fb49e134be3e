// unet_graph.c — eps = model(x, t) for samplers, with the forward recorded once per batch
// size and replayed after that.
//
// A DDPM run calls the model 1000 times with the same shapes; issuing a forward's ~150 ops
// one by one each time costs more in launches than the GPU spends computing at small
// batches. Backends that can record (CUDA graphs) get the forward recorded per batch size:
// the inputs are staged into fixed buffers (xin, tfeat) before each replay, and the replay
// reads the weights and writes activations where the recording did. A recording stays valid
// while none of that memory moves; the key below notices when some of it did. unet_record,
// the recording itself, also serves the trainer's step (train.c).
// On a backend with lanes (the CPU) a batch of two or more splits across them instead
// (unet_lanes.c).
#include "unet.h"
#include <string.h>

void unet_graphs_clear(UNet *m) {
  for (int i = 0; i < UNET_MAX_GRAPHS; i++)
    if (m->graphs[i].g) m->be->graph_destroy(m->be, m->graphs[i].g);
  memset(m->graphs, 0, sizeof m->graphs);
}

static int graph_valid(const UNet *m, const UNetGraph *g, int B) {
  return g->g && g->B == B && g->w == m->w && g->xin == m->xin && g->tfeat == m->tfeat &&
         g->arena_gen == m->arena->gen;
}

BackendGraph *unet_record(UNet *m, void (*ops)(void *ctx), void *ctx, unsigned *gen) {
  Backend *be = m->be;
  ops(ctx);
  arena_reset(m->arena);
  *gen = m->arena->gen;
  if (be->capture_begin(be) != 0) return NULL;
  ops(ctx);
  BackendGraph *g = be->capture_end(be);
  if (g && m->arena->gen != *gen) {  // can only be a bug, but costs nothing to catch
    be->graph_destroy(be, g);
    g = NULL;
  }
  return g;
}

typedef struct { UNet *m; int B; float *out; } Forward;

static void forward_ops(void *ctx) {
  Forward *f = ctx;
  unet_forward_features_no_grad(f->m, f->m->xin, f->m->tfeat, f->B, &f->out);
}

// Records the forward for batch B into a free (or the least recently used) slot. NULL when the
// backend cannot record; graphs are then switched off for this model.
static UNetGraph *record(UNet *m, int B) {
  Forward f = {m, B, NULL};
  unsigned gen;
  BackendGraph *bg = unet_record(m, forward_ops, &f, &gen);
  if (!bg) { m->use_graphs = 0; return NULL; }
  UNetGraph *slot = &m->graphs[0];
  for (int i = 0; i < UNET_MAX_GRAPHS; i++) {
    UNetGraph *g = &m->graphs[i];
    if (!g->g || !graph_valid(m, g, g->B)) { slot = g; break; }  // empty or stale
    if (g->used < slot->used) slot = g;
  }
  if (slot->g) m->be->graph_destroy(m->be, slot->g);
  *slot = (UNetGraph){.g = bg, .B = B, .w = m->w, .xin = m->xin, .tfeat = m->tfeat,
                      .arena_gen = gen, .out = f.out};
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
  m->eps_lanes = 0;
  if (unet_lanes_begin(m, t, x, B)) return;
  unet_stage_input(m, x, B);
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
    unet_forward_features_no_grad(m, m->xin, m->tfeat, B, &out);  // no backward follows
  }
  m->training = was;
  m->eps_out = out;
  m->eps_B = B;
}

void unet_eps_finish(UNet *m, float *eps) {
  if (m->eps_lanes) {
    unet_lanes_finish(m, eps);
    return;
  }
  CHECK(m->eps_out, "unet_eps_finish without unet_eps_begin");
  m->be->download(m->be, eps, m->eps_out, (size_t)m->eps_B * m->cfg.in_ch * m->cfg.img * m->cfg.img);
  m->eps_out = NULL;
}

void unet_eps_host(UNet *m, int t, const float *x, int B, float *eps) {
  unet_eps_begin(m, t, x, B);
  unet_eps_finish(m, eps);
}
