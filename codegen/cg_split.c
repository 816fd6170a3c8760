/* cg_split.c -- may a program run as copies, each on its own rows of the
   batch? An inference graph whose batch rows never meet (no reduction,
   product, slice or index across the batch axis) computes row i of every
   output from row i of the inputs alone. Then `parts` single-thread
   copies of the program built for batch/parts rows, each handed its slice
   of the inputs and outputs, compute what the whole program computes,
   with no barrier between kernels and no data crossing cores.

   The caller also builds the model at another batch (the slice: the batch
   divided by parts, through the front end's -D; a library's probe
   batches). Comparing the two graphs node by node proves what one graph
   cannot show: that no constant was computed from the batch (a mean over
   it, or `x / B` in the model). */
#include "cg_int.h"

#include <stdlib.h>
#include <string.h>

/* The batch appears in dim 0 at most, nowhere else. */
static bool batch_only_leading(const IrShape *s, uint32_t bit) {
  for (int a = 1; a < s->rank; a++)
    if (s->d[a].syms & bit) return false;
  return true;
}

static bool batched(const IrNode *n, uint32_t bit) {
  return n->shape.rank > 0 && (n->shape.d[0].syms & bit);
}

/* Same op, operands and attributes; shapes equal but for the batch dims,
   which scale with the batch (ba in a's graph, bb in b's). */
static bool same_but_batch(const IrNode *a, const IrNode *b, uint32_t bit, int64_t ba, int64_t bb) {
  if (a->op != b->op || a->dtype != b->dtype || a->nsrc != b->nsrc ||
      a->shape.rank != b->shape.rank)
    return false;
  for (int i = 0; i < a->nsrc; i++)
    if (a->src[i] != b->src[i]) return false;
  for (int d = 0; d < a->shape.rank; d++) {
    const IrDim *x = &a->shape.d[d], *y = &b->shape.d[d];
    if (x->syms != y->syms || x->k != y->k) return false;
    if ((x->syms & bit) ? x->n / ba != y->n / bb || x->n % ba || y->n % bb : x->n != y->n)
      return false;
  }
  const IrAttr *p = &a->attr, *q = &b->attr;
  if (memcmp(&p->value, &q->value, sizeof p->value) || p->axis != q->axis ||
      p->axes != q->axes || p->keepdims != q->keepdims || memcmp(p->perm, q->perm, sizeof p->perm) ||
      memcmp(p->start, q->start, sizeof p->start) || memcmp(p->step, q->step, sizeof p->step) ||
      p->nwin != q->nwin || memcmp(p->wstride, q->wstride, sizeof p->wstride) ||
      memcmp(p->wdilation, q->wdilation, sizeof p->wdilation) || p->frozen != q->frozen ||
      p->buffer != q->buffer)
    return false;
  return (!a->name && !b->name) || (a->name && b->name && !strcmp(a->name, b->name));
}

/* A node whose result has the batch in dim 0: does row i of it read only
   row i of its batched operands? (Shapes already keep the batch in dim 0
   alone, so operands line up with the result's rows.) */
static bool rows_stay_apart(const IrGraph *g, const IrNode *n, uint32_t bit) {
  switch (ir_ops[n->op].cls) {
  case IR_CLASS_SOURCE:
    /* an input is sliced by whole rows: its dim 0 must be the batch itself */
    if (n->op == IR_OP_INPUT) return n->shape.d[0].syms == bit && n->shape.d[0].k == 1;
    return n->op == IR_OP_IOTA && n->attr.axis != 0; /* counting rows: global numbers */
  case IR_CLASS_ELEM:
  case IR_CLASS_CONTRACT:
    return true;
  case IR_CLASS_REDUCE:
    return !(n->attr.axes & 1u);
  case IR_CLASS_INDEX:
    /* gather rows of an unbatched table by batched indices */
    return n->op == IR_OP_GATHER && !batched(ir_node(g, n->src[0]), bit);
  case IR_CLASS_MOVE:
    switch (n->op) {
    case IR_OP_RESHAPE: /* row-major order keeps the batch outermost */
    case IR_OP_EXPAND:
      return true;
    case IR_OP_PERMUTE:
      return n->attr.perm[0] == 0;
    case IR_OP_SLICE:
      return n->attr.start[0] == 0 && n->attr.step[0] == 1;
    case IR_OP_PAD:
      return n->attr.start[0] == 0;
    case IR_OP_CONCAT:
      return n->attr.axis != 0;
    case IR_OP_UNFOLD:
    case IR_OP_FOLD:
      return n->attr.nwin < n->shape.rank;
    default:
      return false;
    }
  }
  return false;
}

bool cg_split_ok(const IrGraph *g, const IrGraph *slice) {
  int sym = ir_graph_batch_sym(g);
  if (!slice || sym < 0 || ir_graph_batch_sym(slice) != sym || g->nnodes != slice->nnodes ||
      g->nouts != slice->nouts)
    return false;
  int64_t bg = g->syms[sym].value, bs = slice->syms[sym].value;
  if (bg < 1 || bs < 1 || bg == bs) return false;
  uint32_t bit = 1u << sym;
  bool *dep = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *dep);
  bool ok = true;
  for (uint32_t i = 0; ok && i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    ok = same_but_batch(n, ir_node(slice, i), bit, bg, bs) && batch_only_leading(&n->shape, bit);
    for (int s = 0; ok && s < n->nsrc; s++) dep[i] |= dep[n->src[s]];
    if (!ok) break;
    if (batched(n, bit)) {
      ok = rows_stay_apart(g, n, bit);
      dep[i] = true;
    } else {
      ok = !dep[i]; /* computed from batched values, yet without the batch: rows met */
    }
  }
  for (uint32_t k = 0; ok && k < g->nouts; k++)
    ok = g->outs[k].kind == IR_OUT_OUTPUT && slice->outs[k].kind == IR_OUT_OUTPUT &&
         g->outs[k].ref == slice->outs[k].ref && batched(ir_node(g, g->outs[k].ref), bit);
  free(dep);
  return ok;
}

int64_t cg_split_work(const IrGraph *g) {
  int64_t work = 0;
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    int64_t w = ir_shape_numel(&n->shape);
    if (n->op == IR_OP_MATMUL) {
      const IrNode *a = ir_node(g, n->src[0]);
      if (a->shape.rank && __builtin_mul_overflow(w, a->shape.d[a->shape.rank - 1].n, &w))
        return INT64_MAX;
    }
    if (__builtin_add_overflow(work, w, &work)) return INT64_MAX;
  }
  return work;
}
