/* threads.c -- one mlp context shared by 4 threads: each thread calls
   forward 25 times at its own batch (1, 7, 64, 128, so the context's
   workspace is rebuilt between calls) on its own inputs, concurrently; every
   result must equal, bit for bit, the serial call made before. Prints
   "threads: ok" or the first mismatch. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#define THREADS 4
#define ROUNDS 25

typedef struct Job {
  mlp_ctx *ctx;
  int64_t batch;
  float *x, *want, *got;
  int failures, rc;
} Job;

static void *work(void *arg) {
  Job *j = arg;
  size_t nx = (size_t)j->batch * 784, ny = (size_t)j->batch * 10;
  for (int r = 0; r < ROUNDS; r++) {
    memset(j->got, 0, ny * sizeof *j->got);
    int rc = mlp_forward(j->ctx, j->batch, j->x, nx, j->got, ny);
    if (rc) j->rc = rc;
    if (rc || memcmp(j->got, j->want, ny * sizeof *j->got)) j->failures++;
  }
  return NULL;
}

int main(void) {
  static const int64_t batches[THREADS] = {1, 7, 64, 128};
  mlp_config cfg;
  mlp_config_default(&cfg);
  cfg.seed = 4;
  mlp_ctx *ctx = NULL;
  if (mlp_create(&cfg, &ctx)) return printf("create: %s\n", mlp_last_error(NULL)), 1;
  Job jobs[THREADS];
  for (int t = 0; t < THREADS; t++) {
    Job *j = &jobs[t];
    size_t nx = (size_t)batches[t] * 784, ny = (size_t)batches[t] * 10;
    *j = (Job){ctx, batches[t], malloc(nx * 4), malloc(ny * 4), malloc(ny * 4), 0, 0};
    for (size_t i = 0; i < nx; i++) j->x[i] = (float)((i * 2654435761u + (unsigned)t) % 1000) / 1000.0f;
    if (mlp_forward(ctx, j->batch, j->x, nx, j->want, ny))
      return printf("serial forward: %s\n", mlp_last_error(ctx)), 1;
  }
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++)
    if (pthread_create(&th[t], NULL, work, &jobs[t])) return printf("pthread_create failed\n"), 1;
  int bad = 0;
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    if (jobs[t].failures)
      printf("thread %d (batch %lld): %d of %d calls differ from the serial result (rc %d)\n", t,
             (long long)jobs[t].batch, jobs[t].failures, ROUNDS, jobs[t].rc);
    bad += jobs[t].failures;
    free(jobs[t].x), free(jobs[t].want), free(jobs[t].got);
  }
  mlp_destroy(ctx);
  if (bad) return 1;
  printf("threads: ok (%d threads x %d calls)\n", THREADS, ROUNDS);
  return 0;
}
