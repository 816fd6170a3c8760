/* rt_part.c -- sums across the copies of a split program. A program split
   over the batch rows (cg_jit_compile_split) runs as copies on one thread
   each; where a value must cover the whole batch (a batch norm's mean and
   variance in train mode) every copy computes its rows' share, and
   rt_part_sum adds the copies' shares: each copy publishes its share,
   waits for all the others at a barrier, adds every share in copy order
   (so every copy gets the same bits), and waits again before it returns,
   so that no copy overwrites its share while another still reads it.
   The copies must all run at once, one per thread (rt_parallel_for with
   one chunk per thread). */
#include "rt_int.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct RtPartSync {
  int nparts;
  _Atomic int arrived;          /* copies at the barrier in this round */
  _Atomic unsigned generation;  /* rounds completed */
  const void *_Atomic *shares;  /* [nparts]: each copy's share in this round */
};

RtPartSync *rt_part_sync_new(int nparts) {
  if (nparts < 1) return NULL;
  RtPartSync *s = calloc(1, sizeof *s);
  if (s) s->shares = calloc((size_t)nparts, sizeof *s->shares);
  if (!s || !s->shares) {
    free(s);
    return NULL;
  }
  s->nparts = nparts;
  return s;
}

void rt_part_sync_free(RtPartSync *s) {
  if (!s) return;
  free((void *)s->shares);
  free(s);
}

/* Returns when all nparts copies have called it (a generation barrier);
   spins, yielding the core now and then in case a copy waits for one. */
static void barrier(RtPartSync *s) {
  unsigned gen = atomic_load_explicit(&s->generation, memory_order_acquire);
  if (atomic_fetch_add_explicit(&s->arrived, 1, memory_order_acq_rel) == s->nparts - 1) {
    atomic_store_explicit(&s->arrived, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->generation, 1, memory_order_release);
    return;
  }
  for (unsigned i = 1; atomic_load_explicit(&s->generation, memory_order_acquire) == gen; i++)
    if (i % 1024 == 0) sched_yield();
    else rt_cpu_relax();
}

void rt_part_sum(RtPartSync *s, int64_t part, const void *in, void *out, int64_t n, int f64) {
  if (!s || s->nparts == 1) { /* one copy: its share is the whole */
    if (out != in) memcpy(out, in, (size_t)n * (f64 ? sizeof(double) : sizeof(float)));
    return;
  }
  atomic_store_explicit(&s->shares[part], in, memory_order_relaxed);
  barrier(s);
  for (int64_t e = 0; e < n; e++) {
    double acc = 0;
    for (int k = 0; k < s->nparts; k++) {
      const void *from = atomic_load_explicit(&s->shares[k], memory_order_relaxed);
      acc += f64 ? ((const double *)from)[e] : (double)((const float *)from)[e];
    }
    if (f64) ((double *)out)[e] = acc;
    else ((float *)out)[e] = (float)acc;
  }
  barrier(s);
}
