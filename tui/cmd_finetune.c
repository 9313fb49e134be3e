// cmd_finetune.c — `stepscope finetune`: each group model of a plan trained from its pruned
// weights with t drawn only from its group's range; resumable, like `train`.
#include "../engine/checkpoint.h"
#include "args.h"
#include "commands.h"
#include "sat_cli.h"
#include "train_loop.h"
#include <string.h>
#include <unistd.h>

// The fine-tuned model of a pruned one: "x.g2.safetensors" -> "x.g2.ft.safetensors".
static int ft_path(char *out, size_t cap, const char *pruned) {
  const char *ext = ".safetensors";
  size_t n = strlen(pruned), ne = strlen(ext);
  int k = n > ne && !strcmp(pruned + n - ne, ext) ? snprintf(out, cap, "%.*s.ft%s", (int)(n - ne), pruned, ext)
                                                  : snprintf(out, cap, "%s.ft", pruned);
  return k < (int)cap ? 0 : -1;
}

int cmd_finetune(int argc, char **argv) {
  const char *plan_path = NULL, *group = NULL, *device = "auto", *data = NULL;
  int steps = -1, batch = 64, save_every = 500, threads = 0, quiet = 0, warmup = -1;
  float lr = -1;
  Opt opts[] = {
    {"--plan", OPT_STR, &plan_path, "PLAN", "the plan whose group models to fine-tune (after `prune`)"},
    {"--group", OPT_STR, &group, "G", "only group G (default: every group)"},
    {"--steps", OPT_INT, &steps, "N", "optimizer steps per group (default: the plan's)"},
    {"--batch", OPT_INT, &batch, "N", "images per step (default 64)"},
    {"--lr", OPT_FLOAT, &lr, "X", "AdamW learning rate (default 2e-3)"},
    {"--warmup", OPT_INT, &warmup, "N", "linear warm-up steps (default 200)"},
    {"--save-every", OPT_INT, &save_every, "N", "save every N steps (default 500; 0: end only)"},
    {"--data", OPT_STR, &data, "SPEC", "training data (default: the base model's)"},
    {"--device", OPT_STR, &device, "DEV", "auto (default) | cpu | cuda"},
    OPT_CUDA_CHOICES,
    {"--threads", OPT_INT, &threads, "N", "CPU threads (default: all cores)"},
    {"--quiet", OPT_FLAG, &quiet, NULL, "no progress output"},
  };
  ArgSpec spec = {"finetune", "--plan PLAN [options]",
                  "Fine-tunes each group's pruned model (from `stepscope prune`) with t drawn only from\n"
                  "the group's range, into <model>.ft.safetensors, and points the plan at it. Ctrl-C\n"
                  "saves a resumable checkpoint; running the command again continues it.",
                  opts, sizeof opts / sizeof opts[0], 0, 0, NULL};
  int rc = args_parse(&spec, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;
  if (!plan_path) { fprintf(stderr, "stepscope: finetune: --plan PLAN is required\n"); return 2; }
  if (batch < 1 || batch > 4096) { fprintf(stderr, "stepscope: finetune: --batch must be 1..4096\n"); return 2; }
  SatCtx c;
  if (sat_open(&c, "finetune", plan_path, device, threads, data, 0)) return 1;
  int lo, hi;
  if ((rc = sat_groups(&c, "finetune", group, &lo, &hi))) { sat_close(&c); return rc; }
  Plan *p = &c.plan;
  for (int j = lo; j < hi; j++)
    if (!p->g[j].model[0]) {
      fprintf(stderr, "stepscope: finetune: group g%d has no model yet (run `stepscope prune --plan %s`)\n", j, plan_path);
      sat_close(&c);
      return 1;
    }
  Err e;
  Dataset ds;
  if (data_load(c.data, DATA_TRAIN, &ds, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); sat_close(&c); return 1; }
  if (steps < 0) steps = p->finetune_steps;
  OptimCfg oc = optim_defaults();
  if (lr > 0) oc.lr = lr;
  if (warmup >= 0) oc.warmup = warmup;
  int status = 0;
  for (int j = lo; j < hi && !status; j++) {
    PlanGroup *g = &p->g[j];
    // A model with training state is a fine-tune in progress (or done): continue it in
    // place. Otherwise it is the pruned model: start a new run from it.
    CkptInfo info;
    UNet *probe = ckpt_load_model(g->model, c.be, 1, &info, &e);
    if (!probe) { fprintf(stderr, "stepscope: %s\n", e.msg); status = 1; break; }
    unet_free(probe);
    int resume = info.has_train_state;
    char out[sizeof g->model], label[32];
    if (resume) snprintf(out, sizeof out, "%s", g->model);
    else if (ft_path(out, sizeof out, g->model)) {
      fprintf(stderr, "stepscope: finetune: the fine-tuned model's path for g%d is too long for a plan\n", j);
      status = 1;
      break;
    }
    UNet *m = ckpt_load_model(g->model, c.be, !resume, NULL, &e);
    if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); status = 1; break; }
    if (m->cfg.in_ch != ds.c) { fprintf(stderr, "stepscope: %s has %d channels, the model %d\n", c.data, ds.c, m->cfg.in_ch); unet_free(m); status = 1; break; }
    Trainer tr;
    trainer_init(&tr, m, &ds, &oc, p->schedule, p->T, batch, g->t0, g->t1, p->seed ^ (0xf17e + j));
    if (resume && ckpt_load_train_state(g->model, &tr, &e)) {
      fprintf(stderr, "stepscope: %s\n", e.msg);
      trainer_free(&tr);
      unet_free(m);
      status = 1;
      break;
    }
    if (!quiet)
      fprintf(stderr, "stepscope: fine-tuning g%d [%d, %d): %s%s, %.2f M MACs, %d steps from %d, %s\n", j, g->t0, g->t1,
              resume ? "continuing " : "", g->model, unet_macs(m) / 1e6, steps, tr.opt.step, c.be->name);
    const char *parent = resume ? (info.parent[0] ? info.parent : g->model) : g->model;
    char ratio[32];
    snprintf(ratio, sizeof ratio, "%.6g", g->ratio);
    const char *extra[] = {"parent", parent, "ratio", ratio, "base", p->base, NULL};
    snprintf(label, sizeof label, "finetune g%d", j);
    TrainLoop loop = {label, out, c.data, extra, steps, save_every, quiet, 0, NULL};
    status = train_loop_run(&tr, &loop, NULL);
    trainer_free(&tr);
    unet_free(m);
    if (strcmp(g->model, out) && access(out, R_OK) == 0) {
      // saved (also when interrupted): the plan now names the fine-tune
      snprintf(g->model, sizeof g->model, "%s", out);
      if (plan_save(plan_path, p, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); status = 1; }
    }
  }
  data_free(&ds);
  sat_close(&c);
  return status;
}
