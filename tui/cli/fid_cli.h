// fid_cli.h — FID-FMNIST on the command line.
//
// FID-FMNIST is the Fréchet distance in the feature space of stepscope's own Fashion-MNIST
// classifier (engine/classifier.h), not Inception's: its values are comparable only with
// other FID-FMNIST values, made with the same classifier file and the same number of images.
#pragma once
#include "kernels/backend.h"

// The shipped files: their names (asset_path finds them, installed copies included), and where
// a checkout has them.
#define FID_CLASSIFIER_ASSET "fid-fmnist-classifier.safetensors"
#define FID_STATS_ASSET "fid-fmnist-test-stats.safetensors"
#define FID_DEFAULT_CLASSIFIER "assets/" FID_CLASSIFIER_ASSET
#define FID_DEFAULT_STATS "assets/" FID_STATS_ASSET

// FID-FMNIST of n host images x (n, c, h, w) in [-1, 1] — generated samples, say — against
// the cached test-set statistics. classifier and stats are paths (NULL: the shipped ones,
// found by asset_path); a statistics file made by another classifier is refused as stale. Prints the
// result line to stdout,
//   FID-FMNIST 12.34  (1000 images vs 10000 test images; ...)
// and notes (clamped eigenvalues, small n) to stderr. Returns 0, or 1 after printing
// "stepscope: <what went wrong>". *fid (may be NULL) receives the value.
int fid_eval_cli(Backend *be, const float *x, long n, int c, int h, int w, const char *classifier,
                 const char *stats, double *fid);

// `stepscope train --classifier ...` (tui/train_classifier.c): trains the feature network,
// reports its test accuracy and, with --stats, writes the test-set statistics cache.
// argv holds the options after "train", "--classifier" among them.
int train_classifier_cli(int argc, char **argv);
