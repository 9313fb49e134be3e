// cmd_train.c — `stepscope train`: base training, resume, and training on a timestep range.
#include "engine/checkpoint.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/fid_cli.h"
#include "tui/cli/train_loop.h"
#include <errno.h>
#include <string.h>

int cmd_train(int argc, char **argv) {
  for (int i = 0; i < argc; i++)  // the FID-FMNIST classifier has a trainer of its own
    if (!strcmp(argv[i], "--classifier")) return train_classifier_cli(argc, argv);
  const char *data = "fashion-mnist", *out = NULL, *config = "default", *resume = NULL;
  const char *device = "auto", *sched_name = "linear", *lw = "none", *init = NULL, *log_path = NULL;
  int steps = -1, batch = -1, save_every = 1000, threads = 0, warmup = -1, quiet = 0, t0 = 0, t1 = -1, slim = 0;
  int classifier = 0;  // handled before parsing (see above); listed for --help
  float lr = -1, ema = -1;
  uint64_t seed = 0;
  Opt opts[] = {
    {"--data", OPT_STR, &data, "SPEC", "fashion-mnist (default) | mnist:DIR | cifar10:DIR | png:DIR"},
    {"--out", OPT_STR, &out, "FILE", "checkpoint to write (safetensors)"},
    {"--config", OPT_STR, &config, "NAME", "model preset: tiny | small | default"},
    {"--steps", OPT_INT, &steps, "N", "train until this many optimizer steps in all"},
    {"--batch", OPT_INT, &batch, "N", "images per step (default 64; on --resume the saved one)"},
    {"--lr", OPT_FLOAT, &lr, "X", "AdamW learning rate (default 2e-3)"},
    {"--warmup", OPT_INT, &warmup, "N", "linear warm-up steps (default 200)"},
    {"--ema-decay", OPT_FLOAT, &ema, "X", "EMA decay of the weights (default 0.999)"},
    {"--seed", OPT_U64, &seed, "N", "seed of init, data order, t and noise (default 0)"},
    {"--schedule", OPT_STR, &sched_name, "NAME", "noise schedule: linear (default) | cosine"},
    {"--loss-weight", OPT_STR, &lw, "W", "none (default) | min-snr:GAMMA"},
    {"--t-min", OPT_INT, &t0, "T", "draw t from [t-min, t-max) (default 0)"},
    {"--t-max", OPT_INT, &t1, "T", "(default T = 1000)"},
    {"--init", OPT_STR, &init, "FILE", "start from this model's weights (EMA) instead of random"},
    {"--resume", OPT_STR, &resume, "FILE", "continue a saved run exactly where it stopped"},
    {"--save-every", OPT_INT, &save_every, "N", "write --out every N steps (default 1000; 0: end only)"},
    {"--threads", OPT_INT, &threads, "N", "CPU threads (default: all cores)"},
    {"--device", OPT_STR, &device, "DEV", "auto (default) | cpu | cuda"},
    OPT_CUDA_CHOICES,
    {"--slim", OPT_FLAG, &slim, NULL, "write only the EMA weights (shipping form; not resumable)"},
    {"--classifier", OPT_FLAG, &classifier, NULL, "train the FID-FMNIST feature classifier instead (see its --help)"},
    {"--log", OPT_STR, &log_path, "FILE", "append one line per step: step,loss,lr (CSV)"},
    {"--quiet", OPT_FLAG, &quiet, NULL, "no progress output"},
  };
  ArgSpec spec = {"train", "--out FILE [options]",
                  "Trains an eps-prediction UNet with the DDPM objective. Ctrl-C or SIGTERM saves a\n"
                  "resumable checkpoint to --out before exiting.",
                  opts, sizeof opts / sizeof opts[0], 0, 0, NULL};
  int rc = args_parse(&spec, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;
  if (!out) { fprintf(stderr, "stepscope: train: --out FILE is required\n"); return 2; }
  if (batch != -1 && (batch < 1 || batch > 4096)) { fprintf(stderr, "stepscope: train: --batch must be 1..4096\n"); return 2; }
  SchedKind sk;
  if (schedule_parse(sched_name, &sk)) { fprintf(stderr, "stepscope: train: unknown schedule '%s'\n", sched_name); return 2; }
  float gamma;
  const char *lw_given = lw;
  if (loss_weight_parse(lw, &gamma)) { fprintf(stderr, "stepscope: train: bad --loss-weight '%s'\n", lw); return 2; }

  Err e;
  Dataset ds;
  if (data_load(data, 0, &ds, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); return 1; }
  Backend *be = cli_backend(device, threads);
  if (!be) { data_free(&ds); return 1; }

  UNet *m = NULL;
  CkptInfo info = {0};
  const int T = 1000;
  if (resume || init) {
    // resume continues the raw weights; --init starts a new run from the EMA weights
    m = ckpt_load_model(resume ? resume : init, be, !resume, &info, &e);
    if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); goto fail; }
    if (resume) {
      if (!info.has_train_state) { fprintf(stderr, "stepscope: %s: has no training state to resume\n", resume); goto fail; }
      schedule_parse(info.schedule, &sk);
      if (t1 < 0) { t0 = info.t0; t1 = info.t1; }
    }
  } else {
    UNetConfig cfg;
    if (unet_preset(config, ds.c, &cfg)) {
      fprintf(stderr, "stepscope: train: unknown --config '%s' (%s)\n", config, unet_preset_names());
      goto fail;
    }
    if (ds.h != cfg.img || ds.w != cfg.img) { fprintf(stderr, "stepscope: %s: images are %dx%d, the model needs %dx%d\n", data, ds.w, ds.h, cfg.img, cfg.img); goto fail; }
    if (!(m = unet_create(&cfg, NULL, be, &e))) { fprintf(stderr, "stepscope: %s\n", e.msg); goto fail; }
    unet_init_params(m, seed);
  }
  if (m->cfg.in_ch != ds.c) { fprintf(stderr, "stepscope: %s has %d channels, the model %d\n", data, ds.c, m->cfg.in_ch); goto fail; }
  if (t1 < 0) t1 = T;
  if (t0 < 0 || t1 > T || t0 >= t1) { fprintf(stderr, "stepscope: train: need 0 <= t-min < t-max <= %d\n", T); unet_free(m); be->destroy(be); data_free(&ds); return 2; }
  if (steps < 0) steps = !strcmp(config, "tiny") ? 300 : !strcmp(config, "small") ? 3000 : 12000;

  // A resumed run continues with the settings it was saved with, unless overridden here.
  OptimCfg oc = optim_defaults();
  if (resume) {
    int saved_batch;
    float saved_gamma;
    if (ckpt_load_train_settings(resume, &saved_batch, &oc, &saved_gamma, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); goto fail; }
    if (batch < 0) batch = saved_batch;
    if (!strcmp(lw_given, "none")) gamma = saved_gamma;
  }
  if (batch < 0) batch = 64;
  if (lr > 0) oc.lr = lr;
  if (warmup >= 0) oc.warmup = warmup;
  if (ema > 0) oc.ema_decay = ema;
  Trainer tr;
  trainer_init(&tr, m, &ds, &oc, sk, T, batch, t0, t1, seed ^ 0x5eed);
  tr.minsnr_gamma = gamma;
  if (resume && ckpt_load_train_state(resume, &tr, &e)) {
    fprintf(stderr, "stepscope: %s\n", e.msg);
    trainer_free(&tr);
    goto fail;
  }

  if (!quiet)
    fprintf(stderr, "stepscope: training %s on %s (%d images), %ld params, %.1f M MACs/image, t in [%d,%d), %s, batch %d\n",
            resume ? resume : config, data, ds.n, unet_nparams(m), unet_macs(m) / 1e6, t0, t1, be->name, batch);
  FILE *logf = NULL;
  if (log_path && !(logf = fopen(log_path, "a"))) {
    fprintf(stderr, "stepscope: %s: %s\n", log_path, strerror(errno));
    trainer_free(&tr);
    goto fail;
  }
  const char *extra[] = {"parent", init ? init : "", NULL};
  TrainLoop loop = {"train", out, data, init ? extra : NULL, steps, save_every, quiet, slim, logf};
  int status = train_loop_run(&tr, &loop, NULL);
  if (logf) fclose(logf);
  trainer_free(&tr);
  unet_free(m);
  be->destroy(be);
  data_free(&ds);
  return status;
fail:
  unet_free(m);
  be->destroy(be);
  data_free(&ds);
  return 1;
}
