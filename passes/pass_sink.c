/* pass_sink.c -- moves the reshape that splits a product's last axis (a
   convolution's [B, C, H*W] viewed as [B, C, H, W]) below the elementwise
   ops that follow it, so that they compute in the product's own shape and
   fusion can run them in the product's epilogue: a convolution's bias,
   batch norm's scale and shift in eval mode, relu, a residual add. The
   other operands are reshaped to match: a per-channel [C, 1, 1] becomes
   a column [1, C, 1], an [H, W] a row [H*W], a value of the split shape
   takes the product's. Values and their order are unchanged (reshapes of
   contiguous data); the reshape reappears after the last op it passed,
   for the readers that do not follow it. The graph is rebuilt. */
#include <stdlib.h>

#include "pass.h"

typedef struct Sink {
  const IrGraph *g;
  IrGraph *out;
  IrRef *map;      /* old id -> new id; IR_NONE while only `inner` holds the value */
  IrRef *inner;    /* old id -> new id of its values in a product's shape, or IR_NONE */
  uint32_t *nuse;  /* readers of each old node, outputs counted */
  bool *reduced;   /* some reduction reads the old node */
} Sink;

static const IrNode *old_node(const Sink *s, IrRef r) { return ir_node(s->g, r); }
static const IrShape *new_shape(const Sink *s, IrRef r) { return &ir_node(s->out, r)->shape; }

/* Shape r splits the last axis of shape x: the same leading dims, then
   fixed dims whose product is x's last. */
static bool splits_last_axis(const IrShape *r, const IrShape *x) {
  int p = x->rank - 1;
  if (p < 0 || r->rank <= p) return false;
  for (int i = 0; i < p; i++)
    if (!ir_dim_same(r->d[i], x->d[i])) return false;
  int64_t n = 1;
  for (int i = p; i < r->rank; i++) {
    if (r->d[i].syms) return false;
    n *= r->d[i].n;
  }
  return !x->d[p].syms && n == x->d[p].n;
}

/* The new node holding old node r's values in its own shape: the one
   copied, or a reshape of its values in the product's shape, made once. */
static IrRef value_of(Sink *s, IrRef r) {
  if (s->map[r] == IR_NONE && s->inner[r] != IR_NONE)
    s->map[r] = ir_reshape(s->out, s->inner[r], &old_node(s, r)->shape, old_node(s, r)->loc);
  return s->map[r];
}

/* How operand y of an op in split shape R is read in product shape X (R
   splits X's last axis). */
typedef enum { OP_NONE, OP_INNER, OP_AS_IS, OP_RESHAPED } OperandWay;

/* y's way, and for OP_RESHAPED the shape `to` that broadcasts alike: a
   scalar of higher rank as rank 0, [..., 1] for values varying along the
   leading axes alone, a row [N] for values varying along the split axes
   alone (all of them), X for values of shape R. OP_NONE: no shape of rank
   <= X's does (y varies along some but not all split axes, or along
   leading and split axes both without being of shape R). */
static OperandWay operand_way(const Sink *s, IrRef y, const IrShape *R, const IrShape *X,
                              IrShape *to) {
  const IrShape *ys = &old_node(s, y)->shape;
  if (s->inner[y] != IR_NONE && ir_shape_equal(new_shape(s, s->inner[y]), X) &&
      ir_shape_equal(ys, R))
    return OP_INNER;
  *to = (IrShape){.rank = 0};
  if (ir_shape_numel(ys) == 1) return ys->rank <= X->rank ? OP_AS_IS : OP_RESHAPED;
  int p = X->rank - 1, lead = R->rank - ys->rank;
  bool split_ones = true, split_full = lead <= p, prefix_ones = true;
  for (int a = 0; a < R->rank; a++) {
    int64_t n = a >= lead ? ys->d[a - lead].n : 1;
    if (a < p) {
      prefix_ones &= n == 1;
    } else {
      split_ones &= n == 1;
      split_full &= n == R->d[a].n;
    }
  }
  if (split_ones) {
    to->rank = X->rank;
    for (int a = 0; a < p; a++) to->d[a] = a >= lead ? ys->d[a - lead] : ir_dim_const(1);
    to->d[p] = ir_dim_const(1);
  } else if (prefix_ones && split_full) {
    to->rank = 1;
    to->d[0] = X->d[p];
  } else if (ys->rank == R->rank && ir_shape_equal(ys, R)) {
    *to = *X;
  } else {
    return OP_NONE;
  }
  return OP_RESHAPED;
}

/* Elementwise node id, when an operand holds its values in a product's
   shape and every other operand can be read in that shape: the op
   rebuilt in that shape (true), its values left in inner. Not when a
   reduction reads it: fused with its elementwise neighbours in their
   shape (batch norm's gradient summing over [B, C, H, W]) it would make
   a pass of its own in the product's. */
static bool sink_elem(Sink *s, IrRef id) {
  const IrNode *n = old_node(s, id);
  if (ir_ops[n->op].cls != IR_CLASS_ELEM || n->nsrc > 3 || s->reduced[id]) return false;
  int lead = -1;
  for (int k = 0; k < n->nsrc && lead < 0; k++)
    if (s->inner[n->src[k]] != IR_NONE && ir_shape_equal(&old_node(s, n->src[k])->shape, &n->shape))
      lead = k;
  if (lead < 0) return false;
  IrShape X = *new_shape(s, s->inner[n->src[lead]]), to[3];
  OperandWay way[3];
  for (int k = 0; k < n->nsrc; k++)
    if ((way[k] = operand_way(s, n->src[k], &n->shape, &X, &to[k])) == OP_NONE) return false;
  IrRef src[3];
  for (int k = 0; k < n->nsrc; k++) {
    IrRef y = n->src[k];
    src[k] = way[k] == OP_INNER  ? s->inner[y]
             : way[k] == OP_AS_IS ? value_of(s, y)
                                  : ir_reshape(s->out, value_of(s, y), &to[k], n->loc);
  }
  IrRef v = ir_build(s->out, (IrOp)n->op, src, n->nsrc, &n->attr, NULL, (IrDtype)n->dtype, n->loc);
  MC_ASSERT(v != IR_NONE && ir_shape_equal(new_shape(s, v), &X));
  s->inner[id] = v;
  return true;
}

/* Reshape id of a float product, read by one op alone, splitting the
   product's last axis: its values stay in the product's shape. */
static bool sink_head(Sink *s, IrRef id) {
  const IrNode *n = old_node(s, id), *x = n->op == IR_OP_RESHAPE ? old_node(s, n->src[0]) : NULL;
  if (!x || x->op != IR_OP_MATMUL || (x->dtype != IR_F32 && x->dtype != IR_F64) ||
      s->nuse[id] != 1 || !splits_last_axis(&n->shape, &x->shape) ||
      ir_shape_equal(&n->shape, &x->shape))
    return false;
  s->inner[id] = s->map[n->src[0]];
  return true;
}

/* Copies node id, reading its operands' values (a reshape of a value held
   in a product's shape reshapes that instead of its view). */
static IrRef copy_node(Sink *s, IrRef id) {
  const IrNode *n = old_node(s, id);
  if (n->op == IR_OP_RESHAPE && s->map[n->src[0]] == IR_NONE && s->inner[n->src[0]] != IR_NONE)
    return ir_reshape(s->out, s->inner[n->src[0]], &n->shape, n->loc);
  for (int k = 0; k < n->nsrc; k++) value_of(s, n->src[k]);
  return ir_copy_node(s->out, s->g, id, s->map);
}

static void count_uses(Sink *s) {
  const IrGraph *g = s->g;
  s->nuse = mc_xcalloc(g->nnodes + 1, sizeof *s->nuse);
  s->reduced = mc_xcalloc(g->nnodes + 1, sizeof *s->reduced);
  for (uint32_t i = 0; i < g->nnodes; i++)
    for (int k = 0; k < ir_node(g, i)->nsrc; k++) {
      s->nuse[ir_node(g, i)->src[k]]++;
      s->reduced[ir_node(g, i)->src[k]] |= ir_ops[ir_node(g, i)->op].cls == IR_CLASS_REDUCE;
    }
  for (uint32_t o = 0; o < g->nouts; o++)
    if (g->outs[o].ref < g->nnodes) s->nuse[g->outs[o].ref]++;
}

bool pass_sink(IrGraph **pg, PassCtx *cx) {
  const IrGraph *g = *pg;
  uint32_t n = g->nnodes ? g->nnodes : 1;
  Sink s = {.g = g, .out = pass_graph_like(g), .map = mc_xmalloc(n * sizeof(IrRef)),
            .inner = mc_xmalloc(n * sizeof(IrRef))};
  count_uses(&s);
  for (uint32_t i = 0; i < n; i++) s.map[i] = s.inner[i] = IR_NONE;
  bool ok = true;
  for (IrRef id = 0; ok && id < g->nnodes; id++) {
    if (sink_head(&s, id) || sink_elem(&s, id)) continue;
    s.map[id] = copy_node(&s, id);
    if (s.map[id] == IR_NONE) {
      mc_error(cx->diag, old_node(&s, id)->loc, "sink: cannot rebuild node %%%u", id);
      ok = false;
    }
  }
  for (uint32_t o = 0; ok && o < g->nouts; o++) value_of(&s, g->outs[o].ref);
  ok = pass_replace_graph(pg, s.out, s.map, ok);
  free(s.map);
  free(s.inner);
  free(s.nuse);
  free(s.reduced);
  return ok;
}
