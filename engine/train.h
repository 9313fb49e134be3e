// train.h — the denoising objective and the training loop state.
//
// One step: draw a batch (in a seeded per-epoch order), t ~ U[t0, t1), eps ~ N(0, I),
// x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, loss = w_t |eps_theta(x_t, t) - eps|^2
// with w_t = 1 or Min-SNR-gamma's min(SNR_t, gamma) / SNR_t. Everything random comes from
// one Rng whose state, with the data position, is saved, so resume is bit-exact.
// Group fine-tuning is the same loop with [t0, t1) set to the group's range.
#pragma once
#include "data.h"
#include "optim.h"
#include "schedule.h"
#include "unet.h"

typedef struct {
  UNet *model;
  Optim opt;
  Schedule sched;
  const Dataset *data;
  Rng rng;
  int batch, t0, t1;
  float minsnr_gamma;        // 0: plain MSE
  // position in the data: the current epoch's order is a shuffle seeded with perm_seed
  int epoch;
  long pos;
  uint64_t perm_seed;
  int *perm;
  // Host batches in two slots: slot `cur` is this step's; while the device computes it, the
  // next step's batch is drawn into the other (on a backend that queues its work, CUDA, the
  // drawing then costs no step time). Those draws come after this step's in the one Rng, so
  // the sequence of numbers is what it would be without. A checkpoint must not count a batch
  // it does not save: `before_next` is the Rng and data position from before the drawing,
  // and what trainer_position reports while has_next is set.
  float *h_x[2], *h_eps[2], *h_w[2];
  int *h_t[2];
  int cur, has_next;
  struct { Rng rng; int epoch; long pos; uint64_t perm_seed; } before_next;
  float *h_loss;
  float *d_x, *d_eps, *d_w, *d_loss, *d_grad;
  // The step's device work (forward, loss, backward) recorded as a graph on backends that
  // record: valid while the memory it uses stays put (see train.c). use_graph: on by default.
  BackendGraph *graph;
  const float *graph_w, *graph_g, *graph_tfeat;
  unsigned graph_gen;
  // Distillation (trainer_set_teacher): the target is distill_w * teacher(x_t, t) + (1 - w) * eps.
  // NULL teacher: the plain objective, with none of the ops below.
  UNet *teacher;
  float distill_w;
  float *d_teach, *d_tgt, *d_loss_t, *d_loss_mix;  // teacher eps, mixed target, per-sample losses
  float *h_loss_t;
  const float *graph_tw, *graph_ttfeat;             // the teacher's memory the graph recorded
  unsigned graph_tgen;
  int use_graph;
  long graph_captures, graph_launches;
  // Where the backend has lanes (the CPU with two threads or more), the step runs a share of
  // the batch per lane, on the model's twins (train.c, step_lanes). use_lanes: on by default.
  int use_lanes;
} Trainer;

// The Rng and data position a checkpoint records: those of the step to come, as if its batch
// had not been drawn yet.
void trainer_position(const Trainer *tr, Rng *rng, int *epoch, long *pos, uint64_t *perm_seed);
// After the Rng or data position were set from outside (resume): forget a drawn batch.
void trainer_discard_next(Trainer *tr);

void trainer_init(Trainer *tr, UNet *model, const Dataset *data, const OptimCfg *oc, SchedKind sk,
                  int T, int batch, int t0, int t1, uint64_t seed);
void trainer_free(Trainer *tr);
// Distils from teacher (same image shape, its own arena, on the trainer's backend; not freed
// here): loss = w |teacher(x_t, t) - eps_theta|^2 + (1 - w) |eps - eps_theta|^2 per sample,
// Min-SNR weighted as before. The teacher only runs forward (no gradients kept). w = 0 or
// teacher NULL: the plain objective, bit for bit.
void trainer_set_teacher(Trainer *tr, UNet *teacher, float w);
// One optimisation step; returns the batch's mean (unweighted) loss. per_sample_t and
// per_sample_loss (batch entries each, may be NULL) receive the step's t and losses.
float trainer_step(Trainer *tr, int *per_sample_t, float *per_sample_loss);
// Rebuilds the current epoch's order from perm_seed (used on resume).
void trainer_shuffle(Trainer *tr);
// Parses "none" or "min-snr:G".
int loss_weight_parse(const char *s, float *gamma);

// The eps-MSE of B noised images dx (backend memory, their noise de) at timesteps t (host) into
// dl (B floats), dg (B images) a scratch: across m's lanes where it has them (unet_lanes.c),
// else as one batch on m's backend.
void eval_images_loss(UNet *m, const float *dx, const float *de, const int *t, int B, float *dl, float *dg);

// Validation: mean eps-MSE per timestep bin on n held-out images with fixed noise (seeded),
// weights as they are in the model. loss[i] is the mean over t in [i*T/nbins, (i+1)*T/nbins).
void eval_loss_curve(UNet *m, const Schedule *s, const Dataset *d, int n, int nbins, uint64_t seed,
                     int batch, double *loss);
// The same for models that split the timesteps between them (a SAT plan's group models):
// model model_of_t[t] of models[] at each t, on the same images, timesteps and noise for the
// same seed, so one model (model_of_t all 0) gives exactly eval_loss_curve's numbers.
// model_of_t[t] = -1: draws at t are not evaluated (their bins average the others; a bin with
// none reads 0). loss[nbins]: mean per bin; model_loss[nmodels] (may be NULL): mean over the
// evaluations each model made (NAN for one that made none).
void eval_loss_curve_models(UNet *const *models, int nmodels, const int *model_of_t, const Schedule *s,
                            const Dataset *d, int n, int nbins, uint64_t seed, int batch, double *loss,
                            double *model_loss);
// The same, also keeping every evaluation: each[bin * n + i] is image i's loss in that bin
// (each may be NULL). Two calls with the same seed pair up image by image, which is what
// gives a per-bin change its interval.
void eval_loss_curve_each(UNet *const *models, int nmodels, const int *model_of_t, const Schedule *s,
                          const Dataset *d, int n, int nbins, uint64_t seed, int batch, double *loss,
                          double *model_loss, double *each);
