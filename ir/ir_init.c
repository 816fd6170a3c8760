/* ir_init.c -- param initializers with torch.nn.init's definitions, computed
   by the runtime (rt_init_fill in runtime/rt_init.c) so that AOT libraries
   initialize exactly as the compiler does. Element i of param `name` is
   drawn from the counter RNG at (seed, hash(name), i), so a value depends
   only on the seed, the param's name and its index. */
#include "ir.h"
#include "rt.h"

/* IrInitKind and RtInitKind list the initializers in the same order. */
#define SAME(k) _Static_assert((int)IR_INIT_##k == (int)RT_INIT_##k, "IR_INIT_" #k)
SAME(NONE);
SAME(ZEROS);
SAME(ONES);
SAME(CONSTANT);
SAME(NORMAL);
SAME(UNIFORM);
SAME(XAVIER_UNIFORM);
SAME(XAVIER_NORMAL);
SAME(KAIMING_UNIFORM);
SAME(KAIMING_NORMAL);
SAME(COUNT);
#undef SAME

void ir_init_fill(const IrGraph *g, const IrNode *param, uint64_t seed, double *out) {
  (void)g;
  const IrInit *in = &param->attr.init;
  RtInit init = {(RtInitKind)in->kind, in->a, in->b, in->fan_out};
  int64_t dims[IR_MAX_RANK];
  for (int i = 0; i < param->shape.rank; i++) dims[i] = param->shape.d[i].n;
  rt_init_fill(&init, param->name, param->shape.rank, dims, seed, out);
}
