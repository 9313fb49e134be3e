// Schedule values against numbers computed independently (numpy, float64):
//   b = linspace(1e-4, 0.02, 1000); abar = cumprod(1 - b)  /  Improved DDPM's cosine, s = 0.008
#include "engine/rng.h"
#include "engine/schedule.h"
#include "test.h"

TEST(schedule_linear_values) {
  Schedule s;
  schedule_init(&s, SCHED_LINEAR, 1000);
  ASSERT_NEAR(s.beta[0], 1e-4, 1e-15, 0);
  ASSERT_NEAR(s.beta[999], 0.02, 1e-15, 0);
  ASSERT_NEAR(s.abar[999], 4.035829765375676e-05, 0, 1e-9);
  ASSERT_NEAR(s.abar[499], 0.07858724288177824, 0, 1e-9);
  ASSERT_NEAR(s.snr_db[0], 39.9995656838024, 1e-9, 0);
  ASSERT_NEAR(s.snr_db[999], -43.94049633208147, 1e-9, 0);
  for (int t = 1; t < 1000; t++) ASSERT(s.snr_db[t] < s.snr_db[t - 1]);
  schedule_free(&s);
}

TEST(schedule_cosine_values) {
  Schedule s;
  schedule_init(&s, SCHED_COSINE, 1000);
  ASSERT_NEAR(s.abar[999], 2.4287669070348567e-09, 0, 1e-6);
  ASSERT_NEAR(s.abar[499], 0.4938435904406382, 0, 1e-9);
  ASSERT_NEAR(s.snr_db[0], 43.84197935691029, 1e-9, 0);
  ASSERT_NEAR(s.snr_db[999], -86.14614162133495, 1e-6, 0);
  for (int t = 0; t < 1000; t++) ASSERT(s.beta[t] > 0 && s.beta[t] <= 0.999);
  schedule_free(&s);
}

TEST(schedule_parse_names) {
  SchedKind k;
  ASSERT(schedule_parse("cosine", &k) == 0 && k == SCHED_COSINE);
  ASSERT(schedule_parse("linear", &k) == 0 && k == SCHED_LINEAR);
  ASSERT(schedule_parse("quadratic", &k) == -1);
}

TEST(rng_reproducible_and_resumable) {
  Rng a, b;
  rng_seed(&a, 42);
  rng_seed(&b, 42);
  for (int i = 0; i < 100; i++) ASSERT(rng_u64(&a) == rng_u64(&b));
  rng_normal(&a);  // leaves a Box–Muller spare in the state
  char buf[128];
  rng_to_string(&a, buf, sizeof buf);
  Rng c;
  ASSERT(rng_from_string(&c, buf) == 0);
  for (int i = 0; i < 10; i++) ASSERT(rng_normal(&a) == rng_normal(&c));
  ASSERT(rng_from_string(&c, "zz") == -1);
}

TEST(rng_normal_moments) {
  Rng r;
  rng_seed(&r, 1);
  double s = 0, s2 = 0;
  int n = 200000;
  for (int i = 0; i < n; i++) { double x = rng_normal(&r); s += x; s2 += x * x; }
  ASSERT_NEAR(s / n, 0.0, 0.01, 0);
  ASSERT_NEAR(s2 / n, 1.0, 0.01, 0);
  for (int i = 0; i < 1000; i++) { int k = rng_int(&r, 7); ASSERT(k >= 0 && k < 7); }
}
