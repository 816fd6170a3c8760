/* api_errors.c -- bad use of a seed_net library (built with --train)
   through its API: each case prints "CASE rc=N: MESSAGE" and must return
   the header's code; the shell test checks the messages. Files come from
   the scratch folder DIR that tests/cli/aot_build.sh prepares.
     api_errors DIR          all cases; exit 1 when a code is not the expected one
     api_errors save PATH    one save of a fresh context into PATH, which must
                             fail with ERR_IO (a file size limit, a read-only folder) */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "seed_net.h"

#define B 4
#define N (B * 10)

static int bad_codes;

/* One case: the code must be `want`; the message is printed for the shell. */
static void expect(const char *name, int rc, int want, const seed_net_ctx *ctx) {
  printf("%s rc=%d: %s\n", name, rc, seed_net_last_error(ctx));
  if (rc != want) {
    printf("WRONG CODE for %s: %d, expected %d\n", name, rc, want);
    bad_codes++;
  }
}

static void path_in(char *buf, size_t cap, const char *dir, const char *name) {
  snprintf(buf, cap, "%s/%s", dir, name);
}

/* forward at batch B into out; the code. */
static int fwd(seed_net_ctx *c, const float *x, float *out) {
  return seed_net_forward(c, B, x, N, out, N);
}

static void calls(seed_net_ctx *c, const float *x, const float *t) {
  float out[N], big[N + 10], before[N];
  expect("forward-before", fwd(c, x, before), SEED_NET_OK, c);
  expect("null-ctx-forward", seed_net_forward(NULL, B, x, N, out, N), SEED_NET_ERR_ARG, NULL);
  expect("null-ctx-train", seed_net_train_step(NULL, B, x, N, t, N, NULL, NULL), SEED_NET_ERR_ARG,
         NULL);
  expect("null-ctx-load", seed_net_load(NULL, "x.st"), SEED_NET_ERR_ARG, NULL);
  expect("null-input", seed_net_forward(c, B, NULL, N, out, N), SEED_NET_ERR_ARG, c);
  expect("null-target", seed_net_train_step(c, B, x, N, NULL, N, NULL, NULL), SEED_NET_ERR_ARG, c);
  expect("batch-0", seed_net_forward(c, 0, x, 0, out, 0), SEED_NET_ERR_BATCH, c);
  expect("batch-negative", seed_net_forward(c, -3, x, N, out, N), SEED_NET_ERR_BATCH, c);
  expect("train-batch-0", seed_net_train_step(c, 0, x, 0, t, 0, NULL, NULL), SEED_NET_ERR_BATCH, c);
  expect("input-count", seed_net_forward(c, B, x, N - 1, out, N), SEED_NET_ERR_SIZE, c);
  expect("output-count", seed_net_forward(c, B, x, N, big, N + 10), SEED_NET_ERR_SIZE, c);
  expect("target-count", seed_net_train_step(c, B, x, N, t, N + 1, NULL, NULL), SEED_NET_ERR_SIZE,
         c);
  expect("huge-batch", seed_net_forward(c, INT64_MAX / 2, x, N, out, N), SEED_NET_ERR_BATCH, c);
  expect("param-data-range", seed_net_param_data(c, SEED_NET_NUM_PARAMS) ? 0 : SEED_NET_ERR_ARG,
         SEED_NET_ERR_ARG, c);
  expect("good-forward", fwd(c, x, out), SEED_NET_OK, c);
  if (*seed_net_last_error(c)) printf("MESSAGE LEFT after a success\n"), bad_codes++;
  if (seed_net_steps(c) != 0) printf("a failed train_step counted as a step\n"), bad_codes++;
  if (memcmp(before, out, sizeof out)) printf("PARAMS CHANGED by a failed call\n"), bad_codes++;
}

/* Every failed load must leave the params as they were: the forward
   output after it equals the one before, bit for bit. */
static void loads(seed_net_ctx *c, const char *dir, const float *x) {
  static const struct {
    const char *name, *file;
    int want;
  } cases[] = {
      {"load-missing", "none.st", SEED_NET_ERR_IO},
      {"load-directory", "dir", SEED_NET_ERR_IO},
      {"load-truncated", "trunc.st", SEED_NET_ERR_FORMAT},
      {"load-truncated-data", "trunc2.st", SEED_NET_ERR_FORMAT},
      {"load-foreign", "foreign.txt", SEED_NET_ERR_FORMAT},
      {"load-empty", "empty.st", SEED_NET_ERR_FORMAT},
      {"load-other-model", "mlp.st", SEED_NET_ERR_SHAPE}, /* mlp's fc1 is [512,784] */
      {"load-wrong-names", "renamed.st", SEED_NET_ERR_NAME}, /* fc1 renamed layer1 */
      {"load-wrong-shapes", "wide.st", SEED_NET_ERR_SHAPE},
  };
  float before[N], after[N];
  char path[4096];
  expect("load-before", fwd(c, x, before), SEED_NET_OK, c);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    path_in(path, sizeof path, dir, cases[i].file);
    expect(cases[i].name, seed_net_load(c, path), cases[i].want, c);
    if (fwd(c, x, after) || memcmp(before, after, sizeof before))
      printf("PARAMS CHANGED by %s\n", cases[i].name), bad_codes++;
  }
  path_in(path, sizeof path, dir, "good.st");
  expect("load-good", seed_net_load(c, path), SEED_NET_OK, c);
  printf("steps after load-good: %lld\n", (long long)seed_net_steps(c));
  if (fwd(c, x, after) || !memcmp(before, after, sizeof before))
    printf("load-good did not change the params\n"), bad_codes++;
}

static void saves(seed_net_ctx *c, const char *dir) {
  char path[4096];
  path_in(path, sizeof path, dir, "plain/x.st"); /* plain is a regular file */
  expect("save-not-a-dir", seed_net_save(c, path), SEED_NET_ERR_IO, c);
  path_in(path, sizeof path, dir, "dir");
  expect("save-is-a-dir", seed_net_save(c, path), SEED_NET_ERR_IO, c);
  path_in(path, sizeof path, dir, "nodir/x.st");
  expect("save-no-dir", seed_net_save(c, path), SEED_NET_ERR_IO, c);
  expect("save-null", seed_net_save(c, NULL), SEED_NET_ERR_ARG, c);
  path_in(path, sizeof path, dir, "saved.st");
  expect("save-good", seed_net_save(c, path), SEED_NET_OK, c);
  /* what save wrote, load reads back: another context then computes the same */
  seed_net_config cfg = {77, 1};
  seed_net_ctx *d = NULL;
  expect("create-second", seed_net_create(&cfg, &d), SEED_NET_OK, NULL);
  if (!d) return;
  float x[N], a[N], b[N];
  for (int i = 0; i < N; i++) x[i] = (float)(i % 5) - 2.0f;
  expect("load-saved", seed_net_load(d, path), SEED_NET_OK, d);
  if (fwd(c, x, a) || fwd(d, x, b) || memcmp(a, b, sizeof a))
    printf("SAVED AND LOADED DIFFER\n"), bad_codes++;
  printf("steps after load-saved: %lld\n", (long long)seed_net_steps(d));
  seed_net_destroy(d);
}

static void fill(float *v, int n, float scale) {
  for (int i = 0; i < n; i++) v[i] = scale * sinf(0.7f * (float)i + 0.3f);
}

int main(int argc, char **argv) {
  if (argc != 2 && !(argc == 3 && !strcmp(argv[1], "save"))) {
    fprintf(stderr, "usage: api_errors DIR | api_errors save PATH\n");
    return 2;
  }
  seed_net_config cfg;
  seed_net_config_default(&cfg);
  cfg.seed = 9;
  cfg.threads = 1;
  seed_net_ctx *c = NULL;
  expect("create", seed_net_create(&cfg, &c), SEED_NET_OK, NULL);
  expect("create-null-out", seed_net_create(&cfg, NULL), SEED_NET_ERR_ARG, NULL);
  if (!c) return 1;
  float x[N], t[N];
  fill(x, N, 1.0f);
  fill(t, N, 0.5f);
  if (argc == 3) {
    expect("save-fail", seed_net_save(c, argv[2]), SEED_NET_ERR_IO, c);
  } else {
    calls(c, x, t);
    loads(c, argv[1], x);
    saves(c, argv[1]);
  }
  seed_net_destroy(c);
  printf("%d wrong codes\n", bad_codes);
  return bad_codes ? 1 : 0;
}
