#include "eval_fid.h"
#include "../engine/image.h"
#include "../engine/png_io.h"
#include "../engine/sat/plan_models.h"
#include "commands.h"
#include "fid_cli.h"
#include <string.h>

int eval_fid_run(const EvalFid *c) {
  Err e;
  Backend *be = cli_backend(c->device, c->threads);
  if (!be) return 1;
  PlanModels pm = {0};
  int status = 1;
  // A single model is a plan of one group: the same code samples both.
  if (c->plan) {
    if (plan_models_load(&pm, c->plan, be, 1, 0, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); goto out; }
  } else if (!(pm.base = ckpt_load_model(c->model, be, 1, NULL, &e))) {
    fprintf(stderr, "stepscope: %s\n", e.msg);
    goto out;
  } else {
    pm.base_only = 1;
  }
  char *sk_name = ckpt_meta(c->plan ? pm.plan.base : c->model, "schedule", &e);
  SchedKind sk = SCHED_LINEAR;
  if (sk_name) schedule_parse(sk_name, &sk);
  free(sk_name);
  Schedule sched;
  schedule_init(&sched, sk, 1000);
  const UNetConfig *cfg = &pm.base->cfg;
  const int C = cfg->in_ch, S = cfg->img, D = C * S * S;
  float *x = xmalloc(sizeof(float) * (size_t)c->n * D);
  // Warm-up: one forward of every model at the run's batch size, so that first-use costs
  // (arena sizing, cuDNN's algorithm search per shape) stay out of the sampling time.
  {
    int wb = c->n < c->batch ? c->n : c->batch;
    float *eps = xmalloc(sizeof(float) * (size_t)wb * D);
    memset(x, 0, sizeof(float) * (size_t)wb * D);
    unet_eps_host(pm.base, 500, x, wb, eps);
    for (int g = 0; g < pm.plan.ngroups; g++)
      if (pm.group[g]) unet_eps_host(pm.group[g], (pm.plan.g[g].t0 + pm.plan.g[g].t1) / 2, x, wb, eps);
    free(eps);
  }
  double t0 = now_sec();
  for (int i0 = 0; i0 < c->n; i0 += c->batch) {
    int nb = c->n - i0 < c->batch ? c->n - i0 : c->batch;
    SamplerCfg sc = c->sampler;
    sc.seed = c->sampler.seed + (uint64_t)i0;  // image i: noise stream seed + i, as `sample` does
    if (sample_run_split(&sched, &sc, nb, C, S, S, &plan_models_split, &pm, NULL, NULL, x + (size_t)i0 * D, &e) < 0) {
      fprintf(stderr, "stepscope: %s\n", e.msg);
      goto done;
    }
  }
  be->sync(be);
  double sec = now_sec() - t0;
  long batches = (c->n + c->batch - 1) / c->batch;
  double macs = pm.macs / batches, base_macs = pm.base_macs / batches;  // per image
  if (c->out_png) {
    uint8_t *px;
    int gw, gh, k = c->n < 64 ? c->n : 64;
    image_grid(x, k, C, S, S, 8, 2, &px, &gw, &gh);
    if (png_write(c->out_png, px, gw, gh, C, NULL, &e)) fprintf(stderr, "stepscope: %s\n", e.msg);
    free(px);
  }
  double fid;
  if (fid_eval_cli(be, x, c->n, C, S, S, NULL, NULL, &fid) == 0) {
    printf("%s %s: %d samples, %s %d steps, %.3f G MACs per sample (%.1f %% of the base), sampling %.1f s on %s\n",
           c->plan ? "plan" : "model", c->plan ? c->plan : c->model, c->n, sampler_name(c->sampler.kind),
           c->sampler.steps, macs / 1e9, 100 * macs / base_macs, sec, be->name);
    printf("result fid_fmnist=%.4f gmacs_per_sample=%.4f compute=%.4f sample_sec=%.3f n=%d\n", fid, macs / 1e9,
           macs / base_macs, sec, c->n);
    status = 0;
  }
done:
  free(x);
  schedule_free(&sched);
out:
  plan_models_free(&pm);
  be->destroy(be);
  return status;
}
