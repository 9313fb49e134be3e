// cmd_train.c — `stepscope train`: base training, resume, and training on a timestep range.
#include "engine/checkpoint.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/fid_cli.h"
#include "tui/cli/train_loop.h"
#include <errno.h>
#include <string.h>

static const char about[] =
    "Trains an eps-prediction UNet with the DDPM objective. Ctrl-C or SIGTERM saves a\n"
    "resumable checkpoint to --out before exiting.";

int cmd_train(int argc, char **argv) {
  for (int i = 0; i < argc; i++)  // the FID-FMNIST classifier has a trainer of its own
    if (!strcmp(argv[i], "--classifier")) return train_classifier_cli(argc, argv);
  const char *data = "fashion-mnist", *out = NULL, *config = "default", *resume = NULL;
  const char *device = "auto", *sched_name = "linear", *lw = "none", *init = NULL, *log_path = NULL;
  int steps = -1, batch = -1, save_every = 1000, threads = 0, warmup = -1, quiet = 0, t0 = 0, t1 = -1, slim = 0;
  int classifier = 0;  // handled before parsing (see above); listed for --help
  float lr = -1, ema = -1;
  uint64_t seed = 0;
  // On --resume the run goes on with its saved settings, so these defaults are words until then.
  const OptimCfg od = optim_defaults();
  char lr_def[48], warmup_def[48], ema_def[48];
  snprintf(lr_def, sizeof lr_def, "%g; on --resume the saved one", (double)od.lr);
  snprintf(warmup_def, sizeof warmup_def, "%d; on --resume the saved one", od.warmup);
  snprintf(ema_def, sizeof ema_def, "%g; on --resume the saved one", (double)od.ema_decay);
  const Opt opts[] = {
    ARG_STR("--data", &data, "SPEC", "fashion-mnist | mnist:DIR | cifar10:DIR | png:DIR"),
    ARG_STR("--out", &out, "FILE", "checkpoint to write (safetensors)", .required = 1),
    ARG_STR("--config", &config, "NAME", "model preset", .choices = unet_preset_names()),
    ARG_INT("--steps", &steps, "N", "train until this many optimizer steps in all",
     .def = "tiny 300, small 3000, default 12000", .min = 0, .max = 100000000),
    ARG_INT("--batch", &batch, "N", "images per step", .def = "64; on --resume the saved one", .min = 1, .max = 4096),
    ARG_FLOAT("--lr", &lr, "X", "AdamW learning rate", .def = lr_def),
    ARG_INT("--warmup", &warmup, "N", "linear warm-up steps", .def = warmup_def, .min = 0, .max = 100000000),
    ARG_FLOAT("--ema-decay", &ema, "X", "EMA decay of the weights", .def = ema_def),
    ARG_U64("--seed", &seed, "N", "seed of init, data order, t and noise"),
    ARG_STR("--schedule", &sched_name, "NAME", "noise schedule", .choices = "linear, cosine"),
    ARG_STR("--loss-weight", &lw, "W", "none | min-snr:GAMMA"),
    ARG_INT("--t-min", &t0, "T", "draw t from [t-min, t-max)", .min = 0, .max = 999),
    ARG_INT("--t-max", &t1, "T", "the end of that range", .def = "T = 1000", .min = 1, .max = 1000),
    ARG_STR("--init", &init, "FILE", "start from this model's weights (EMA) instead of random"),
    ARG_STR("--resume", &resume, "FILE", "continue a saved run exactly where it stopped"),
    ARG_INT("--save-every", &save_every, "N", "write --out every N steps (0: at the end only)", .min = 0, .max = 100000000),
    OPT_COMPUTE(&device, &threads),
    ARG_FLAG("--slim", &slim, "write only the EMA weights (shipping form; not resumable)"),
    ARG_FLAG("--classifier", &classifier, "train the FID-FMNIST feature classifier instead (see its --help)"),
    ARG_STR("--log", &log_path, "FILE", "append one line per step: step,loss,lr (CSV)"),
    OPT_QUIET(&quiet),
  };
  const ArgSpec spec = {"train", "--out FILE [options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  SchedKind sk;
  schedule_parse(sched_name, &sk);  // the option table allows only the known names
  float gamma;
  const char *lw_given = lw;
  if (loss_weight_parse(lw, &gamma)) return usage_error("--loss-weight", "'%s' is not none or min-snr:GAMMA", lw);
  if (t1 >= 0 && t0 >= t1) return usage_error("--t-min, --t-max", "need t-min < t-max, got [%d, %d)", t0, t1);

  rc = 1;  // what fails from here on is the data's (unless said otherwise)
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
    unet_preset(config, ds.c, &cfg);  // a name the option table allows
    if (ds.h != cfg.img || ds.w != cfg.img) { fprintf(stderr, "stepscope: %s: images are %dx%d, the model needs %dx%d\n", data, ds.w, ds.h, cfg.img, cfg.img); goto fail; }
    if (!(m = unet_create(&cfg, NULL, be, &e))) { fprintf(stderr, "stepscope: %s\n", e.msg); goto fail; }
    unet_init_params(m, seed);
  }
  if (m->cfg.in_ch != ds.c) { fprintf(stderr, "stepscope: %s: has %d channels, the model %d\n", data, ds.c, m->cfg.in_ch); goto fail; }
  if (t1 < 0) t1 = T;
  if (t0 >= t1) {  // the range a resumed run was saved with (the options' own were checked above)
    fprintf(stderr, "stepscope: %s: bad t range [%d, %d)\n", resume, t0, t1);
    goto fail;
  }
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
  return rc;
}
