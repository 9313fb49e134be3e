// cmd_tui.c — `stepscope tui` (and `stepscope` alone): the interactive explorer.
#include "tui/explorer/app.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char about[] =
    "Opens the explorer: the SNR schedule and the timestep groups of a plan (edit\n"
    "boundaries and ratios), per-channel importance, step-by-step generation with the\n"
    "base and the group models side by side, pruning and fine-tuning jobs, and the\n"
    "per-timestep loss curves. Press ? inside for every key.";

int cmd_tui(int argc, char **argv) {
  const char *model = NULL, *plan = NULL, *device = "auto", *graphics = "auto", *data = NULL;
  int threads = 0, view = 0;
  const Opt opts[] = {
    ARG_STR("--model", &model, "FILE", "base model", .def = "the plan's, else assets/base.safetensors"),
    ARG_STR("--plan", &plan, "FILE", "plan file", .def = "assets/plan.txt, else a built-in plan"),
    ARG_STR("--data", &data, "SPEC", "held-out data for the Loss view", .def = "the model's data set"),
    OPT_DEVICE(&device),
    ARG_INT("--threads", &threads, "N", "CPU threads per job", .def = "all cores", .min = 0, .max = 4096),
    OPT_GRAPHICS(&graphics),
    ARG_INT("--view", &view, "N", "first view", .def = "3 Generate when a model loads, else 1", .min = 1, .max = NVIEWS),
  };
  const ArgSpec spec = {"tui", "[options]", about, ARGS_OPTS(opts)};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
    return usage_error("stdin, stdout", "the explorer needs a terminal; 'stepscope help' lists the other commands");
  App *a = calloc(1, sizeof *a);
  if (!a) return data_error("out of memory");
  gfx_parse(graphics, &a->gfx_want);  // a name the option table allows
  a->first_view = view - 1;  // -1: decided once the model is known
  snprintf(a->model_arg, sizeof a->model_arg, "%s", model ? model : "");
  snprintf(a->plan_arg, sizeof a->plan_arg, "%s", plan ? plan : "");
  snprintf(a->data_arg, sizeof a->data_arg, "%s", data ? data : "");
  snprintf(a->device, sizeof a->device, "%s", device);
  a->threads = threads;
  rc = app_run(a);
  free(a);
  return rc;
}
