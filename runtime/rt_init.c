/* rt_init.c -- the counter-based random generator and the param
   initializers with torch.nn.init's definitions. A draw is mix(seed,
   stream, index): two rounds of the splitmix64 finalizer over a combined
   key, so values are independent of order and thread count. Element i of
   param `name` is drawn at (seed, hash(name), i). The compiler's
   mc_rng_* and ir_init_fill are wrappers of these, so the JIT and AOT
   libraries initialize bit for bit alike. */
#include "rt.h"

#include <math.h>

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rt_rng_u64(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t k = mix64(seed + 0x9e3779b97f4a7c15ULL);
  k = mix64(k ^ (stream * 0xd1b54a32d192ed03ULL));
  return mix64(k + index * 0x9e3779b97f4a7c15ULL);
}

double rt_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return (double)(rt_rng_u64(seed, stream, index) >> 11) * 0x1.0p-53;
}

double rt_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  /* Box-Muller on two draws from distinct counters of the same index. */
  double u1 = rt_rng_uniform(seed, stream, 2 * index);
  double u2 = rt_rng_uniform(seed, stream, 2 * index + 1);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

uint64_t rt_hash_str(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

/* ---- initializers ------------------------------------------------------------ */

void rt_init_fans(int rank, const int64_t *dims, double *fan_in, double *fan_out) {
  if (rank <= 1) {
    *fan_in = *fan_out = rank == 1 ? (double)dims[0] : 1.0;
    return;
  }
  double field = 1.0;
  for (int i = 2; i < rank; i++) field *= (double)dims[i];
  *fan_in = (double)dims[1] * field;
  *fan_out = (double)dims[0] * field;
}

static void fill_constant(double *out, int64_t n, double v) {
  for (int64_t i = 0; i < n; i++) out[i] = v;
}

static void fill_uniform(double *out, int64_t n, uint64_t seed, uint64_t stream, double lo,
                         double hi) {
  for (int64_t i = 0; i < n; i++)
    out[i] = lo + (hi - lo) * rt_rng_uniform(seed, stream, (uint64_t)i);
}

static void fill_normal(double *out, int64_t n, uint64_t seed, uint64_t stream, double mean,
                        double std) {
  for (int64_t i = 0; i < n; i++) out[i] = mean + std * rt_rng_normal(seed, stream, (uint64_t)i);
}

/* kaiming_*: leaky_relu gain with negative slope a, over fan_in or fan_out. */
static double kaiming_std(const RtInit *init, double fan_in, double fan_out) {
  double gain = sqrt(2.0 / (1.0 + init->a * init->a));
  return gain / sqrt(init->fan_out ? fan_out : fan_in);
}

void rt_init_fill(const RtInit *init, const char *name, int rank, const int64_t *dims,
                  uint64_t seed, double *out) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  if (n <= 0) return;
  uint64_t stream = rt_hash_str(name ? name : "");
  double fan_in, fan_out;
  rt_init_fans(rank, dims, &fan_in, &fan_out);
  double bound, std;
  switch (init->kind) {
  case RT_INIT_ONES:
    fill_constant(out, n, 1.0);
    return;
  case RT_INIT_CONSTANT:
    fill_constant(out, n, init->a);
    return;
  case RT_INIT_NORMAL:
    fill_normal(out, n, seed, stream, init->a, init->b);
    return;
  case RT_INIT_UNIFORM:
    fill_uniform(out, n, seed, stream, init->a, init->b);
    return;
  case RT_INIT_XAVIER_UNIFORM:
    bound = init->a * sqrt(6.0 / (fan_in + fan_out));
    fill_uniform(out, n, seed, stream, -bound, bound);
    return;
  case RT_INIT_XAVIER_NORMAL:
    fill_normal(out, n, seed, stream, 0.0, init->a * sqrt(2.0 / (fan_in + fan_out)));
    return;
  case RT_INIT_KAIMING_UNIFORM:
    bound = sqrt(3.0) * kaiming_std(init, fan_in, fan_out);
    fill_uniform(out, n, seed, stream, -bound, bound);
    return;
  case RT_INIT_KAIMING_NORMAL:
    std = kaiming_std(init, fan_in, fan_out);
    fill_normal(out, n, seed, stream, 0.0, std);
    return;
  case RT_INIT_NONE:
  case RT_INIT_ZEROS:
  case RT_INIT_COUNT:
    break;
  }
  fill_constant(out, n, 0.0);
}
