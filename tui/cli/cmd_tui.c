// cmd_tui.c — `stepscope tui` (and `stepscope` alone): the interactive explorer.
#include "tui/explorer/app.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_tui(int argc, char **argv) {
  const char *model = NULL, *plan = NULL, *device = "auto", *graphics = "auto", *data = NULL;
  int threads = 0, view = 0;
  Opt opts[] = {
    {"--model", OPT_STR, &model, "FILE", "base model (default: the plan's, else assets/base.safetensors)"},
    {"--plan", OPT_STR, &plan, "FILE", "plan file (default: assets/plan.txt, else a built-in plan)"},
    {"--data", OPT_STR, &data, "SPEC", "held-out data for the Loss view (default: the model's data set)"},
    {"--device", OPT_STR, &device, "DEV", "where jobs run: auto (default) | cpu | cuda"},
    {"--threads", OPT_INT, &threads, "N", "CPU threads per job (default: all cores)"},
    {"--graphics", OPT_STR, &graphics, "MODE", "images: auto (default: ask the terminal) | sixel | blocks | none"},
    {"--view", OPT_INT, &view, "N", "first view, 1..5 (default: 3 Generate when a model loads, else 1)"},
  };
  ArgSpec spec = {"tui", "[options]",
                  "Opens the explorer: the SNR schedule and the timestep groups of a plan (edit\n"
                  "boundaries and ratios), per-channel importance, step-by-step generation with the\n"
                  "base and the group models side by side, pruning and fine-tuning jobs, and the\n"
                  "per-timestep loss curves. Press ? inside for every key.",
                  opts, sizeof opts / sizeof opts[0], 0, 0, NULL};
  int rc = args_parse(&spec, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;
  App *a = calloc(1, sizeof *a);
  if (!a) { fprintf(stderr, "stepscope: out of memory\n"); return 1; }
  if (gfx_parse(graphics, &a->gfx_want)) {
    fprintf(stderr, "stepscope: tui: unknown --graphics '%s' (auto, sixel, blocks, none)\n", graphics);
    free(a);
    return 2;
  }
  if (strcmp(device, "auto") && strcmp(device, "cpu") && strcmp(device, "cuda")) {
    fprintf(stderr, "stepscope: tui: unknown --device '%s' (auto, cpu, cuda)\n", device);
    free(a);
    return 2;
  }
  if (view < 0 || view > NVIEWS) {
    fprintf(stderr, "stepscope: tui: --view must be 1..%d\n", NVIEWS);
    free(a);
    return 2;
  }
  a->first_view = view - 1;  // -1: decided once the model is known
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    fprintf(stderr, "stepscope: the explorer needs a terminal (stdin and stdout); 'stepscope help' lists the other commands\n");
    free(a);
    return 2;
  }
  snprintf(a->model_arg, sizeof a->model_arg, "%s", model ? model : "");
  snprintf(a->plan_arg, sizeof a->plan_arg, "%s", plan ? plan : "");
  snprintf(a->data_arg, sizeof a->data_arg, "%s", data ? data : "");
  snprintf(a->device, sizeof a->device, "%s", device);
  a->threads = threads;
  rc = app_run(a);
  free(a);
  return rc;
}
