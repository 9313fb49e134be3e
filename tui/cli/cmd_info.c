// cmd_info.c — `stepscope info FILE`: what a checkpoint holds and what it costs.
#include "engine/checkpoint.h"
#include "tui/cli/args.h"
#include "tui/cli/commands.h"

static const char about[] =
    "Prints a checkpoint's config, training state, and per-layer parameters and\n"
    "MACs (multiply-accumulates per 32x32 image: convolutions, linears, attention).";

int cmd_info(int argc, char **argv) {
  const char *file = NULL;
  const ArgSpec spec = {"info", "FILE", about, .npos_min = 1, .npos_max = 1, .pos = &file, .pos_name = "FILE"};
  int rc = args_parse(&spec, argc, argv);
  if (rc != ARGS_OK) return rc;
  Err e;
  Backend *be = backend_cpu_create(1);
  CkptInfo info;
  UNet *m = ckpt_load_model(file, be, 1, &info, &e);
  if (!m) { fprintf(stderr, "stepscope: %s\n", e.msg); be->destroy(be); return 1; }
  char *cfg = unet_config_json(&m->cfg);
  printf("file      %s\nconfig    %s\n", file, cfg);
  printf("schedule  %s, T = %d\nstep      %d%s\nt range   [%d, %d)\n", info.schedule, info.T, info.step,
         info.has_train_state ? " (resumable)" : "", info.t0, info.t1);
  if (info.data[0]) printf("data      %s\n", info.data);
  if (info.parent[0]) printf("parent    %s\n", info.parent);
  free(cfg);
  LayerCost c[UNET_MAX_NODES + 1];
  int n = unet_costs(m, c, UNET_MAX_NODES + 1);
  double macs = unet_macs(m);
  printf("\n%-22s %10s %12s %7s\n", "layer", "params", "MACs", "share");
  for (int i = 0; i < n; i++)
    printf("%-22s %10ld %12.0f %6.1f%%\n", c[i].name, c[i].params, c[i].macs, 100 * c[i].macs / macs);
  printf("%-22s %10ld %12.0f\n", "total", unet_nparams(m), macs);
  printf("\nwidths    ");
  for (int i = 0; i < m->widths.n; i++) printf("%s%s=%d", i ? ", " : "", m->widths.name[i], m->widths.value[i]);
  printf("\n");
  unet_free(m);
  be->destroy(be);
  return 0;
}
