/* grad_apply.c -- the two halves of an mlp library's training step (built
   with --train), mlp_grad and mlp_apply, as a data-parallel program calls
   them with its own allreduce:
   - from the same initial params, STEPS iterations of grad then apply on a
     batch give what STEPS train_steps on it give (the loss, every param
     and optimizer state tensor; the program prints whether they are
     bit-identical and the largest relative difference, and fails above
     1e-6);
   - two simulated ranks: each runs grad on one half of the batch, the
     program averages the two gradients and both apply the mean; both
     ranks hold the same params. The mean gradient equals the whole
     batch's, and the mean loss its loss, within 1e-5 (the loss is a mean
     over the batch). With SGD (a library built with --optimizer sgd) the
     params after the step equal one train_step's on the whole batch within
     1e-5 too. Adam divides each element by its own running magnitude, so
     the rounding of a gradient element near zero (the halves sum in
     another order) shows in the update: its params are only held to 1e-3
     here (measured: about 1e-4 on this batch);
   - grad+apply and train_step interleave on one context, and the step
     count and the optimizer state carry over;
   - bad calls return the header's codes with messages ("CASE rc=N:
     MESSAGE") and change nothing.
   A difference is relative to the tensor's largest magnitude. Exit 0 when
   every check holds, 1 otherwise.
     grad_apply adam|sgd      the optimizer the library was built with */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#define PIXELS 784
#define CLASSES 10
#define BATCH 32 /* even: two halves */
#define STEPS 3
#define EXACT_TOL 1e-6
#define RANKS_TOL 1e-5
#define ADAM_RANKS_TOL 1e-3

static int failures;
static int sgd; /* the library's optimizer is SGD (else Adam) */

static void check(int ok, const char *what) {
  if (!ok) {
    printf("FAILED: %s\n", what);
    failures++;
  }
}

/* ---- data and buffers ------------------------------------------------------------- */

static float x[BATCH * PIXELS];
static int32_t y[BATCH];

/* A fixed batch: pixels in [-1, 1) from a small LCG, labels cycling. */
static void make_batch(void) {
  uint32_t s = 12345;
  for (int i = 0; i < BATCH * PIXELS; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
  }
  for (int i = 0; i < BATCH; i++) y[i] = (i * 7) % CLASSES;
}

static size_t param_numel(int i) {
  int64_t dims[8];
  int rank = mlp_param_shape(i, dims);
  size_t n = 1;
  for (int k = 0; k < rank; k++) n *= (size_t)dims[k];
  return n;
}

/* One buffer per gradient, with its element count. */
typedef struct Grads {
  float *g[MLP_NUM_GRADS];
  size_t n[MLP_NUM_GRADS];
} Grads;

static void grads_alloc(Grads *g) {
  for (int k = 0; k < MLP_NUM_GRADS; k++) {
    g->n[k] = param_numel(mlp_grad_param(k));
    g->g[k] = calloc(g->n[k], sizeof(float));
  }
}

static void grads_free(Grads *g) {
  for (int k = 0; k < MLP_NUM_GRADS; k++) free(g->g[k]);
}

static mlp_ctx *make(void) {
  mlp_config cfg = {7, 2};
  mlp_ctx *c = NULL;
  if (mlp_create(&cfg, &c)) {
    printf("create: %s\n", mlp_last_error(NULL));
    exit(1);
  }
  return c;
}

static mlp_hyper hyper(void) {
  mlp_hyper h;
  mlp_hyper_default(&h);
  h.lr = 1e-2; /* large enough that the params move visibly */
  if (sgd) h.momentum = 0.9;
  return h;
}

/* grad on samples [first, first + n) of the batch into g (_v: for any model). */
static int grad_on(mlp_ctx *c, int first, int n, Grads *g, float *loss) {
  const void *in[2] = {x + (size_t)first * PIXELS, y + first};
  size_t in_n[2] = {(size_t)n * PIXELS, (size_t)n};
  return mlp_grad_v(c, n, in, in_n, (void *const *)g->g, g->n, loss);
}

static int apply(mlp_ctx *c, const Grads *g, const mlp_hyper *h) {
  return mlp_apply_v(c, (const void *const *)g->g, g->n, h);
}

/* ---- comparing contexts ------------------------------------------------------------- */

/* The largest difference of a and b over every param and optimizer state
   tensor, each relative to its largest magnitude; *same: all bit-identical. */
static double max_rel_diff(mlp_ctx *a, mlp_ctx *b, int *same) {
  double worst = 0;
  *same = 1;
  for (int i = 0; i < mlp_param_count(); i++) {
    const float *p = mlp_param_data(a, i), *q = mlp_param_data(b, i);
    size_t n = param_numel(i);
    double scale = 0, diff = 0;
    for (size_t k = 0; k < n; k++) {
      scale = fmax(scale, fmax(fabs(p[k]), fabs(q[k])));
      diff = fmax(diff, fabs((double)p[k] - q[k]));
    }
    if (memcmp(p, q, n * sizeof *p)) *same = 0;
    if (diff > 0) worst = fmax(worst, diff / fmax(scale, 1e-30));
  }
  return worst;
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fmax(fabs(a), fabs(b)), 1e-30); }

/* ---- the checks ------------------------------------------------------------------------ */

/* STEPS train_steps against STEPS x (grad, apply) through the typed entries. */
static void train_step_equals_grad_apply(void) {
  mlp_ctx *a = make(), *b = make();
  mlp_hyper h = hyper();
  Grads g;
  grads_alloc(&g);
  int same_loss = 1, same = 1;
  double worst = 0, worst_loss = 0;
  for (int s = 0; s < STEPS; s++) {
    float la = 0, lb = 0;
    int rc = mlp_train_step(a, BATCH, x, sizeof x / sizeof *x, y, BATCH, &h, &la);
    if (rc) printf("train_step: %s\n", mlp_last_error(a));
    check(rc == MLP_OK, "train_step");
    rc = mlp_grad(b, BATCH, x, sizeof x / sizeof *x, y, BATCH, g.g[0], g.n[0], g.g[1], g.n[1],
                  g.g[2], g.n[2], g.g[3], g.n[3], g.g[4], g.n[4], g.g[5], g.n[5], &lb);
    if (rc) printf("grad: %s\n", mlp_last_error(b));
    check(rc == MLP_OK, "grad");
    check(mlp_steps(b) == s, "grad does not count a step");
    rc = mlp_apply(b, g.g[0], g.n[0], g.g[1], g.n[1], g.g[2], g.n[2], g.g[3], g.n[3], g.g[4],
                   g.n[4], g.g[5], g.n[5], &h);
    if (rc) printf("apply: %s\n", mlp_last_error(b));
    check(rc == MLP_OK, "apply");
    same_loss &= la == lb;
    worst_loss = fmax(worst_loss, rel(la, lb));
    int same_now;
    worst = fmax(worst, max_rel_diff(a, b, &same_now));
    same &= same_now;
    if (s == 0) printf("loss at step 1: %.6f\n", la);
  }
  check(mlp_steps(a) == STEPS && mlp_steps(b) == STEPS, "step counts");
  printf("train_step vs grad+apply: %d steps, %d tensors bit-identical: %s, loss "
         "bit-identical: %s, max rel diff %.3g (loss %.3g)\n", STEPS, mlp_param_count(),
         same ? "yes" : "no", same_loss ? "yes" : "no", worst, worst_loss);
  check(worst <= EXACT_TOL && worst_loss <= EXACT_TOL, "train_step == grad+apply");
  grads_free(&g);
  mlp_destroy(a);
  mlp_destroy(b);
}

/* The largest difference of a and b, relative to each gradient's largest
   magnitude. */
static double grads_rel_diff(const Grads *a, const Grads *b) {
  double worst = 0;
  for (int k = 0; k < MLP_NUM_GRADS; k++) {
    double scale = 0, diff = 0;
    for (size_t e = 0; e < a->n[k]; e++) {
      scale = fmax(scale, fmax(fabs(a->g[k][e]), fabs(b->g[k][e])));
      diff = fmax(diff, fabs((double)a->g[k][e] - b->g[k][e]));
    }
    if (diff > 0) worst = fmax(worst, diff / fmax(scale, 1e-30));
  }
  return worst;
}

/* Two ranks on half a batch each, averaging their gradients, against one
   context stepping on the whole batch (and its gradient, taken first: grad
   changes no param of mlp, which has no buffers). */
static void two_ranks_equal_one(void) {
  mlp_ctx *whole = make(), *r[2] = {make(), make()};
  mlp_hyper h = hyper();
  Grads g[2], gw;
  grads_alloc(&g[0]);
  grads_alloc(&g[1]);
  grads_alloc(&gw);
  double worst = 0, worst_loss = 0, worst_grad = 0;
  int ranks_same = 1;
  for (int s = 0; s < STEPS; s++) {
    float lw = 0, lg = 0, l[2] = {0, 0};
    check(grad_on(whole, 0, BATCH, &gw, &lg) == MLP_OK, "grad on the whole batch");
    check(mlp_train_step(whole, BATCH, x, sizeof x / sizeof *x, y, BATCH, &h, &lw) == MLP_OK,
          "train_step on the whole batch");
    check(lg == lw, "grad's loss is train_step's");
    for (int k = 0; k < 2; k++)
      check(grad_on(r[k], k * BATCH / 2, BATCH / 2, &g[k], &l[k]) == MLP_OK, "grad on a half");
    /* the allreduce: sum over the ranks, divide by their number */
    for (int k = 0; k < MLP_NUM_GRADS; k++)
      for (size_t e = 0; e < g[0].n[k]; e++) {
        float mean = (g[0].g[k][e] + g[1].g[k][e]) / 2.0f;
        g[0].g[k][e] = g[1].g[k][e] = mean;
      }
    worst_grad = fmax(worst_grad, grads_rel_diff(&g[0], &gw));
    for (int k = 0; k < 2; k++) check(apply(r[k], &g[k], &h) == MLP_OK, "apply the mean");
    int same, same_ranks;
    worst = fmax(worst, max_rel_diff(whole, r[0], &same));
    max_rel_diff(r[0], r[1], &same_ranks);
    ranks_same &= same_ranks;
    worst_loss = fmax(worst_loss, rel(lw, ((double)l[0] + l[1]) / 2));
  }
  printf("two ranks vs one (%s): %d steps, ranks bit-identical: %s, max rel diff: gradients "
         "%.3g, loss %.3g, params %.3g\n", sgd ? "sgd" : "adam", STEPS, ranks_same ? "yes" : "no",
         worst_grad, worst_loss, worst);
  check(ranks_same, "the ranks agree");
  check(worst_grad <= RANKS_TOL && worst_loss <= RANKS_TOL, "two ranks' gradients == one's");
  check(worst <= (sgd ? RANKS_TOL : ADAM_RANKS_TOL), "two ranks' params == one's");
  check(mlp_steps(r[0]) == STEPS, "the ranks' step count");
  grads_free(&g[0]);
  grads_free(&g[1]);
  grads_free(&gw);
  mlp_destroy(whole);
  mlp_destroy(r[0]);
  mlp_destroy(r[1]);
}

/* train, grad+apply, train on one context == three train_steps; the
   optimizer state ("fc1.weight.exp_avg") is the one both use. */
static void interleaved(void) {
  mlp_ctx *a = make(), *b = make();
  mlp_hyper h = hyper();
  Grads g;
  grads_alloc(&g);
  size_t nx = sizeof x / sizeof *x;
  for (int s = 0; s < 3; s++)
    check(mlp_train_step(a, BATCH, x, nx, y, BATCH, &h, NULL) == MLP_OK, "train_step");
  check(mlp_train_step(b, BATCH, x, nx, y, BATCH, &h, NULL) == MLP_OK, "train_step");
  check(grad_on(b, 0, BATCH, &g, NULL) == MLP_OK && apply(b, &g, &h) == MLP_OK, "grad+apply");
  check(mlp_train_step(b, BATCH, x, nx, y, BATCH, &h, NULL) == MLP_OK, "train_step");
  int same;
  double d = max_rel_diff(a, b, &same);
  int st = mlp_param_find(sgd ? "fc1.weight.momentum_buffer" : "fc1.weight.exp_avg");
  const float *m = st >= 0 ? mlp_param_data(b, st) : NULL;
  int moved = 0;
  for (size_t k = 0; m && k < param_numel(st); k++) moved |= m[k] != 0;
  printf("interleaved: steps %lld, state moved: %s, max rel diff %.3g\n",
         (long long)mlp_steps(b), moved ? "yes" : "no", d);
  check(mlp_steps(b) == 3 && moved && d <= EXACT_TOL, "interleaved");
  grads_free(&g);
  mlp_destroy(a);
  mlp_destroy(b);
}

/* ---- bad calls --------------------------------------------------------------------------- */

static void expect(const char *name, int rc, int want, const mlp_ctx *c) {
  printf("%s rc=%d: %s\n", name, rc, mlp_last_error(c));
  if (rc != want) printf("WRONG CODE for %s: %d, expected %d\n", name, rc, want), failures++;
}

/* A checksum of every param and state tensor and the step count. */
static double state_sum(mlp_ctx *c) {
  double s = (double)mlp_steps(c);
  for (int i = 0; i < mlp_param_count(); i++) {
    const float *p = mlp_param_data(c, i);
    for (size_t k = 0; k < param_numel(i); k++) s += p[k] * (double)(k % 7 + 1);
  }
  return s;
}

static void bad_calls(void) {
  mlp_ctx *c = make();
  mlp_hyper h = hyper();
  Grads g;
  grads_alloc(&g);
  size_t nx = sizeof x / sizeof *x;
  check(mlp_train_step(c, BATCH, x, nx, y, BATCH, &h, NULL) == MLP_OK, "a first step");
  double before = state_sum(c);
  float *keep = g.g[0];
  size_t keep_n = g.n[3];
  const void *in[2] = {x, y};
  size_t in_n[2] = {nx, BATCH};
  expect("grad-null-ctx", mlp_grad_v(NULL, BATCH, in, in_n, (void *const *)g.g, g.n, NULL),
         MLP_ERR_ARG, NULL);
  expect("apply-null-ctx", apply(NULL, &g, &h), MLP_ERR_ARG, NULL);
  expect("grad-null-array", mlp_grad_v(c, BATCH, in, in_n, NULL, g.n, NULL), MLP_ERR_ARG, c);
  expect("grad-null-counts", mlp_grad_v(c, BATCH, in, in_n, (void *const *)g.g, NULL, NULL),
         MLP_ERR_ARG, c);
  g.g[0] = NULL;
  expect("grad-null-buffer", grad_on(c, 0, BATCH, &g, NULL), MLP_ERR_ARG, c);
  expect("apply-null-buffer", apply(c, &g, &h), MLP_ERR_ARG, c);
  g.g[0] = keep;
  g.n[3] = keep_n - 1;
  expect("grad-count", grad_on(c, 0, BATCH, &g, NULL), MLP_ERR_SIZE, c);
  g.n[3] = keep_n;
  g.n[0] = 5;
  expect("apply-count", apply(c, &g, &h), MLP_ERR_SIZE, c);
  g.n[0] = param_numel(MLP_PARAM_FC1_WEIGHT);
  expect("apply-null-array", mlp_apply_v(c, NULL, g.n, &h), MLP_ERR_ARG, c);
  expect("grad-batch-0", mlp_grad_v(c, 0, in, in_n, (void *const *)g.g, g.n, NULL), MLP_ERR_BATCH,
         c);
  in_n[0] = nx - 1;
  expect("grad-input-count", mlp_grad_v(c, BATCH, in, in_n, (void *const *)g.g, g.n, NULL),
         MLP_ERR_SIZE, c);
  in_n[0] = nx;
  y[3] = CLASSES;
  expect("grad-label", grad_on(c, 0, BATCH, &g, NULL), MLP_ERR_INDEX, c);
  y[3] = (3 * 7) % CLASSES;
  check(mlp_grad_param(-1) == -1 && mlp_grad_param(MLP_NUM_GRADS) == -1 &&
            mlp_grad_param(0) == MLP_PARAM_FC1_WEIGHT &&
            mlp_grad_param(MLP_NUM_GRADS - 1) == MLP_PARAM_FC3_BIAS,
        "grad_param");
  check(state_sum(c) == before, "a failed call changed the params or the step count");
  expect("good-grad", grad_on(c, 0, BATCH, &g, NULL), MLP_OK, c);
  check(state_sum(c) == before, "grad changed the params or the step count");
  expect("good-apply", apply(c, &g, &h), MLP_OK, c);
  check(mlp_steps(c) == 2, "apply counts a step");
  grads_free(&g);
  mlp_destroy(c);
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "adam") && strcmp(argv[1], "sgd"))) {
    fprintf(stderr, "usage: grad_apply adam|sgd\n");
    return 2;
  }
  sgd = !strcmp(argv[1], "sgd");
  make_batch();
  train_step_equals_grad_apply();
  two_ranks_equal_one();
  interleaved();
  bad_calls();
  printf("%d failures\n", failures);
  if (!failures) printf("ok\n");
  return failures ? 1 : 0;
}
