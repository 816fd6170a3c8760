/* mc_rng.c -- a counter-based random generator: value = mix(seed, stream,
   index), so draws are independent of order and thread count. The mixer is
   two rounds of the splitmix64 finalizer over a combined key. */
#include "mc.h"

#include <math.h>

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t mc_rng_u64(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t k = mix64(seed + 0x9e3779b97f4a7c15ULL);
  k = mix64(k ^ (stream * 0xd1b54a32d192ed03ULL));
  return mix64(k + index * 0x9e3779b97f4a7c15ULL);
}

double mc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return (double)(mc_rng_u64(seed, stream, index) >> 11) * 0x1.0p-53;
}

double mc_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  /* Box-Muller on two draws from distinct counters of the same index. */
  double u1 = mc_rng_uniform(seed, stream, 2 * index);
  double u2 = mc_rng_uniform(seed, stream, 2 * index + 1);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

uint64_t mc_hash_str(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}
