// unet.h — the denoiser: a DDPM-style UNet whose every layer may have its own width.
//
// The architecture comes from a config (base channels, multipliers, res blocks per level,
// attention resolutions, GroupNorm groups, dropout). Widths default to what the config
// implies; a WidthMap overrides them by name, which is how a pruned model is rebuilt from
// the widths its checkpoint records. Parameters live in one contiguous backend buffer so
// the optimiser, EMA and checkpoint treat the model as a single vector.
//
// Data flow, x is (B, in_ch, S, S):
//   conv_in -> [ResBlock (+Attn)] x nres per level, Downsample between levels (skips pushed)
//   -> mid: ResBlock, Attn, ResBlock
//   -> per level, top down: [concat skip -> ResBlock (+Attn)] x (nres+1), Upsample between
//   -> GroupNorm, SiLU, conv_out -> eps prediction (B, in_ch, S, S)
// Each ResBlock adds a projection of the sinusoidal timestep embedding after its first conv.
#pragma once
#include "../kernels/backend.h"
#include "arena.h"
#include "common.h"
#include "rng.h"

#define UNET_MAX_LEVELS 5
#define UNET_MAX_NODES 64

typedef struct {
  int in_ch, img;                 // image channels and side (32)
  int ch;                         // base channels
  int nlevels, mult[UNET_MAX_LEVELS];
  int nres;                       // res blocks per level on the way down (nres+1 up)
  int attn_res[4], nattn;         // resolutions (image sides) that get self-attention
  int groups;                     // GroupNorm groups (reduced to a divisor of C where needed)
  float dropout;
} UNetConfig;

int unet_preset(const char *name, int in_ch, UNetConfig *cfg);  // tiny | small | default
const char *unet_preset_names(void);

// Named width overrides (e.g. "down.1.res.0.mid" -> 40).
typedef struct { int n; char (*name)[64]; int *value; } WidthMap;
void widthmap_set(WidthMap *w, const char *name, int value);
int widthmap_get(const WidthMap *w, const char *name, int dflt);
void widthmap_free(WidthMap *w);

// Which channels a tensor dimension holds: up to 3 segments, each `count` channels of one
// width group (an index into UNet.widths, i.e. one structural dependency group that pruning
// removes channels from everywhere at once), or of nothing prunable (group -1). A skip
// concatenation is two segments; the q/k/v output of attention is three of the same group.
typedef struct { int group, count, base; } DimSeg;  // base: the count in the unpruned model
typedef struct { int nseg; DimSeg seg[3]; } Chans;
int chans_total(const Chans *c);

// One parameter tensor: a slice [off, off+n) of the model's parameter vector.
typedef struct {
  char name[80];
  int ndim, shape[4];
  size_t off, n;
  int decay;     // weight decay applies (weights of convs and linears, not biases or norms)
  Chans dim[2];  // channels along dims 0 (out) and 1 (in); kernel dims are never pruned
} Param;

typedef struct { int cin, cout, k, stride, w, b; } Conv;    // w, b: Param indices
typedef struct { int in, out, w, b; } Linear;
typedef struct { int c, groups, g, b; } Norm;

typedef struct {
  int cin, mid, cout, has_skip;
  Norm n1, n2;
  Conv c1, c2, skip;
  Linear temb;
  // activations kept by the forward for the backward (arena memory)
  const float *x;
  float *a1, *s1, *h1, *tp, *a2, *s2, *mask, *d2;
  float *mean1, *rstd1, *mean2, *rstd2;
} ResBlock;

typedef struct {
  int c, d;  // stream channels, inner (q/k/v) width
  float scale;  // softmax temperature 1/sqrt(d of the base model): pruning keeps it
  Norm n;
  Conv qkv, proj;
  const float *x;
  float *a, *mean, *rstd, *qkv_out, *S, *P, *o;
} AttnBlock;

typedef enum { NODE_CONV_IN, NODE_RES, NODE_ATTN, NODE_DOWN, NODE_UP, NODE_OUT } NodeKind;

typedef struct {
  NodeKind kind;
  char name[48];      // "down.1.res.0", "mid.attn.0", "up.0.upsample", ...
  int side;           // spatial side of the node's input
  int cin, cout;      // stream channels in and out (cin includes a concatenated skip)
  Chans in_ch, out_ch;  // the same, by dependency group
  int skip_from;      // node whose output is concatenated before this one, or -1
  int push;           // output is kept for a skip connection
  ResBlock res;
  AttnBlock attn;
  Conv conv;          // CONV_IN, DOWN, UP (the conv after upsampling), OUT (conv_out)
  Norm norm;          // OUT
  // activations
  const float *in;    // the stream input (before concatenation)
  float *cat, *up, *y;
  float *a, *s, *mean, *rstd;  // OUT: norm and silu outputs
} Node;

// A recorded forward for batch size B, valid while the memory it reads and writes stays
// where it was when recorded (the weights, the input buffers and the activation arena).
#define UNET_MAX_GRAPHS 4
typedef struct {
  BackendGraph *g;  // NULL: empty slot
  int B;
  const float *w, *xin, *tfeat;
  unsigned arena_gen;
  float *out;       // where the replay leaves eps
  unsigned used;    // graph_clock at the last launch
} UNetGraph;

#define UNET_MAX_LANES 64
typedef struct UNet {
  UNetConfig cfg;
  WidthMap widths;     // every free width of this model, base ones included
  Backend *be;
  int nparams;
  Param params[512];
  size_t size;         // floats in the parameter vector
  float *w, *g;        // parameters and gradients (backend memory)
  struct UNet *twin_of;  // a twin (unet_twin): the model whose w it reads (and whose g it may write)
  int nnodes;
  Node nodes[UNET_MAX_NODES];
  Linear temb1, temb2; // time embedding MLP: ch -> 4ch -> 4ch (SiLU between)
  int tdim;
  Arena *arena;     // activations: &own_arena, or another model's (unet_share_arena)
  Arena own_arena;
  struct UNet *arena_owner;  // the model whose arena m uses (unet_share_arena), or NULL
  // forward state
  int B;
  const float *tsin;                    // timestep features (the forward's tfeat)
  float *e1, *se1, *emb, *semb;         // time embedding
  float *dsemb;                         // backward accumulator for silu(emb)
  float *out;
  Rng *dropout_rng;                     // set when training with dropout
  float *tfeat;                         // timestep features (B x ch), outside the arena
  size_t tfeat_cap;
  float *xin;                           // host-convenience input buffer (unet_eps_host)
  size_t xin_cap;
  int training;
  int acts_kept;  // whether the last forward kept every activation (unet_backward needs it)
  // Recorded inference forwards, one per batch size (unet_graph.c). use_graphs (on by
  // default) lets unet_eps_host replay them on backends that can record.
  UNetGraph graphs[UNET_MAX_GRAPHS];
  int use_graphs;
  unsigned graph_clock;                 // for evicting the least recently used
  long graph_captures, graph_launches;  // counters, for tests and benchmarks
  const float *eps_out;                 // unet_eps_begin's output, for unet_eps_finish
  int eps_B;
  // Inference across the lanes of the backend (unet_lanes.c): a twin of m per lane, made at
  // the first forward that splits. use_lanes (on by default) lets unet_eps_begin run a batch
  // of two or more that way; eps_lanes is how many lanes the forward in flight used.
  struct UNet *lane[UNET_MAX_LANES];
  int nlanes, use_lanes, eps_lanes;
} UNet;

// Builds the model with the widths of `w` (NULL: base widths); parameters are zero until
// unet_init_params or a checkpoint fills them. Returns NULL + err on invalid widths.
UNet *unet_create(const UNetConfig *cfg, const WidthMap *w, Backend *be, Err *err);
// The same, refusing (before allocating it) a model of more than max_params parameters: a
// loader passes what its file could hold, so that a hostile config cannot ask for gigabytes.
UNet *unet_create_within(const UNetConfig *cfg, const WidthMap *w, Backend *be, size_t max_params, Err *err);
void unet_free(UNet *m);
// m's activations from now on live in owner's arena instead of its own. For models that run in
// turn on one thread, never two at once (a plan's group models while sampling): the arena then
// grows and settles once for all of them instead of once per model, which at batch 16 on the
// CPU costs two slow forwards each (~100 MB allocated and faulted in twice). m must be on the
// owner's backend and not yet have run, and must not run after the owner is freed (freeing them
// in either order is fine: only the owner frees the arena).
void unet_share_arena(UNet *m, UNet *owner);
// m back on an arena of its own (after unet_share_arena; nothing where it has one): its recorded
// graphs and its twins go, and its next forward grows its own. For a model that outlives the
// sharing (the search's best candidate, which may outlive the model it was pruned from).
void unet_own_arena(UNet *m);
// A twin of m on be (which must share m's memory: a lane of m's backend): the same layers and
// widths, reading m's weights where they lie (no copy), with activations of its own and no
// gradients (g NULL: a trainer may give it m's, or a buffer of its own, which it then frees).
// It must not outlive m.
UNet *unet_twin(UNet *m, Backend *be);
void unet_init_params(UNet *m, uint64_t seed);  // PyTorch-like default init
int unet_param_index(const UNet *m, const char *name);  // -1 if absent

// x (B,in_ch,S,S) and out in backend memory; t holds B timesteps on the host.
// The arena is reset at the start of each forward, so `out` lives until the next call.
void unet_forward(UNet *m, const float *x, const int *t, int B, float **out);
// The same for a forward no backward follows (samplers, validation losses, a teacher): each
// node's intermediates go back to the arena at the node's end and node outputs that are no
// skip's source take turns in two buffers, so each node writes into memory still in cache and
// the arena holds a fraction of the pass. The same output.
void unet_forward_no_grad(UNet *m, const float *x, const int *t, int B, float **out);
// dout: gradient w.r.t. the last forward's output. Accumulates into m->g.
void unet_backward(UNet *m, const float *dout);

// The same from timestep features already in backend memory (B x cfg.ch, as
// unet_timestep_features computes them); tfeat must stay valid through a backward.
void unet_forward_features(UNet *m, const float *x, const float *tfeat, int B, float **out);
void unet_forward_features_no_grad(UNet *m, const float *x, const float *tfeat, int B, float **out);
// Computes the features of B timesteps into m->tfeat (grown as needed), for the above.
void unet_stage_timesteps(UNet *m, const int *t, int B);
// Copies B host images into m->xin (grown as needed): an input that outlives the arena.
void unet_stage_input(UNet *m, const float *x, int B);
// Records ops(ctx) as a graph of m's backend. ops may only queue device work (no upload,
// download or sync) whose scratch lives in m's arena. It runs once directly first: the backend
// plans its algorithms and grows its workspaces, the arena learns the pass's size, none of which
// may happen while recording; the arena is then left in one chunk that holds the pass, so the
// recorded run allocates nothing. Returns the graph, valid while the arena's generation stays
// *gen (and the memory ops touches stays put), or NULL when the backend cannot record; the work
// has then run once, directly.
BackendGraph *unet_record(UNet *m, void (*ops)(void *ctx), void *ctx, unsigned *gen);
// Sinusoidal features of B timesteps (host arrays; out holds B x ch floats).
void unet_timestep_features(int ch, const int *t, int B, float *out);

// Host convenience for samplers: eps = model(x, t) with every sample at the same t. On a
// backend that records graphs (CUDA), the forward for each batch size is recorded once and
// replayed after that, unless m->use_graphs is 0 (unet_graph.c).
void unet_eps_host(UNet *m, int t, const float *x, int B, float *eps);
// The same in two halves (the sampler's EpsSplit): begin stages x and queues the forward,
// finish waits for it and writes eps (B images, as given to begin). On a backend that queues
// its work the host is free in between.
void unet_eps_begin(UNet *m, int t, const float *x, int B);
// The same across the lanes of m's backend (unet_lanes.c), when it has lanes, m->use_lanes is
// set and B >= 2: each lane's twin of m runs a share of the batch on one thread, all at once.
// Returns 0 when it did not run (the caller runs the forward itself).
int unet_lanes_begin(UNet *m, int t, const float *x, int B);
// m's twins, one per lane, made at the first call (those of a model sharing another's arena
// share that one's twins' arenas, lane by lane): how many (m->lane[0..n)), 0 where m's backend
// has no lanes. The trainer runs its step across them too (train.c).
int unet_lanes(UNet *m);
// How many lanes a batch of B splits across: min(unet_lanes(m), B), or 0 where it does not
// split (B < 2, or fewer than 2 lanes).
int unet_lanes_for(UNet *m, int B);
// The first sample of lane i's share when n lanes split a batch of B: [first(i), first(i + 1)).
static inline int unet_lane_first(int B, int i, int n) { return (int)((long)B * i / n); }
// Gradients across lanes (a backward per lane, each on its share of the batch): called in lane
// i, gives its twin the buffer its backward adds into, m->g for lane 0 and a zeroed one of the
// twin's own for the others; unet_lanes_grad_sum then adds lanes 1..n-1's into m->g.
float *unet_lane_grad(UNet *m, int i);
void unet_lanes_grad_sum(UNet *m, int n);
void unet_lanes_finish(UNet *m, float *eps);  // after unet_lanes_begin returned 1
void unet_lanes_free(UNet *m);                // m's twins (unet_free calls it)
void unet_eps_finish(UNet *m, float *eps);
// Drops every recorded forward (unet_free does it; nothing else needs to).
void unet_graphs_clear(UNet *m);

// Cost accounting per image: multiply-accumulates of convs, linears and attention matmuls.
typedef struct { char name[64]; double macs; long params; } LayerCost;
int unet_costs(const UNet *m, LayerCost *out, int cap);  // returns the number of layers
double unet_macs(const UNet *m);                         // per image
long unet_nparams(const UNet *m);

// Structural pruning: keep[g] lists (ascending) the channels of width group g to keep,
// nkeep[g] how many; keep[g] == NULL keeps the whole group. Returns a smaller, independent
// model with the kept slices of every coupled tensor (weights and gradients-free).
UNet *unet_prune(const UNet *m, int *const *keep, const int *nkeep, Err *err);

// Config and widths as JSON text (for checkpoint metadata). Caller frees.
char *unet_config_json(const UNetConfig *c);
char *unet_widths_json(const UNet *m);
