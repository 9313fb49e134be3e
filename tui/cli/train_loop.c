#include "tui/cli/train_loop.h"
#include "engine/checkpoint.h"
#include "tui/cli/progress.h"
#include <signal.h>

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

int train_loop_interrupted(void) { return stop_requested != 0; }

static int save(Trainer *tr, const TrainLoop *c) {
  Err e;
  if ((c->slim ? ckpt_save_slim : ckpt_save)(c->out, tr->model, tr, c->data_spec, c->extra, &e)) {
    fprintf(stderr, "stepscope: %s\n", e.msg);
    return -1;
  }
  return 0;
}

int train_loop_run(Trainer *tr, const TrainLoop *c, float *final_loss) {
  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  Progress pg;
  progress_begin(&pg, c->label, tr->opt.step, c->steps, c->quiet);
  double ema_loss = -1;
  int status = 0;
  while (tr->opt.step < c->steps && !stop_requested) {
    float loss = trainer_step(tr, NULL, NULL);
    ema_loss = ema_loss < 0 ? loss : 0.98 * ema_loss + 0.02 * loss;
    if (c->log) fprintf(c->log, "%d,%.6f,%.6g\n", tr->opt.step, loss, optim_lr(&tr->opt.cfg, tr->opt.step));
    progress_update(&pg, tr->opt.step, "loss %.4f", ema_loss);
    if (c->save_every > 0 && tr->opt.step % c->save_every == 0 && tr->opt.step < c->steps && save(tr, c)) {
      status = 1;
      break;
    }
  }
  progress_end(&pg);
  if (save(tr, c)) status = 1;
  else if (!c->quiet && ema_loss >= 0)
    fprintf(stderr, "stepscope: %s %s at step %d (loss %.4f)\n", stop_requested ? "interrupted; saved" : "saved",
            c->out, tr->opt.step, ema_loss);
  else if (!c->quiet)
    fprintf(stderr, "stepscope: saved %s at step %d\n", c->out, tr->opt.step);
  if (stop_requested) status = 1;  // saved, but the run did not finish
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (final_loss) *final_loss = (float)ema_loss;
  return status;
}
