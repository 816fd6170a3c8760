/* mlp_demo.c -- a C program using a library made by
     modelc build examples/mlp.model -o libmlp.so --train
   through its header mlp.h: it creates a context, trains 20 Adam steps at
   batch 64 and then classifies held-out samples at batch 1 and batch 128.
   By default the data are synthetic, made here so that the demo needs no
   files: ten classes, each a fixed random 784-pixel prototype, every
   sample its class's prototype plus noise (separable, so the loss must
   fall). Given a folder, it reads Fashion-MNIST's test set there instead,
   as uncompressed IDX files (gzip -dc the .gz ones): it trains on the
   first 1280 images and classifies the last 128.
     mlp_demo [SEED [IDX_DIR]]      exit 0 on success, 1 on any failure */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#define PIXELS 784
#define CLASSES 10
#define TRAIN_BATCH 64
#define STEPS 20
#define TEST 128

/* A small deterministic generator (splitmix64), so runs are repeatable. */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static float uniform(uint64_t *s) { return (float)((next_u64(s) >> 40) * (1.0 / 16777216.0)); }

static float prototypes[CLASSES][PIXELS];

static void make_prototypes(void) {
  uint64_t s = 12345;
  for (int c = 0; c < CLASSES; c++)
    for (int p = 0; p < PIXELS; p++) prototypes[c][p] = uniform(&s) < 0.5f ? 0.0f : 1.0f;
}

/* n samples: pixels of the class prototype plus uniform noise in [-0.75, 0.75]. */
static void make_batch(uint64_t *s, int n, float *x, int32_t *y) {
  for (int i = 0; i < n; i++) {
    int c = (int)(next_u64(s) % CLASSES);
    y[i] = c;
    for (int p = 0; p < PIXELS; p++) x[i * PIXELS + p] = prototypes[c][p] + 1.5f * (uniform(s) - 0.5f);
  }
}

/* ---- Fashion-MNIST (IDX files, big-endian header) ---------------------------------- */

static float *idx_x;   /* normalized pixels, PIXELS per image */
static int32_t *idx_y; /* labels */
static int idx_n, idx_next;

static uint32_t be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The whole file; NULL (and a message) when it cannot be read. */
static unsigned char *slurp(const char *dir, const char *name, long *n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  unsigned char *d = NULL;
  if (f && fseek(f, 0, SEEK_END) == 0 && (*n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (d = malloc((size_t)*n)) && fread(d, 1, (size_t)*n, f) != (size_t)*n)
    free(d), d = NULL;
  if (f) fclose(f);
  if (!d) fprintf(stderr, "mlp_demo: cannot read %s\n", path);
  return d;
}

static int load_idx(const char *dir) {
  long ni = 0, nl = 0;
  unsigned char *im = slurp(dir, "t10k-images-idx3-ubyte", &ni);
  unsigned char *lb = im ? slurp(dir, "t10k-labels-idx1-ubyte", &nl) : NULL;
  int ok = lb && ni >= 16 && nl >= 8 && be32(im) == 0x803 && be32(lb) == 0x801 &&
           be32(im + 8) * be32(im + 12) == PIXELS && be32(im + 4) == be32(lb + 4) &&
           ni >= 16 + (long)be32(im + 4) * PIXELS && nl >= 8 + (long)be32(lb + 4) &&
           be32(im + 4) >= STEPS * TRAIN_BATCH + TEST;
  if (ok) {
    idx_n = (int)be32(im + 4);
    idx_x = malloc((size_t)idx_n * PIXELS * sizeof *idx_x);
    idx_y = malloc((size_t)idx_n * sizeof *idx_y);
    for (long i = 0; i < (long)idx_n * PIXELS; i++)
      idx_x[i] = ((float)im[16 + i] / 255.0f - 0.2860f) / 0.3530f; /* the training set's mean, std */
    for (int i = 0; i < idx_n; i++) idx_y[i] = lb[8 + i];
  } else if (lb) {
    fprintf(stderr, "mlp_demo: %s: not Fashion-MNIST's uncompressed t10k IDX files\n", dir);
  }
  free(im), free(lb);
  return ok;
}

/* The next n images in order (training), or the last n (held out). */
static void idx_batch(int n, float *x, int32_t *y, int held_out) {
  int from = held_out ? idx_n - n : idx_next;
  if (!held_out) idx_next += n;
  memcpy(x, idx_x + (size_t)from * PIXELS, (size_t)n * PIXELS * sizeof *x);
  memcpy(y, idx_y + from, (size_t)n * sizeof *y);
}

static void next_batch(uint64_t *s, int n, float *x, int32_t *y, int held_out) {
  if (idx_x) idx_batch(n, x, y, held_out);
  else make_batch(s, n, x, y);
}

static int argmax(const float *v) {
  int best = 0;
  for (int k = 1; k < CLASSES; k++)
    if (v[k] > v[best]) best = k;
  return best;
}

/* Prints the failed call and the library's message; returns 1. */
static int failed(const char *call, int rc, const mlp_ctx *ctx) {
  fprintf(stderr, "mlp_demo: %s failed (code %d): %s\n", call, rc, mlp_last_error(ctx));
  return 1;
}

static int run(mlp_ctx *ctx) {
  static float x[TEST * PIXELS], logits[TEST * CLASSES];
  static int32_t y[TEST];
  uint64_t data = 99;
  mlp_hyper h;
  mlp_hyper_default(&h); /* Adam, lr 1e-3 */
  float first = 0, loss = 0;
  for (int step = 1; step <= STEPS; step++) {
    next_batch(&data, TRAIN_BATCH, x, y, 0);
    int rc = mlp_train_step(ctx, TRAIN_BATCH, x, (size_t)TRAIN_BATCH * PIXELS, y, TRAIN_BATCH,
                            &h, &loss);
    if (rc) return failed("mlp_train_step", rc, ctx);
    if (step == 1) first = loss;
    printf("step %2d: loss %.4f\n", step, loss);
  }
  if (!(loss < first)) {
    fprintf(stderr, "mlp_demo: the loss did not fall (%.4f -> %.4f)\n", first, loss);
    return 1;
  }
  printf("trained %lld steps\n", (long long)mlp_steps(ctx));

  /* held-out samples: one call at batch 128, then each sample alone */
  next_batch(&data, TEST, x, y, 1);
  int rc = mlp_forward(ctx, TEST, x, (size_t)TEST * PIXELS, logits, (size_t)TEST * CLASSES);
  if (rc) return failed("mlp_forward (batch 128)", rc, ctx);
  int correct = 0, agree = 0;
  for (int i = 0; i < TEST; i++) {
    float one[CLASSES];
    rc = mlp_forward(ctx, 1, x + i * PIXELS, PIXELS, one, CLASSES);
    if (rc) return failed("mlp_forward (batch 1)", rc, ctx);
    int pred = argmax(logits + i * CLASSES);
    correct += pred == y[i];
    agree += argmax(one) == pred;
    if (i < 8) printf("sample %d: label %d, predicted %d (batch 1: %d)\n", i, y[i], pred, argmax(one));
  }
  printf("batch 128 accuracy: %d/%d = %.3f\n", correct, TEST, (double)correct / TEST);
  printf("batch 1 agrees with batch 128 on %d/%d samples\n", agree, TEST);
  if (agree != TEST) {
    fprintf(stderr, "mlp_demo: batch 1 and batch 128 predictions differ\n");
    return 1;
  }

  /* a param, read in place: fc3.bias after training */
  int i = mlp_param_find("fc3.bias");
  const float *b = i < 0 ? NULL : mlp_param_data(ctx, i);
  if (!b) return failed("mlp_param_data", -1, ctx);
  printf("fc3.bias[0..2] = %.5f %.5f %.5f\n", b[0], b[1], b[2]);
  return 0;
}

int main(int argc, char **argv) {
  mlp_config cfg;
  mlp_config_default(&cfg);
  if (argc > 1) cfg.seed = strtoull(argv[1], NULL, 10);
  make_prototypes();
  if (argc > 2 && !load_idx(argv[2])) return 1;
  printf("data: %s\n", idx_x ? "Fashion-MNIST t10k" : "synthetic (10 noisy prototypes)");
  mlp_ctx *ctx = NULL;
  int rc = mlp_create(&cfg, &ctx);
  if (rc) return failed("mlp_create", rc, NULL);
  printf("mlp: %d params and optimizer state tensors, seed %llu\n", mlp_param_count(),
         (unsigned long long)cfg.seed);
  int status = run(ctx);
  mlp_destroy(ctx);
  free(idx_x), free(idx_y);
  if (status == 0) printf("ok\n");
  return status;
}
