// checkpoint.h — models and training state in safetensors files.
//
// Tensors: the model's parameters under PyTorch-style names (`down.0.res.1.conv1.weight`),
// their EMA under `ema.<name>`, and when training state is saved the AdamW moments under
// `optim.m.<name>` / `optim.v.<name>`. __metadata__ (all strings, as safetensors wants):
//   format "stepscope/1", config (JSON), widths (JSON: every layer width, so a pruned
//   model loads without replaying its pruning), schedule, T, step, and for resumable files
//   rng, data position, optimizer settings, batch, t range, loss weight, data spec, seed.
// Files are written atomically (temporary file, fsync, rename).
#pragma once
#include "train.h"

typedef struct {
  char schedule[16];
  int T, step;
  char data[256];        // data spec the model was trained on
  char parent[256];      // base model a pruned/fine-tuned model came from ("" if none)
  int t0, t1;            // timestep range it was trained on
  int has_ema, has_train_state;
} CkptInfo;

// Saves model weights, EMA (from tr, or the weights themselves without a trainer) and,
// when tr is given, the whole training state. extra: NULL-terminated key/value pairs.
int ckpt_save(const char *path, UNet *m, const Trainer *tr, const char *data_spec,
              const char *const *extra, Err *e);
// The shipping form: the EMA weights under the plain names, schedule and step, no optimizer
// state (a quarter of the size; it samples and fine-tunes but cannot be resumed).
int ckpt_save_slim(const char *path, UNet *m, const Trainer *tr, const char *data_spec,
                   const char *const *extra, Err *e);
// Loads a model; use_ema picks the EMA weights when the file has them.
UNet *ckpt_load_model(const char *path, Backend *be, int use_ema, CkptInfo *info, Err *e);
// Restores optimizer moments, EMA, RNG, data position and step into a trainer built on a
// model loaded (raw weights) from the same file.
int ckpt_load_train_state(const char *path, Trainer *tr, Err *e);
// The settings a resumable file was trained with: batch, optimizer, Min-SNR gamma.
int ckpt_load_train_settings(const char *path, int *batch, OptimCfg *oc, float *gamma, Err *e);
// Reads a metadata value (caller frees), or NULL.
char *ckpt_meta(const char *path, const char *key, Err *e);
