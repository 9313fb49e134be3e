// main.c — stepscope's entry point: dispatches to a subcommand.
#include "tui/cli/commands.h"
#include <stdio.h>
#include <string.h>

typedef struct { const char *name; int (*fn)(int, char **); const char *about; } Command;

static const Command commands[] = {
  {"tui", cmd_tui, "the interactive explorer (the default when no command is given)"},
  {"train", cmd_train, "train a denoising UNet (or fine-tune on a timestep range)"},
  {"sample", cmd_sample, "draw images with DDIM or DDPM into a PNG grid, and watch them form"},
  {"info", cmd_info, "show a checkpoint's config, widths, parameters and MACs per layer"},
  {"snr", cmd_snr, "show the noise schedule's SNR curve and how groups split it"},
  {"plan", cmd_plan, "write (or --show) a SAT plan: timestep groups and their size ratios"},
  {"importance", cmd_importance, "per-channel importance of the base model for a plan's group"},
  {"prune", cmd_prune, "proxy search: prune the base model to each group's MACs ratio"},
  {"finetune", cmd_finetune, "fine-tune each group model on its own timesteps"},
  {"eval", cmd_eval, "validation loss per timestep, MACs, params and speed of models or a plan"},
  {"plot", cmd_plot, "draw a results table (CSV) as line charts with error bars, into a PNG"},
  {"bench", cmd_bench, "measure training and sampling speed, PyTorch alongside"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static void help(FILE *f) {
  fputs("stepscope — Step-Adaptive Training of diffusion models, in a terminal\n\n"
        "usage: stepscope [<command> [options]]    (stepscope <command> --help for each;\n"
        "       with no command, stepscope opens the explorer: stepscope tui)\n\n"
        "commands:\n", f);
  for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].about);
  fprintf(f, "  %-10s %s\n", "help", "this text");
}

int main(int argc, char **argv) {
  if (argc < 2) return cmd_tui(0, argv + 1);
  if (argv[1][0] == '-' && argv[1][1] == '-' && strcmp(argv[1], "--help"))  // options alone: the explorer's
    return cmd_tui(argc - 1, argv + 1);
  if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    help(stdout);
    return 0;
  }
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 2, argv + 2);
  fprintf(stderr, "stepscope: %s: unknown command ('stepscope help' lists them)\n", argv[1]);
  return 2;
}
