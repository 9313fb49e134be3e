// group_eval.h — validation loss of a set of models that split the timesteps between them
// (a SAT plan's group models): each t is evaluated with the model that holds it.
#pragma once
#include "../data.h"
#include "../schedule.h"
#include "../unet.h"

// eval_loss_curve (train.h) with model model_of_t[t] of models[] at each t: the same
// images, timesteps and noise for the same seed, so one model (model_of_t all 0) gives
// exactly eval_loss_curve's numbers. model_of_t[t] = -1: draws at t are not evaluated
// (their bins average the others; a bin with none reads 0). loss[nbins]: mean per bin; model_loss[nmodels] (may be
// NULL): mean over the evaluations each model made (NAN for one that made none).
void eval_loss_curve_models(UNet *const *models, int nmodels, const int *model_of_t, const Schedule *s,
                            const Dataset *d, int n, int nbins, uint64_t seed, int batch, double *loss,
                            double *model_loss);
// The same, also keeping every evaluation: each[bin * n + i] is image i's loss in that bin
// (each may be NULL). Two calls with the same seed pair up image by image, which is what
// gives a per-bin change its interval.
void eval_loss_curve_each(UNet *const *models, int nmodels, const int *model_of_t, const Schedule *s,
                          const Dataset *d, int n, int nbins, uint64_t seed, int batch, double *loss,
                          double *model_loss, double *each);
