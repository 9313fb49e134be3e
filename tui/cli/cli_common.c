#include "tui/cli/commands.h"
#include <stdio.h>

int cli_tf32, cli_nondeterministic, cli_engine_search;

BackendOpts cli_backend_opts(void) {
  return (BackendOpts){.tf32 = cli_tf32, .nondeterministic = cli_nondeterministic, .engine_search = cli_engine_search};
}

Backend *cli_backend(const char *device, int threads) {
  Err e;
  BackendOpts o = cli_backend_opts();
  Backend *be = backend_create_opts(device ? device : "auto", threads, &o, &e);
  if (!be) fprintf(stderr, "stepscope: %s\n", e.msg);
  return be;
}

double cli_call_ms(UNet *m, int t, const float *x, int B, float *eps) {
  m->be->sync(m->be);
  const double t0 = now_sec();
  unet_eps_host(m, t, x, B, eps);
  return (now_sec() - t0) * 1e3;
}
