// train_loop.h — the loop every training command runs (train, finetune): optimizer steps
// with a progress line, periodic saves, and Ctrl-C / SIGTERM saving a resumable checkpoint.
#pragma once
#include "engine/train.h"
#include <stdio.h>

typedef struct {
  const char *label;         // progress label: "train", "finetune g2"
  const char *out;           // checkpoint written at every save
  const char *data_spec;     // recorded in the checkpoint
  const char *const *extra;  // metadata pairs for ckpt_save (NULL-terminated; may be NULL)
  int steps;                 // run until the optimizer has taken this many steps in all
  int save_every;            // also save every N steps (0: at the end only)
  int quiet;
  int slim;                  // save the shipping form (EMA weights only; not resumable)
  FILE *log;                 // one line per step, "step,loss,lr" (may be NULL)
} TrainLoop;

// Runs tr to c->steps and saves. Returns 0 when finished and saved; 1 when a save failed
// or a signal stopped the run (it was saved). *final_loss (may be NULL): the smoothed loss.
int train_loop_run(Trainer *tr, const TrainLoop *c, float *final_loss);
// Whether a signal stopped the last run (so a caller looping over several stops too).
int train_loop_interrupted(void);
