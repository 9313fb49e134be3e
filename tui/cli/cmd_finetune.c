// cmd_finetune.c — `stepscope finetune`: each group model of a plan trained from its pruned
// weights with t drawn only from its group's range; resumable, like `train`. Optionally
// distilled from the base model (--distill W), and with a total step budget spread over the
// groups by how far each pruned model's loss lies above the base's (--steps-by loss).
#include "engine/checkpoint.h"
#include "engine/sat/finetune.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include "tui/cli/sat_cli.h"
#include "tui/cli/train_loop.h"
#include <math.h>
#include <stdlib.h>
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

// --steps-by loss: each group's pruned model against the base on the group's timesteps (held-out
// test images, fixed seed, as `stepscope eval` measures; finetune_steps_by_loss), then prints the table.
static int steps_by_loss(SatCtx *c, int lo, int hi, long budget, int gap_n, int quiet, long *steps) {
  Plan *p = &c->plan;
  Dataset ds;
  if (sat_load_test(c->data, c->base, &ds)) return -1;
  if (!quiet) fprintf(stderr, "stepscope: finetune: measuring each pruned model's loss against the base model's\n");
  const char *models[PLAN_MAX_GROUPS];
  for (int j = lo; j < hi; j++) models[j - lo] = p->g[j].model;
  FinetuneShare sh[PLAN_MAX_GROUPS];
  int n;
  Err e;
  int rc = finetune_steps_by_loss(c->base, &c->sched, &ds, gap_n, p, lo, hi, models, budget, (Watch){0}, sh, &n, &e);
  data_free(&ds);
  if (rc) { fprintf(stderr, "stepscope: %s\n", e.msg); return -1; }
  printf("finetune steps by loss gap: %ld steps over %d group%s (at least %.0f %% each); %s test split, last %d "
         "images, seed %d\n",
         budget, hi - lo, hi - lo == 1 ? "" : "s", 100 * FINETUNE_GAP_MIN_SHARE, c->data, n, FINETUNE_GAP_SEED);
  printf("%-6s %-14s %10s %12s %9s %11s %8s\n", "group", "t range", "base loss", "pruned loss", "gap", "(relative)",
         "steps");
  for (int j = lo; j < hi; j++) {
    char range[32];
    snprintf(range, sizeof range, "[%d, %d)", p->g[j].t0, p->g[j].t1);
    const FinetuneShare *g = &sh[j - lo];  // the gap that splits is absolute (budget.h); the relative one for reading
    printf("g%-5d %-14s %10.5f %12.5f %9.5f %+10.0f%% %8ld\n", j, range, g->base_loss, g->model_loss, g->gap,
           g->base_loss > 0 ? 100 * (g->model_loss / g->base_loss - 1) : 0.0, steps[j - lo] = g->steps);
  }
  fflush(stdout);
  return 0;
}

static const char about[] =
    "Fine-tunes each group's pruned model (from `stepscope prune`) with t drawn only from\n"
    "the group's range, into <model>.ft.safetensors, and points the plan at it. Ctrl-C\n"
    "saves a resumable checkpoint; running the command again continues it.\n"
    "--distill W also learns from the plan's base model (the teacher, forward only). With\n"
    "--steps-by loss the budget (--budget, default --steps per group) goes to the groups in\n"
    "proportion to how far each pruned model's test loss on its timesteps lies above the\n"
    "base model's (at least 5 % each); the allocation is printed first.";

int cmd_finetune(int argc, char **argv) {
  const char *plan_path = NULL, *group = NULL, *device = "auto", *data = NULL;
  const char *steps_by = "equal";
  const OptimCfg od = optim_defaults();
  int steps = -1, batch = 64, save_every = 500, threads = 0, quiet = 0, warmup = od.warmup, budget = -1;
  int gap_n = FINETUNE_GAP_N;
  float lr = od.lr, distill = 0;
  const Opt opts[] = {
    ARG_STR("--plan", &plan_path, "PLAN", "the plan whose group models to fine-tune (after `prune`)", .required = 1),
    ARG_STR("--group", &group, "G", "only group G", .def = "every group"),
    ARG_INT("--steps", &steps, "N", "optimizer steps per group", .def = "the plan's", .min = 0, .max = 100000000),
    ARG_INT("--budget", &budget, "N", "total steps over the groups fine-tuned (instead of --steps)",
     .def = "--steps per group", .min = 1, .max = 100000000),
    ARG_STR("--steps-by", &steps_by, "HOW", "equal: each group the same | loss: by its loss gap",
     .choices = "equal, loss"),
    ARG_INT("--gap-n", &gap_n, "N", "held-out images that measure the loss gaps", .min = 1, .max = 1000000),
    ARG_FLOAT("--distill", &distill, "W", "loss W*|eps_base - eps_g|^2 + (1-W)*|eps - eps_g|^2", .min = 0, .max = 1),
    ARG_INT("--batch", &batch, "N", "images per step", .min = 1, .max = 4096),
    ARG_FLOAT("--lr", &lr, "X", "AdamW learning rate", .min = 1e-9, .max = 10),
    ARG_INT("--warmup", &warmup, "N", "linear warm-up steps", .min = 0, .max = 100000000),
    ARG_INT("--save-every", &save_every, "N", "save every N steps (0: at the end only)", .min = 0, .max = 100000000),
    ARG_STR("--data", &data, "SPEC", "training data", .def = "the base model's"),
    OPT_COMPUTE(&device, &threads),
    OPT_QUIET(&quiet),
  };
  const ArgSpec spec = {"finetune", "--plan PLAN [options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  const int by_loss = !strcmp(steps_by, "loss");
  if (budget != -1 && steps != -1) return usage_error("--steps, --budget", "give one of them, not both");
  SatCtx c;
  if (sat_open(&c, plan_path, device, threads, data, 0)) return 1;
  int lo, hi;
  if ((rc = sat_groups(&c, group, &lo, &hi))) { sat_close(&c); return rc; }
  Plan *p = &c.plan;
  for (int j = lo; j < hi; j++)
    if (!p->g[j].model[0]) {
      fprintf(stderr, "stepscope: %s: group g%d has no model yet (run `stepscope prune --plan %s`)\n", plan_path, j, plan_path);
      sat_close(&c);
      return 1;
    }
  Err e;
  Dataset ds;
  if (data_load(c.data, DATA_TRAIN, &ds, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); sat_close(&c); return 1; }
  if (steps < 0) steps = p->finetune_steps;
  // Steps per group: --steps each (today's default), or the budget split equally or by loss gap.
  long group_steps[PLAN_MAX_GROUPS];
  const long total = budget > 0 ? budget : (long)steps * (hi - lo);
  if (by_loss) {
    if (steps_by_loss(&c, lo, hi, total, gap_n, quiet, group_steps)) { data_free(&ds); sat_close(&c); return 1; }
  } else {
    finetune_steps_equal(hi - lo, total, group_steps);
  }
  OptimCfg oc = od;
  oc.lr = lr;
  oc.warmup = warmup;
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
      fprintf(stderr, "stepscope: %s: the fine-tuned model's path for g%d is too long for a plan\n", plan_path, j);
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
    // A run resumed with another --distill goes on with the new weight (and records it).
    if (resume && fabs(finetune_recorded_distill(g->model) - distill) > 1e-6)
      fprintf(stderr, "stepscope: finetune: g%d was fine-tuned with --distill %g so far; continuing with %g\n", j,
              finetune_recorded_distill(g->model), distill);
    trainer_set_teacher(&tr, c.base, distill);  // the base model (EMA weights), in its own arena
    const int gsteps = (int)group_steps[j - lo];
    if (!quiet)
      fprintf(stderr, "stepscope: fine-tuning g%d [%d, %d): %s%s, %.2f M MACs, %d steps from %d%s, %s\n", j, g->t0,
              g->t1, resume ? "continuing " : "", g->model, unet_macs(m) / 1e6, gsteps, tr.opt.step,
              distill > 0 ? ", distilled from the base model" : "", c.be->name);
    const char *parent = resume ? (info.parent[0] ? info.parent : g->model) : g->model;
    FinetuneMeta meta;
    const char *const *extra = finetune_meta(&meta, parent, g->ratio, p->base, distill);
    snprintf(label, sizeof label, "finetune g%d", j);
    TrainLoop loop = {label, out, c.data, extra, gsteps, save_every, quiet, 0, NULL};
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
