#include "commands.h"
#include <stdio.h>

int cli_tf32;

Backend *cli_backend(const char *device, int threads) {
  Err e;
  Backend *be = backend_create_tf32(device ? device : "auto", threads, cli_tf32, &e);
  if (!be) fprintf(stderr, "stepscope: %s\n", e.msg);
  return be;
}
