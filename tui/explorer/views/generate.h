// generate.h — the Generate view's state, shared by its two halves: the two samplers, each
// on its worker's thread (generate_worker.c), and the screen, keys and clock on the UI
// thread (generate.c). Frames and the target step are shared under Gen.mu.
#pragma once
#include "tui/explorer/app.h"
#include <pthread.h>

enum { BASE, SAT, NSIDES };

typedef struct Gen Gen;

// What one sampler has shown so far (under Gen.mu).
typedef struct {
  float *x, *x0;        // latest x_t and x0-hat, (B,C,H,W)
  int step, nsteps, t;  // steps completed; t of the latest step
  int group;            // plan index of the group that ran it (SAT), -1 for base
  double ms;            // model time per step, smoothed
  char model[128];      // model in use
  double macs;          // its MACs per image
  unsigned seq;         // bumped on every new frame
} Frame;

typedef struct {
  Gen *g;
  int side;
  Job job;
} Worker;

struct Gen {
  // settings, changed by keys
  SamplerKind kind;
  int ddim_steps, delay, batch_idx, paused;
  uint64_t seed;
  // the run: inputs copied at its start (the workers read only these)
  Plan plan;
  char base_path[PATH_MAX], group_path[PLAN_MAX_GROUPS][PATH_MAX];
  char device[16];
  int threads, B, C, H, W;
  SchedKind sched;
  Worker w[NSIDES];
  pthread_mutex_t mu;   // frames and target
  pthread_cond_t cv;
  Frame f[NSIDES];
  int target;           // steps each worker may complete
  int started;          // a run exists (frames are meaningful)
  unsigned plan_gen;    // the plan it ran with
  // UI side
  double last_advance;
  unsigned shown[NSIDES];
  uint8_t *px[NSIDES][2];  // grids of x_t and x0-hat
  int gw, gh;
  uint64_t key[NSIDES][2];
  uint64_t key_seq;
};

// A worker's job (job->arg is its Worker): samples its side of the run, a step at a time
// once the UI has raised Gen.target above it, publishing each step as a Frame.
void gen_work(Job *job);
