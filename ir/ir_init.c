/* ir_init.c -- param initializers with torch.nn.init's definitions. Element
   i of param `name` is drawn from the counter RNG at (seed, hash(name), i),
   so a value depends only on the seed, the param's name and its index. */
#include "ir.h"

#include <math.h>

/* torch.nn.init._calculate_fan_in_and_fan_out: the receptive field is the
   product of the dims after the first two; rank 1 uses shape[0] for both
   (and rank 0 uses 1). */
static void fans(const IrShape *s, double *fan_in, double *fan_out) {
  if (s->rank <= 1) {
    *fan_in = *fan_out = s->rank == 1 ? (double)s->d[0].n : 1.0;
    return;
  }
  double field = 1.0;
  for (int i = 2; i < s->rank; i++) field *= (double)s->d[i].n;
  *fan_in = (double)s->d[1].n * field;
  *fan_out = (double)s->d[0].n * field;
}

static void fill_constant(double *out, int64_t n, double v) {
  for (int64_t i = 0; i < n; i++) out[i] = v;
}

static void fill_uniform(double *out, int64_t n, uint64_t seed, uint64_t stream, double lo,
                         double hi) {
  for (int64_t i = 0; i < n; i++)
    out[i] = lo + (hi - lo) * mc_rng_uniform(seed, stream, (uint64_t)i);
}

static void fill_normal(double *out, int64_t n, uint64_t seed, uint64_t stream, double mean,
                        double std) {
  for (int64_t i = 0; i < n; i++) out[i] = mean + std * mc_rng_normal(seed, stream, (uint64_t)i);
}

/* kaiming_*: leaky_relu gain with negative slope a, over fan_in or fan_out. */
static double kaiming_std(const IrInit *init, double fan_in, double fan_out) {
  double gain = sqrt(2.0 / (1.0 + init->a * init->a));
  return gain / sqrt(init->fan_out ? fan_out : fan_in);
}

void ir_init_fill(const IrGraph *g, const IrNode *param, uint64_t seed, double *out) {
  (void)g;
  int64_t n = 1;
  for (int i = 0; i < param->shape.rank; i++) n *= param->shape.d[i].n;
  if (n <= 0) return;
  const IrInit *init = &param->attr.init;
  uint64_t stream = mc_hash_str(param->name ? param->name : "");
  double fan_in, fan_out;
  fans(&param->shape, &fan_in, &fan_out);
  double bound, std;
  switch (init->kind) {
  case IR_INIT_NONE:
  case IR_INIT_ZEROS:
  case IR_INIT_COUNT:
    fill_constant(out, n, 0.0);
    return;
  case IR_INIT_ONES:
    fill_constant(out, n, 1.0);
    return;
  case IR_INIT_CONSTANT:
    fill_constant(out, n, init->a);
    return;
  case IR_INIT_NORMAL:
    fill_normal(out, n, seed, stream, init->a, init->b);
    return;
  case IR_INIT_UNIFORM:
    fill_uniform(out, n, seed, stream, init->a, init->b);
    return;
  case IR_INIT_XAVIER_UNIFORM:
    bound = init->a * sqrt(6.0 / (fan_in + fan_out));
    fill_uniform(out, n, seed, stream, -bound, bound);
    return;
  case IR_INIT_XAVIER_NORMAL:
    fill_normal(out, n, seed, stream, 0.0, init->a * sqrt(2.0 / (fan_in + fan_out)));
    return;
  case IR_INIT_KAIMING_UNIFORM:
    bound = sqrt(3.0) * kaiming_std(init, fan_in, fan_out);
    fill_uniform(out, n, seed, stream, -bound, bound);
    return;
  case IR_INIT_KAIMING_NORMAL:
    std = kaiming_std(init, fan_in, fan_out);
    fill_normal(out, n, seed, stream, 0.0, std);
    return;
  }
}
