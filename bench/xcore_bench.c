/* xcore_bench.c -- what it costs one core to read data another core wrote:
   the round trip of a cache line between two threads (each waits for the
   other's store), and the time to read a buffer last written by the other
   core against one this core wrote itself. A multi-threaded training step
   hands its values from kernel to kernel; when two consecutive kernels
   cut their data differently, each core reads part of its input from the
   other's cache, and these two figures bound what that costs (see
   docs/performance.md: on a VM the two figures change with where the
   vCPUs are placed). The threads are pinned to two CPUs.
     xcore_bench [CPU_A CPU_B] [KiB]     defaults: 0 1 512
   Prints medians of ROUNDS rounds. Not a test: it only times. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define PINGS 100000 /* round trips per round */
#define ROUNDS 15

static volatile float sink_out; /* keeps the reads */

typedef struct Shared {
  _Alignas(64) _Atomic long turn; /* odd: the partner's move, even: the caller's */
  _Alignas(64) _Atomic int phase; /* buffer rounds: 1 = write it, 2 = written */
  int cpu;                        /* the partner's CPU */
  float *buf;
  size_t n;
  _Atomic bool quit;
} Shared;

static bool pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  return pthread_setaffinity_np(pthread_self(), sizeof s, &s) == 0;
}

static void fill(float *buf, size_t n, float v) {
  for (size_t i = 0; i < n; i++) buf[i] = v;
}

/* Reads every element (the sum keeps the loads). */
static float read_all(const float *buf, size_t n) {
  float s[16] = {0};
  for (size_t i = 0; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) s[j] += buf[i + j];
  float t = 0;
  for (int j = 0; j < 16; j++) t += s[j];
  return t;
}

/* The partner: answers PINGS moves per round, then writes the buffer on request. */
static void *partner(void *arg) {
  Shared *sh = arg;
  pin(sh->cpu);
  for (int r = 0; r < ROUNDS; r++)
    for (long i = 0; i < PINGS; i++) {
      long want = 2 * ((long)r * PINGS + i) + 1;
      while (atomic_load_explicit(&sh->turn, memory_order_acquire) != want) {}
      atomic_store_explicit(&sh->turn, want + 1, memory_order_release);
    }
  for (;;) {
    int ph;
    while ((ph = atomic_load_explicit(&sh->phase, memory_order_acquire)) != 1)
      if (atomic_load(&sh->quit)) return NULL;
    fill(sh->buf, sh->n, 1.0f);
    atomic_store_explicit(&sh->phase, 2, memory_order_release);
  }
}

static double ping_round(Shared *sh, int r) {
  double t0 = bench_now_seconds();
  for (long i = 0; i < PINGS; i++) {
    long mine = 2 * ((long)r * PINGS + i);
    atomic_store_explicit(&sh->turn, mine + 1, memory_order_release);
    while (atomic_load_explicit(&sh->turn, memory_order_acquire) != mine + 2) {}
  }
  return (bench_now_seconds() - t0) / PINGS;
}

/* Seconds to read the buffer after the partner (other) or this thread wrote it. */
static double read_after_write(Shared *sh, bool other, float *sink) {
  if (other) {
    atomic_store_explicit(&sh->phase, 1, memory_order_release);
    while (atomic_load_explicit(&sh->phase, memory_order_acquire) != 2) {}
  } else {
    fill(sh->buf, sh->n, 2.0f);
  }
  double t0 = bench_now_seconds();
  *sink += read_all(sh->buf, sh->n);
  return bench_now_seconds() - t0;
}

int main(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    printf("Usage: xcore_bench [CPU_A CPU_B] [KiB]\n"
           "Times a cache line's round trip between two pinned threads and reading\n"
           "KiB (default 512) last written by the other core vs by the reader.\n");
    return 0;
  }
  int a = argc > 2 ? atoi(argv[1]) : 0, b = argc > 2 ? atoi(argv[2]) : 1;
  long kib = argc > 3 ? atol(argv[3]) : argc == 2 ? atol(argv[1]) : 512;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) {
    printf("xcore: fewer than two CPUs to run on, nothing to measure\n");
    return 0;
  }
  if (a == b || a < 0 || b < 0 || a >= CPU_SETSIZE || b >= CPU_SETSIZE ||
      !CPU_ISSET(a, &allowed) || !CPU_ISSET(b, &allowed)) {
    fprintf(stderr, "xcore_bench: CPUs %d and %d are not two CPUs this process may run on\n", a, b);
    return 2;
  }
  if (kib < 4 || kib > (1L << 20)) {
    fprintf(stderr, "xcore_bench: KiB must be 4 .. 1048576, not %ld\n", kib);
    return 2;
  }
  Shared *sh = aligned_alloc(64, sizeof *sh);
  if (!sh) return 1;
  memset(sh, 0, sizeof *sh);
  sh->cpu = b;
  sh->n = (size_t)kib * 1024 / sizeof(float);
  sh->buf = aligned_alloc(64, sh->n * sizeof(float));
  if (!sh->buf || !pin(a)) {
    fprintf(stderr, "xcore_bench: cannot %s\n", sh->buf ? "pin to that CPU" : "allocate");
    free(sh->buf);
    free(sh);
    return 1;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, partner, sh) != 0) {
    fprintf(stderr, "xcore_bench: cannot start a thread\n");
    free(sh->buf);
    free(sh);
    return 1;
  }
  double trip[ROUNDS], theirs[ROUNDS], mine[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) trip[r] = ping_round(sh, r);
  float sink = 0;
  for (int r = 0; r < ROUNDS; r++) {
    theirs[r] = read_after_write(sh, true, &sink);
    mine[r] = read_after_write(sh, false, &sink);
  }
  atomic_store(&sh->quit, true);
  pthread_join(t, NULL);
  double bytes = (double)sh->n * sizeof(float);
  double mt = bench_median(theirs, ROUNDS), mm = bench_median(mine, ROUNDS);
  printf("xcore CPUs %d,%d: round trip %.0f ns; reading %ld KiB written by the other core "
         "%.1f us (%.1f GB/s), by this core %.1f us (%.1f GB/s): %.2fx\n",
         a, b, bench_median(trip, ROUNDS) * 1e9, kib, mt * 1e6, bytes / mt * 1e-9, mm * 1e6,
         bytes / mm * 1e-9, mt / mm);
  sink_out = sink;
  free(sh->buf);
  free(sh);
  return 0;
}
