/* rt_int.h -- declarations shared by the runtime's source files only (never
   included from outside runtime/): size arithmetic that cannot overflow and
   byte order. No zlib here: the data loaders' reader is in rt_io.h. */
#ifndef RT_INT_H
#define RT_INT_H

#include "rt.h"

/* ---- size arithmetic --------------------------------------------------------
   *out = a * b when it fits in int64 (a, b >= 0). */
static inline bool rt_mul_ok(int64_t a, int64_t b, int64_t *out) {
  if (a != 0 && b > INT64_MAX / a) return false;
  *out = a * b;
  return true;
}

/* One pause in a spin-wait loop (rt_pool.c, rt_part.c). */
static inline void rt_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* The largest byte size the runtime allocates for one tensor (2^46). */
#define RT_MAX_BYTES ((int64_t)1 << 46)

/* Host byte order helpers (rt_dtype.c). */
bool rt_host_is_little(void);
void rt_swap_bytes(void *data, int64_t count, size_t elem);

#endif
