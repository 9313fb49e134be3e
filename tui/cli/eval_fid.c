// eval_fid.c — `stepscope eval --fid`: sampling on fixed seed sets, classifier features (cached),
// FID-FMNIST per set, KID-FMNIST per subset, the real-data floor and the paired comparison.
#include "tui/cli/eval_fid.h"
#include "engine/fid.h"
#include "engine/image.h"
#include "engine/kid.h"
#include "engine/png_io.h"
#include "engine/sat/plan_models.h"
#include "engine/stats.h"
#include "tui/assets.h"
#include "tui/cli/commands.h"
#include "tui/cli/eval_cache.h"
#include "tui/cli/eval_report.h"
#include "tui/cli/fid_cli.h"
#include <math.h>
#include <string.h>

typedef struct {
  const EvalFid *c;
  Backend *be;
  Classifier *cls;
  char cls_hash[17], cache[4096];
  int use_cache, d, m;          // feature dim, KID subset size
  Schedule sched;
  int C, S, D;                  // image channels, side, floats per image
  FidStats test;
  float *test_feat;
  long ntest;
} Run;

// ---- sampling ----

// The fingerprint of set j's samples: every byte they depend on.
static void set_key(const Run *r, const EvalSubject *s, int j, char *out, size_t cap) {
  const EvalFid *c = r->c;
  Fingerprint f;
  fp_init(&f);
  fp_str(&f, "stepscope-eval-features/1");
  fp_str(&f, r->be->name);
  fp_str(&f, r->cls_hash);
  const SamplerCfg *sc = &c->sampler;
  int64_t nums[] = {sc->kind, sc->steps, sc->spacing, sc->clip_x0, c->n, (int64_t)(sc->seed + (uint64_t)j * c->n),
                    r->sched.kind, r->sched.T};
  fp_bytes(&f, nums, sizeof nums);
  fp_bytes(&f, &sc->eta, sizeof sc->eta);
  fp_file(&f, s->pm->plan.base);
  if (!s->base_only)
    for (int g = 0; g < s->pm->plan.ngroups; g++) {
      const PlanGroup *pg = &s->pm->plan.g[g];
      fp_bytes(&f, (int[]){pg->t0, pg->t1}, 2 * sizeof(int));
      if (s->pm->group[g]) fp_file(&f, pg->model);
    }
  char hex[17];
  fp_hex(&f, hex);
  snprintf(out, cap, "feat-%s", hex);
}

// MACs per sample of the sampler's run on s, and the base model's for the same run.
static void subject_macs(const Run *r, EvalSubject *s) {
  int T = r->sched.T, *cnt = xcalloc(T, sizeof(int));
  Err e;
  double macs = 0, base = 0;
  s->pm->base_only = s->base_only;
  if (sample_count_steps_per_t(&r->sched, &r->c->sampler, cnt, &e) >= 0)
    for (int t = 0; t < T; t++) {
      macs += cnt[t] * unet_macs(plan_models_at(s->pm, t));
      base += cnt[t] * unet_macs(s->pm->base);
    }
  s->gmacs = macs / 1e9;
  s->compute = base > 0 ? macs / base : NAN;
  free(cnt);
}

// One forward of every model at the run's batch size, so that first-use costs (arena sizing,
// cuDNN's algorithm search per shape) stay out of the sampling time.
static void warm_up(const Run *r, PlanModels *pm) {
  int wb = r->c->n < r->c->batch ? r->c->n : r->c->batch;
  float *x = xcalloc((size_t)wb * r->D, sizeof(float)), *eps = xmalloc(sizeof(float) * (size_t)wb * r->D);
  unet_eps_host(pm->base, 500, x, wb, eps);
  for (int g = 0; g < pm->plan.ngroups; g++)
    if (pm->group[g]) unet_eps_host(pm->group[g], (pm->plan.g[g].t0 + pm->plan.g[g].t1) / 2, x, wb, eps);
  free(x);
  free(eps);
}

// Set j of s: its n samples (image i from noise seed seed + j n + i) into x, timed.
static int sample_set(const Run *r, EvalSubject *s, int j, float *x) {
  const EvalFid *c = r->c;
  Err e;
  s->pm->base_only = s->base_only;
  double t0 = now_sec();
  for (int i0 = 0; i0 < c->n; i0 += c->batch) {
    int nb = c->n - i0 < c->batch ? c->n - i0 : c->batch;
    SamplerCfg sc = c->sampler;
    sc.seed = c->sampler.seed + (uint64_t)j * c->n + (uint64_t)i0;  // as `sample` seeds image i
    if (sample_run_split(&r->sched, &sc, nb, r->C, r->S, r->S, &plan_models_split, s->pm, NULL, NULL,
                         x + (size_t)i0 * r->D, &e) < 0) {
      fprintf(stderr, "stepscope: %s\n", e.msg);
      return -1;
    }
  }
  r->be->sync(r->be);
  s->sec += now_sec() - t0;
  return 0;
}

// The features of every set of s, from the cache where they are, else sampled (and cached).
static int subject_features(Run *r, EvalSubject *s, int want_png) {
  const EvalFid *c = r->c;
  float *x = NULL;
  int warm = 0;
  s->sets = c->sets;
  s->feat = xmalloc(sizeof(float) * (size_t)c->sets * c->n * r->d);
  subject_macs(r, s);
  for (int j = 0; j < c->sets; j++) {
    char key[64];
    float *f = s->feat + (size_t)j * c->n * r->d;
    set_key(r, s, j, key, sizeof key);
    if (!(want_png && j == 0) && r->use_cache && !eval_cache_load(r->cache, key, c->n, r->d, f)) continue;
    if (!x) x = xmalloc(sizeof(float) * (size_t)c->n * r->D);
    if (!warm++) warm_up(r, s->pm);
    if (c->sets > 1 && !c->csv)
      fprintf(stderr, "stepscope: sampling %s, seed set %d of %d (%d images)\n", s->role, j + 1, c->sets, c->n);
    if (sample_set(r, s, j, x)) { free(x); return -1; }
    s->sampled++;
    classifier_features(r->cls, x, c->n, 250, f, NULL);
    if (r->use_cache) eval_cache_save(r->cache, key, c->n, r->d, f);
    if (want_png && j == 0) {
      Err e;
      uint8_t *px;
      int gw, gh, k = c->n < 64 ? c->n : 64;
      image_grid(x, k, r->C, r->S, r->S, 8, 2, &px, &gw, &gh);
      if (png_write(c->out_png, px, gw, gh, r->C, NULL, &e)) fprintf(stderr, "stepscope: %s\n", e.msg);
      free(px);
    }
  }
  free(x);
  return 0;
}

// ---- real images: KID's test features and the floor ----

static int load_split_features(Run *r, int split, long want, uint64_t pick_seed, float **feat, long *n) {
  const char *data = r->c->data ? r->c->data : "fashion-mnist";
  Fingerprint f;
  fp_init(&f);
  fp_str(&f, "stepscope-eval-real/1");
  fp_str(&f, r->cls_hash);
  fp_str(&f, data);
  int64_t nums[] = {split, want, (int64_t)pick_seed};
  fp_bytes(&f, nums, sizeof nums);
  char key[64], hex[17];
  fp_hex(&f, hex);
  snprintf(key, sizeof key, "%s-%s", split == DATA_TEST ? "test" : "train", hex);
  // The cache holds `want` rows, or every row of the split when it has fewer; the row
  // count is stored in the file's shape, so try the request first.
  Dataset ds;
  Err e;
  *feat = xmalloc(sizeof(float) * want * r->d);
  if (r->use_cache && !eval_cache_load(r->cache, key, want, r->d, *feat)) { *n = want; return 0; }
  if (data_load(data, split, &ds, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); return -1; }
  if (ds.c != r->C || ds.h != r->S || ds.w != r->S) {
    fprintf(stderr, "stepscope: %s: images are %dx%dx%d, the samples %dx%dx%d\n", data, ds.c, ds.h, ds.w, r->C, r->S, r->S);
    data_free(&ds);
    return -1;
  }
  *n = want < ds.n ? want : ds.n;
  // A seeded shuffle picks the rows, so that disjoint sets of real images are random ones.
  long *perm = xmalloc(sizeof(long) * ds.n);
  float *x = xmalloc(sizeof(float) * (size_t)*n * r->D);
  Rng rng;
  rng_seed(&rng, pick_seed);
  for (long i = 0; i < ds.n; i++) perm[i] = i;
  for (long i = 0; i < *n; i++) {
    long k = i + rng_int(&rng, (int)(ds.n - i)), tmp = perm[i];
    perm[i] = perm[k];
    perm[k] = tmp;
    memcpy(x + i * r->D, ds.x + perm[i] * r->D, sizeof(float) * r->D);
  }
  classifier_features(r->cls, x, *n, 250, *feat, NULL);
  if (r->use_cache && *n == want) eval_cache_save(r->cache, key, want, r->d, *feat);
  free(perm);
  free(x);
  data_free(&ds);
  return 0;
}

// ---- scores ----

static void score(const Run *r, EvalSubject *s) {
  const int n = r->c->n, per = n / r->m;
  s->kid = xmalloc(sizeof(double) * (s->sets * per + 1));
  s->nkid = 0;
  for (int j = 0; j < s->sets; j++) {
    FidStats st;
    const float *f = s->feat + (size_t)j * n * r->d;
    fid_stats_from_features(f, n, r->d, &st);
    s->fid[j] = fid_distance(&st, &r->test).fid;
    fid_stats_free(&st);
    s->nkid += kid_subsets(f, n, r->test_feat, r->ntest, r->d, r->m, j * per, s->kid + s->nkid);
  }
}

int eval_fid_run(const EvalFid *c) {
  Err e;
  Run r = {.c = c};
  PlanModels pm = {0}, pm2 = {0};
  EvalSubject subj[3] = {0};  // candidate, reference, real images
  int nsubj = 0, status = 1;
  if (!(r.be = cli_backend(c->device, c->threads))) return 1;
  // A single model is a plan of one group: the same code samples both.
  if (c->plan ? plan_models_load(&pm, c->plan, r.be, 1, 0, &e)
              : (pm.base = ckpt_load_model(c->model, r.be, 1, NULL, &e)) ? 0 : -1) {
    fprintf(stderr, "stepscope: %s\n", e.msg);
    goto out;
  }
  if (!c->plan) snprintf(pm.plan.base, sizeof pm.plan.base, "%s", c->model);
  subj[nsubj++] = (EvalSubject){.role = c->plan ? "plan" : "model", .path = c->plan ? c->plan : c->model, .pm = &pm,
                            .base_only = !c->plan};
  if (c->against) {
    size_t k = strlen(c->against);
    int is_model = k > 12 && !strcmp(c->against + k - 12, ".safetensors");
    if (is_model ? !(pm2.base = ckpt_load_model(c->against, r.be, 1, NULL, &e)) : plan_models_load(&pm2, c->against, r.be, 1, 0, &e)) {
      fprintf(stderr, "stepscope: %s\n", e.msg);
      goto out;
    }
    if (is_model) snprintf(pm2.plan.base, sizeof pm2.plan.base, "%s", c->against);
    subj[nsubj++] = (EvalSubject){.role = "against", .path = c->against, .pm = &pm2, .base_only = is_model};
  } else if (c->plan) {
    subj[nsubj++] = (EvalSubject){.role = "base", .path = pm.plan.base, .pm = &pm, .base_only = 1};
  }
  char *sk_name = ckpt_meta(pm.plan.base, "schedule", &e);
  SchedKind sk = SCHED_LINEAR;
  if (sk_name) schedule_parse(sk_name, &sk);
  free(sk_name);
  schedule_init(&r.sched, sk, 1000);
  r.C = pm.base->cfg.in_ch, r.S = pm.base->cfg.img, r.D = r.C * r.S * r.S;
  for (int i = 1; i < nsubj; i++)
    if (subj[i].pm->base->cfg.in_ch != r.C || subj[i].pm->base->cfg.img != r.S) {
      fprintf(stderr, "stepscope: %s: makes other images than %s\n", subj[i].path, subj[0].path);
      goto sched_out;
    }

  // The classifier, the test statistics (FID) and the test features (KID).
  char cpath[4096], spath[4096];
  asset_path(FID_CLASSIFIER_ASSET, cpath, sizeof cpath);
  asset_path(FID_STATS_ASSET, spath, sizeof spath);
  if (!(r.cls = classifier_load(cpath, r.be, &e))) { fprintf(stderr, "stepscope: %s\n", e.msg); goto sched_out; }
  classifier_hash(r.cls, r.cls_hash);
  if (fid_stats_load(spath, r.cls_hash, &r.test, &e)) { fprintf(stderr, "stepscope: %s\n", e.msg); goto cls_out; }
  if (r.C != r.cls->cfg.in_ch || r.S != r.cls->cfg.img) {
    fprintf(stderr, "stepscope: %s: FID-FMNIST needs %dx%dx%d images, the model makes %dx%dx%d\n", subj[0].path,
            r.cls->cfg.in_ch, r.cls->cfg.img, r.cls->cfg.img, r.C, r.S, r.S);
    goto cls_out;
  }
  r.d = r.test.d;
  r.m = c->kid_subset > 0 ? c->kid_subset : c->n >= 2000 ? 1000 : c->n / 2;
  if (r.m < 2 || r.m > c->n) {
    fprintf(stderr, "stepscope: --kid-subset: a KID subset of %d images does not fit %d samples per set\n", r.m, c->n);
    status = 2;
    goto cls_out;
  }
  r.use_cache = eval_cache_dir(c->cache, r.cache, sizeof r.cache) == 0;
  if (c->n <= r.d)
    fprintf(stderr, "stepscope: note: %d images for %d features: the covariance is singular and FID-FMNIST "
            "is strongly biased upwards; use a few thousand images\n", c->n, r.d);
  if (load_split_features(&r, DATA_TEST, 10000, 0x7e57, &r.test_feat, &r.ntest)) goto cls_out;

  for (int i = 0; i < nsubj; i++) {
    if (subject_features(&r, &subj[i], i == 0 && c->out_png)) goto cls_out;
    score(&r, &subj[i]);
  }
  // The floor: disjoint sets of n training images, scored as the samples are.
  EvalSubject *real = &subj[nsubj++];
  *real = (EvalSubject){.role = "real", .path = ""};
  long nreal;
  if (load_split_features(&r, DATA_TRAIN, (long)c->n * c->sets, 0xf100f, &real->feat, &nreal)) goto cls_out;
  real->sets = (int)(nreal / c->n);
  real->gmacs = real->compute = NAN;
  if (real->sets < c->sets)
    fprintf(stderr, "stepscope: note: the training split holds %ld images: the floor has %d set%s of %d\n", nreal,
            real->sets, real->sets == 1 ? "" : "s", c->n);
  score(&r, real);
  eval_report(c, subj, nsubj, r.m, r.be->name);
  status = 0;
cls_out:
  for (int i = 0; i < nsubj; i++) { free(subj[i].feat); free(subj[i].kid); }
  free(r.test_feat);
  fid_stats_free(&r.test);
  classifier_free(r.cls);
sched_out:
  schedule_free(&r.sched);
out:
  plan_models_free(&pm);
  plan_models_free(&pm2);
  r.be->destroy(r.be);
  return status;
}
