/* grad_buffers.c -- a resnet_mini library (built with --train, prefix rn):
   a model with buffers (batch norm's running statistics), which the
   gradient program updates in the context as the training step does. From
   the same initial params, STEPS iterations of rn_grad_v then rn_apply_v
   on a batch must leave every param, buffer and optimizer state tensor
   and the loss bit-identical to STEPS rn_train_step_v; one rn_grad_v alone
   must move the running statistics and nothing it trains. Exit 0 when all
   holds.
     grad_buffers */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn.h"

#define BATCH 8
#define PIXELS 784
#define STEPS 3

/* Every param of resnet_mini is f32. */
static size_t param_bytes(int i) {
  int64_t dims[8];
  int rank = rn_param_shape(i, dims);
  size_t n = sizeof(float);
  for (int k = 0; k < rank; k++) n *= (size_t)dims[k];
  return n;
}

static rn_ctx *make(void) {
  rn_config cfg = {3, 2};
  rn_ctx *c = NULL;
  if (rn_create(&cfg, &c)) {
    printf("create: %s\n", rn_last_error(NULL));
    exit(1);
  }
  return c;
}

/* The params that differ between a and b. */
static int differing(rn_ctx *a, rn_ctx *b) {
  int n = 0;
  for (int i = 0; i < rn_param_count(); i++)
    n += memcmp(rn_param_data(a, i), rn_param_data(b, i), param_bytes(i)) != 0;
  return n;
}

int main(void) {
  static float x[BATCH * PIXELS];
  int32_t y[BATCH];
  uint32_t s = 1;
  for (int i = 0; i < BATCH * PIXELS; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
  }
  for (int i = 0; i < BATCH; i++) y[i] = i % 10;
  const void *in[2] = {x, y};
  size_t in_n[2] = {BATCH * PIXELS, BATCH};
  void *g[RN_NUM_GRADS];
  size_t g_n[RN_NUM_GRADS];
  for (int k = 0; k < RN_NUM_GRADS; k++) {
    g_n[k] = param_bytes(rn_grad_param(k)) / sizeof(float);
    g[k] = calloc(g_n[k], sizeof(float));
  }
  rn_hyper h;
  rn_hyper_default(&h);
  h.lr = 1e-2;
  int bad = 0;

  /* grad alone: the running statistics move, the trained params do not */
  rn_ctx *a = make(), *b = make();
  if (rn_grad_v(b, BATCH, in, in_n, g, g_n, NULL)) return printf("grad: %s\n", rn_last_error(b)), 1;
  int mean = rn_param_find("bn1.running_mean"), moved_trained = 0;
  for (int k = 0; k < RN_NUM_GRADS; k++) {
    int i = rn_grad_param(k);
    moved_trained += memcmp(rn_param_data(a, i), rn_param_data(b, i), param_bytes(i)) != 0;
  }
  int moved_stats = memcmp(rn_param_data(a, mean), rn_param_data(b, mean), param_bytes(mean)) != 0;
  printf("grad alone: running statistics moved: %s, trained params moved: %d, steps %lld\n",
         moved_stats ? "yes" : "no", moved_trained, (long long)rn_steps(b));
  bad |= !moved_stats || moved_trained || rn_steps(b) != 0;
  rn_destroy(b);

  /* train_step against grad + apply */
  b = make();
  for (int step = 1; step <= STEPS; step++) {
    float la = 0, lb = 0;
    if (rn_train_step_v(a, BATCH, in, in_n, &h, &la))
      return printf("train_step: %s\n", rn_last_error(a)), 1;
    if (rn_grad_v(b, BATCH, in, in_n, g, g_n, &lb) ||
        rn_apply_v(b, (const void *const *)g, g_n, &h))
      return printf("grad/apply: %s\n", rn_last_error(b)), 1;
    int n = differing(a, b);
    printf("step %d: loss %s, %d of %d tensors differ\n", step, la == lb ? "bit-identical" : "DIFFERS",
           n, rn_param_count());
    bad |= la != lb || n != 0;
  }
  for (int k = 0; k < RN_NUM_GRADS; k++) free(g[k]);
  rn_destroy(a);
  rn_destroy(b);
  printf(bad ? "FAILED\n" : "ok\n");
  return bad;
}
