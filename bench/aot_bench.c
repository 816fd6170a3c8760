/* aot_bench.c -- median times of a classifier library made by `modelc build
   --train` (examples/mlp.model by default): inference at batch 1 and at
   the training batch, and one training step, through the library's
   exported functions (loaded with dlopen, so the benchmark builds without
   the library). Inputs are seeded random floats, labels below --classes.
   Prints one line per mode in the shape of ../shared/peers/torch_bench.py
   for bench/run.sh.
     aot_bench LIB.so [--prefix mlp] [--features 784] [--classes 10]
               [--batch 128] [--threads N] [--iters N] [--warmup N]
               [--lr 0.01] [--momentum 0.9] */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* The library's structs, as its header declares them. */
typedef struct Config {
  uint64_t seed;
  int threads;
} Config;
typedef struct Hyper {
  double lr, momentum, weight_decay, beta1, beta2, eps, max_norm;
} Hyper;

typedef int (*CreateFn)(const Config *, void **);
typedef void (*DestroyFn)(void *);
typedef const char *(*ErrorFn)(const void *);
typedef int (*ForwardFn)(void *, int64_t, const void *const *, const size_t *, void *const *,
                         const size_t *);
typedef int (*TrainFn)(void *, int64_t, const void *const *, const size_t *, const Hyper *,
                       float *);
typedef void (*HyperFn)(Hyper *);

typedef struct Bench {
  const char *lib, *prefix;
  int features, classes, batch, threads, iters, warmup;
  double lr, momentum;
  void *ctx;
  ForwardFn forward;
  TrainFn train;
  ErrorFn error;
  Hyper hyper;
  float *x, *logits;
  int32_t *y;
} Bench;

static void *sym(void *so, const char *prefix, const char *name) {
  char full[256];
  snprintf(full, sizeof full, "%s_%s", prefix, name);
  void *p = dlsym(so, full);
  if (!p) fprintf(stderr, "aot_bench: the library has no %s\n", full);
  return p;
}

static int run_forward(Bench *b, int64_t batch) {
  const void *in[2] = {b->x, NULL};
  size_t in_n[2] = {(size_t)batch * (size_t)b->features, 0};
  void *out[1] = {b->logits};
  size_t out_n[1] = {(size_t)batch * (size_t)b->classes};
  return b->forward(b->ctx, batch, in, in_n, out, out_n);
}

static int run_train(Bench *b, int64_t batch) {
  const void *in[2] = {b->x, b->y};
  size_t in_n[2] = {(size_t)batch * (size_t)b->features, (size_t)batch};
  float loss;
  return b->train(b->ctx, batch, in, in_n, &b->hyper, &loss);
}

/* Times `iters` calls after `warmup`; prints a torch_bench-shaped line. */
static int time_mode(Bench *b, const char *mode, int64_t batch, int iters,
                     int (*call)(Bench *, int64_t)) {
  for (int i = 0; i < b->warmup; i++)
    if (call(b, batch)) return fprintf(stderr, "aot_bench: %s\n", b->error(b->ctx)), 1;
  double *t = malloc((size_t)iters * sizeof *t);
  for (int i = 0; i < iters; i++) {
    double t0 = (1e3 * bench_now_seconds());
    int rc = call(b, batch);
    t[i] = (1e3 * bench_now_seconds()) - t0;
    if (rc) return free(t), fprintf(stderr, "aot_bench: %s\n", b->error(b->ctx)), 1;
  }
  qsort(t, (size_t)iters, sizeof *t, bench_cmp_double);
  printf("%-14s %-14s batch=%-4lld median_ms=%9.4f min_ms=%9.4f max_ms=%9.4f samples_per_s=%.0f\n",
         b->prefix, mode, (long long)batch, t[iters / 2], t[0], t[iters - 1],
         (double)batch / (t[iters / 2] * 1e-3));
  free(t);
  return 0;
}

static int parse(int argc, char **argv, Bench *b) {
  *b = (Bench){.prefix = "mlp", .features = 784, .classes = 10, .batch = 128, .threads = 0,
               .iters = 200, .warmup = 20, .lr = 0.01, .momentum = 0.9};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (a[0] != '-' && !b->lib) b->lib = a;
    else if (!v) return 0;
    else if (!strcmp(a, "--prefix")) b->prefix = v, i++;
    else if (!strcmp(a, "--features")) b->features = atoi(v), i++;
    else if (!strcmp(a, "--classes")) b->classes = atoi(v), i++;
    else if (!strcmp(a, "--batch")) b->batch = atoi(v), i++;
    else if (!strcmp(a, "--threads")) b->threads = atoi(v), i++;
    else if (!strcmp(a, "--iters")) b->iters = atoi(v), i++;
    else if (!strcmp(a, "--warmup")) b->warmup = atoi(v), i++;
    else if (!strcmp(a, "--lr")) b->lr = atof(v), i++;
    else if (!strcmp(a, "--momentum")) b->momentum = atof(v), i++;
    else return 0;
  }
  return b->lib && b->features > 0 && b->classes > 0 && b->batch > 0 && b->iters > 0 &&
         b->warmup >= 0;
}

int main(int argc, char **argv) {
  Bench b;
  if (!parse(argc, argv, &b)) {
    fprintf(stderr, "usage: aot_bench LIB.so [--prefix mlp] [--features 784] [--classes 10] "
                    "[--batch 128] [--threads N] [--iters N] [--warmup N] [--lr X] "
                    "[--momentum X]\n");
    return 2;
  }
  void *so = dlopen(b.lib, RTLD_NOW | RTLD_LOCAL);
  if (!so) return fprintf(stderr, "aot_bench: %s\n", dlerror()), 1;
  CreateFn create = (CreateFn)sym(so, b.prefix, "create");
  DestroyFn destroy = (DestroyFn)sym(so, b.prefix, "destroy");
  HyperFn hyper_default = (HyperFn)sym(so, b.prefix, "hyper_default");
  b.error = (ErrorFn)sym(so, b.prefix, "last_error");
  b.forward = (ForwardFn)sym(so, b.prefix, "forward_v");
  b.train = (TrainFn)sym(so, b.prefix, "train_step_v");
  if (!create || !destroy || !hyper_default || !b.error || !b.forward || !b.train) return 1;
  Config cfg = {0, b.threads};
  if (create(&cfg, &b.ctx)) return fprintf(stderr, "aot_bench: %s\n", b.error(NULL)), 1;
  hyper_default(&b.hyper);
  b.hyper.lr = b.lr;
  b.hyper.momentum = b.momentum;
  size_t n = (size_t)b.batch;
  b.x = malloc(n * (size_t)b.features * sizeof *b.x);
  b.logits = malloc(n * (size_t)b.classes * sizeof *b.logits);
  b.y = malloc(n * sizeof *b.y);
  uint64_t s = 1;
  for (size_t i = 0; i < n * (size_t)b.features; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    b.x[i] = (float)((double)(s >> 40) / 16777216.0 - 0.5);
  }
  for (size_t i = 0; i < n; i++) b.y[i] = (int32_t)(i % (size_t)b.classes);
  int rc = time_mode(&b, "aot_infer", 1, b.iters * 10, run_forward) ||
           time_mode(&b, "aot_infer", b.batch, b.iters, run_forward) ||
           time_mode(&b, "aot_train", b.batch, b.iters, run_train);
  destroy(b.ctx);
  free(b.x), free(b.logits), free(b.y);
  dlclose(so);
  return rc;
}
