#include "tui/cli/eval_report.h"
#include "engine/stats.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { KID_SCALE = 1000 };  // KID-FMNIST is printed x 1e3: its values here are around 1e-4 .. 1e-2

// "plan assets/plan.txt", "base (the plan's)", "real training images".
static void describe(const EvalSubject *s, char *out, size_t cap) {
  if (!strcmp(s->role, "real")) snprintf(out, cap, "real training images");
  else if (!strcmp(s->role, "base")) snprintf(out, cap, "base (the plan's)");
  else snprintf(out, cap, "%s %s", s->role, s->path);
}

static void csv_rows(const char *subject, const char *measure, const double *v, int n, const char *per) {
  Summary m = summarize(v, n);
  for (int i = 0; i < n; i++) printf("%s,%s,%s,%d,%.9g\n", subject, measure, per, i, v[i]);
  printf("%s,%s,mean,,%.9g\n%s,%s,sd,,%.9g\n", subject, measure, m.mean, subject, measure, m.sd);
  if (n >= 2) printf("%s,%s,lo,,%.9g\n%s,%s,hi,,%.9g\n", subject, measure, m.lo, subject, measure, m.hi);
}

// The paired differences of a against b: per seed set (FID) and per subset (KID).
static void paired(const EvalSubject *a, const EvalSubject *b, double *dfid, double *dkid, int *nkid) {
  for (int j = 0; j < a->sets; j++) dfid[j] = a->fid[j] - b->fid[j];
  *nkid = a->nkid < b->nkid ? a->nkid : b->nkid;
  for (int k = 0; k < *nkid; k++) dkid[k] = a->kid[k] - b->kid[k];
}

static const char *sign_word(int s) { return s > 0 ? "worse" : s < 0 ? "better" : "indistinguishable"; }

void eval_verdict(char *out, size_t cap, const char *cand, const char *ref, int have_fid, int fid_sign,
                  int have_kid, int kid_sign, int n) {
  static const char *word[3] = {"better than", "not distinguishable from", "worse than"};
  if (have_fid && have_kid && fid_sign == kid_sign)
    snprintf(out, cap, "%s is %s %s at N = %d (FID-FMNIST and KID-FMNIST agree).", cand, word[fid_sign + 1], ref, n);
  else if (have_fid && have_kid)
    snprintf(out, cap, "%s is %s %s by FID-FMNIST and %s it by KID-FMNIST, at N = %d.", cand, word[fid_sign + 1], ref,
             word[kid_sign + 1], n);
  else if (have_fid || have_kid)
    snprintf(out, cap, "%s is %s %s by %s at N = %d (%s has no interval here).", cand,
             word[(have_fid ? fid_sign : kid_sign) + 1], ref, have_fid ? "FID-FMNIST" : "KID-FMNIST", n,
             have_fid ? "KID-FMNIST" : "FID-FMNIST");
  else
    snprintf(out, cap, "%s is not distinguishable from %s: no interval at N = %d with one seed set "
             "(use --seed-sets 3 or more).", cand, ref, n);
}

void eval_report(const EvalFid *c, const EvalSubject *s, int n, int m, const char *device) {
  const int has_ref = n == 3;
  const EvalSubject *cand = &s[0], *ref = has_ref ? &s[1] : NULL;
  double dfid[EVAL_MAX_SETS], *dkid = xmalloc(sizeof(double) * (cand->nkid + 1));
  int ndkid = 0;
  if (ref) paired(cand, ref, dfid, dkid, &ndkid);
  Summary fd = summarize(dfid, ref ? cand->sets : 0), kd = summarize(dkid, ndkid);
  Summary cf = summarize(cand->fid, cand->sets), ck = summarize(cand->kid, cand->nkid);
  char who[64], sentence[512];
  if (ref) {
    snprintf(who, sizeof who, "the %s", strcmp(ref->role, "base") ? "reference" : "base");
    eval_verdict(sentence, sizeof sentence, cand->role, who, fd.n >= 2, interval_sign(&fd), kd.n >= 2,
                 interval_sign(&kd), c->n);
  }
  if (c->csv) {
    printf("subject,measure,stat,index,value\n");
    printf("run,n,value,,%d\nrun,seed_sets,value,,%d\nrun,kid_subset,value,,%d\n", c->n, c->sets, m);
    for (int i = 0; i < n; i++) {
      csv_rows(s[i].role, "fid", s[i].fid, s[i].sets, "set");
      csv_rows(s[i].role, "kid", s[i].kid, s[i].nkid, "subset");
      if (!isnan(s[i].gmacs))
        printf("%s,gmacs_per_sample,value,,%.6g\n%s,compute,value,,%.6g\n%s,sample_sec,value,,%.3f\n", s[i].role,
               s[i].gmacs, s[i].role, s[i].compute, s[i].role, s[i].sec);
    }
    if (ref) {
      char d[64];
      snprintf(d, sizeof d, "%s-%s", cand->role, ref->role);
      csv_rows(d, "fid", dfid, fd.n, "set");
      csv_rows(d, "kid", dkid, kd.n, "subset");
      printf("%s,verdict,fid,,%s\n%s,verdict,kid,,%s\n", d, fd.n >= 2 ? sign_word(interval_sign(&fd)) : "none", d,
             kd.n >= 2 ? sign_word(interval_sign(&kd)) : "none");
    }
    free(dkid);
    return;
  }
  unsigned long long s0 = c->sampler.seed, s1 = s0 + (unsigned long long)c->n * c->sets - 1;
  printf("FID-FMNIST and KID-FMNIST: features of stepscope's own Fashion-MNIST classifier, not Inception;\n"
         "compare only values made with the same classifier, number of samples and sampler.\n"
         "%d seed set%s of %d samples (seeds %llu..%llu), %s %d steps; KID over subsets of %d, each against %d "
         "test images.\n\n", c->sets, c->sets > 1 ? "s" : "", c->n, s0, s1, sampler_name(c->sampler.kind),
         c->sampler.steps, m, m);
  printf("%-40s %-17s %-19s %-20s %s\n", "", "FID-FMNIST", "KID-FMNIST x1e3", "MACs per sample", "sampling");
  for (int i = 0; i < n; i++) {
    Summary f = summarize(s[i].fid, s[i].sets), k = summarize(s[i].kid, s[i].nkid);
    char d[256], macs[40] = "", when[64] = "";
    describe(&s[i], d, sizeof d);
    if (!isnan(s[i].gmacs)) snprintf(macs, sizeof macs, "%.3f G (%.1f %%)", s[i].gmacs, 100 * s[i].compute);
    if (!strcmp(s[i].role, "real")) snprintf(when, sizeof when, "the floor: real images vs the test statistics");
    else if (s[i].sampled) snprintf(when, sizeof when, "%.1f s for %d set%s on %s", s[i].sec, s[i].sampled,
                                    s[i].sampled > 1 ? "s" : "", device);
    else snprintf(when, sizeof when, "all from the cache");
    printf("%-40.40s %7.4f ± %-7.4f %8.4f ± %-8.4f %-20s %s\n", d, f.mean, f.sd, KID_SCALE * k.mean, KID_SCALE * k.sd,
           macs, when);
  }
  printf("\nFID-FMNIST per seed set:");
  for (int i = 0; i < n; i++) {
    printf("%s %s", i ? " |" : "", s[i].role);
    for (int j = 0; j < s[i].sets; j++) printf(" %.4f", s[i].fid[j]);
  }
  printf("\n");
  if (ref) {
    printf("\n%s - %s, paired (the same seeds, the same test subsets):\n", cand->role, ref->role);
    if (fd.n >= 2)
      printf("  FID-FMNIST       %+8.4f   95 %% interval [%+.4f, %+.4f]   over %d seed sets\n", fd.mean, fd.lo, fd.hi, fd.n);
    else printf("  FID-FMNIST       %+8.4f   no interval from one seed set (--seed-sets 3 or more)\n", fd.mean);
    if (kd.n >= 2)
      printf("  KID-FMNIST x1e3  %+8.4f   95 %% interval [%+.4f, %+.4f]   over %d subsets\n", KID_SCALE * kd.mean,
             KID_SCALE * kd.lo, KID_SCALE * kd.hi, kd.n);
    else printf("  KID-FMNIST x1e3  %+8.4f   no interval from one subset\n", KID_SCALE * kd.mean);
    printf("%s\n", sentence);
  }
  printf("result fid_fmnist=%.6f gmacs_per_sample=%.4f compute=%.4f sample_sec=%.3f n=%d sets=%d fid_sd=%.6f "
         "kid_fmnist=%.6g kid_sd=%.6g", cf.mean, cand->gmacs, cand->compute, cand->sec, c->n, c->sets, cf.sd, ck.mean,
         ck.sd);
  if (ref)
    printf(" diff_fid=%.6f diff_fid_lo=%.6f diff_fid_hi=%.6f diff_kid=%.6g diff_kid_lo=%.6g diff_kid_hi=%.6g", fd.mean,
           fd.lo, fd.hi, kd.mean, kd.lo, kd.hi);
  printf("\n");
  free(dkid);
}
