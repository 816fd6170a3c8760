/* rt_pool.c -- a fixed pool of pthreads for data-parallel loops. Each call
   of rt_parallel_for publishes one job (a new generation number); worker k
   runs chunk k, the caller runs chunk 0, and the last one to finish wakes
   the caller. Workers sleep on a condition variable between jobs. */
#include "rt.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 256

typedef struct Worker {
  RtPool *pool;
  int index;            /* chunk this worker runs: 1 .. nthreads-1 */
  pthread_t thread;
} Worker;

struct RtPool {
  int nthreads;
  Worker *workers;      /* nthreads - 1 of them */
  int nstarted;         /* workers whose thread was created */
  pthread_mutex_t call_lock;   /* serializes callers of rt_parallel_for */
  pthread_mutex_t lock;        /* guards everything below */
  pthread_cond_t wake;         /* a new job or shutdown */
  pthread_cond_t done;         /* the last worker finished the job */
  uint64_t generation;         /* incremented for every job */
  int pending;                 /* workers still running the current job */
  bool quit;
  RtTaskFn fn;                 /* the current job */
  void *ctx;
  int64_t n;
};

void rt_pool_chunk(int64_t n, int nchunks, int i, int64_t *begin, int64_t *end) {
  int64_t base = n / nchunks, rem = n % nchunks;
  *begin = i * base + (i < rem ? i : rem);
  *end = *begin + base + (i < rem ? 1 : 0);
}

static void run_chunk(RtPool *p, int i, RtTaskFn fn, void *ctx, int64_t n) {
  int64_t begin, end;
  rt_pool_chunk(n, p->nthreads, i, &begin, &end);
  if (begin < end) fn(ctx, begin, end);
}

static void *worker_main(void *arg) {
  Worker *w = arg;
  RtPool *p = w->pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
    if (p->quit) break;
    seen = p->generation;
    RtTaskFn fn = p->fn;
    void *ctx = p->ctx;
    int64_t n = p->n;
    pthread_mutex_unlock(&p->lock);
    run_chunk(p, w->index, fn, ctx, n);
    pthread_mutex_lock(&p->lock);
    if (--p->pending == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

static int online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

RtPool *rt_pool_new(int nthreads) {
  if (nthreads <= 0) nthreads = online_cores();
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  RtPool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->nthreads = nthreads;
  pthread_mutex_init(&p->call_lock, NULL);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  if (nthreads > 1) {
    p->workers = calloc((size_t)nthreads - 1, sizeof *p->workers);
    if (!p->workers) {
      rt_pool_free(p);
      return NULL;
    }
  }
  for (int i = 0; i + 1 < nthreads; i++) {
    Worker *w = &p->workers[i];
    w->pool = p;
    w->index = i + 1;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      rt_pool_free(p);
      return NULL;
    }
    p->nstarted++;
  }
  return p;
}

void rt_pool_free(RtPool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->quit = true;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->nstarted; i++) pthread_join(p->workers[i].thread, NULL);
  pthread_cond_destroy(&p->done);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->call_lock);
  free(p->workers);
  free(p);
}

int rt_pool_threads(const RtPool *p) { return p ? p->nthreads : 1; }

void rt_parallel_for(RtPool *p, int64_t n, RtTaskFn fn, void *ctx) {
  if (n <= 0) return;
  if (!p || p->nthreads == 1 || n == 1) { /* one chunk: no thread to wake */
    fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&p->call_lock);
  pthread_mutex_lock(&p->lock);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->pending = p->nthreads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  run_chunk(p, 0, fn, ctx, n);
  pthread_mutex_lock(&p->lock);
  while (p->pending > 0) pthread_cond_wait(&p->done, &p->lock);
  pthread_mutex_unlock(&p->lock);
  pthread_mutex_unlock(&p->call_lock);
}
