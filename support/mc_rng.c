/* mc_rng.c -- the counter-based random generator, value = mix(seed, stream,
   index), so draws are independent of order and thread count. The runtime
   owns the definition (runtime/rt_init.c: AOT libraries draw the same
   values); these are the support layer's names for it. */
#include "mc.h"
#include "rt.h"

uint64_t mc_rng_u64(uint64_t seed, uint64_t stream, uint64_t index) {
  return rt_rng_u64(seed, stream, index);
}

double mc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return rt_rng_uniform(seed, stream, index);
}

double mc_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  return rt_rng_normal(seed, stream, index);
}

uint64_t mc_hash_str(const char *s) { return rt_hash_str(s); }
