/* rt_pool.c -- a fixed pool of pthreads for data-parallel loops. Each call
   of rt_parallel_for publishes one job (a new generation number); worker k
   runs chunk k, the caller runs chunk 0, and the caller returns when every
   worker has finished its chunk. A training step calls the pool dozens of
   times a millisecond, and waking a thread asleep in the kernel costs tens
   of microseconds, so between jobs a worker first spins on the generation
   for a while (RT_POOL_SPIN_NS) and only then sleeps on a condition
   variable; the caller likewise spins before it sleeps on the last chunk.
   A sleeper is woken only when one is counted asleep (`sleepers`,
   `caller_waits`): each side stores its flag, then reads the other's,
   sequentially consistent, so one of the two always sees the other. */
#include "rt_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define RT_POOL_SPIN_NS 200000   /* 0.2 ms: longer than the gaps between kernels of a step */

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
  pthread_mutex_t lock;        /* guards the condition variables */
  pthread_cond_t wake;         /* a new job or shutdown */
  pthread_cond_t done;         /* the last worker finished the job */
  _Atomic uint64_t generation; /* incremented for every job */
  _Atomic int pending;         /* workers still running the current job */
  _Atomic int sleepers;        /* workers asleep on `wake` (or about to be) */
  _Atomic bool caller_waits;   /* the caller is asleep on `done` (or about to be) */
  _Atomic bool quit;
  RtTaskFn fn;                 /* the current job: written before `generation` */
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

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether a spin of i pauses so far has run past RT_POOL_SPIN_NS; the
   clock is read every 64 pauses, the first read starting the time. */
static bool spin_time_up(unsigned i, int64_t *deadline) {
  if (i % 64 != 0) return false;
  int64_t t = now_ns();
  if (!*deadline) *deadline = t + RT_POOL_SPIN_NS;
  return t >= *deadline;
}

/* Spins until *word differs from `old` (true) or the spin time is up (false). */
static bool spin_while_u64(_Atomic uint64_t *word, uint64_t old) {
  int64_t deadline = 0;
  for (unsigned i = 1;; i++) {
    if (atomic_load_explicit(word, memory_order_acquire) != old) return true;
    rt_cpu_relax();
    if (spin_time_up(i, &deadline)) return false;
  }
}

/* Spins until *pending is 0 (true) or the spin time is up (false). */
static bool spin_while_pending(_Atomic int *pending) {
  int64_t deadline = 0;
  for (unsigned i = 1;; i++) {
    if (atomic_load_explicit(pending, memory_order_acquire) == 0) return true;
    rt_cpu_relax();
    if (spin_time_up(i, &deadline)) return false;
  }
}

/* The next job's generation (after `seen`), spinning first, then asleep. */
static uint64_t await_job(RtPool *p, uint64_t seen) {
  if (spin_while_u64(&p->generation, seen) || atomic_load(&p->quit))
    return atomic_load_explicit(&p->generation, memory_order_acquire);
  pthread_mutex_lock(&p->lock);
  atomic_fetch_add(&p->sleepers, 1);
  while (!atomic_load(&p->quit) && atomic_load(&p->generation) == seen)
    pthread_cond_wait(&p->wake, &p->lock);
  atomic_fetch_sub(&p->sleepers, 1);
  pthread_mutex_unlock(&p->lock);
  return atomic_load_explicit(&p->generation, memory_order_acquire);
}

static void *worker_main(void *arg) {
  Worker *w = arg;
  RtPool *p = w->pool;
  uint64_t seen = 0;
  for (;;) {
    seen = await_job(p, seen);
    if (atomic_load(&p->quit)) break;
    run_chunk(p, w->index, p->fn, p->ctx, p->n);
    if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_waits)) {
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->lock);
    }
  }
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
  atomic_store(&p->quit, true);
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

/* Publishes the job and wakes the workers that sleep. */
static void start_job(RtPool *p, int64_t n, RtTaskFn fn, void *ctx) {
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  atomic_store(&p->pending, p->nthreads - 1);
  atomic_fetch_add(&p->generation, 1);
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
  }
}

/* Returns when every worker has finished the job, spinning first. */
static void finish_job(RtPool *p) {
  if (spin_while_pending(&p->pending)) return;
  pthread_mutex_lock(&p->lock);
  atomic_store(&p->caller_waits, true);
  while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->lock);
  atomic_store(&p->caller_waits, false);
  pthread_mutex_unlock(&p->lock);
}

void rt_parallel_for(RtPool *p, int64_t n, RtTaskFn fn, void *ctx) {
  if (n <= 0) return;
  if (!p || p->nthreads == 1 || n == 1) { /* one chunk: no thread to wake */
    fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&p->call_lock);
  start_job(p, n, fn, ctx);
  run_chunk(p, 0, fn, ctx, n);
  finish_job(p);
  pthread_mutex_unlock(&p->call_lock);
}
