/* pass_remat.c -- recomputes cheap values where they are read instead of
   storing them: an add, sub or mul of a big tensor read by two or more
   elementwise ops or reductions (which fusion can give the copy to), whose
   operands are stored anyway (a product's result that something else
   reads too, a source) or small (a per-channel vector), gets a copy of its
   own for each reader, built just before it. Batch norm in training
   computes d = x - mean and x_hat = d * inv_std over the whole [B, C, H, W]
   output of a convolution, and its gradient reads both again: stored, each
   cost a write and a read of the tensor; recomputed inside the kernels
   that read them, they cost a sub and a mul per element, and those kernels
   read the convolution's output instead. Values are unchanged (the same
   operations on the same operands). Chains of at most REMAT_DEPTH such
   ops qualify (x_hat reads d). The graph is rebuilt without the originals. */
#include <stdlib.h>

#include "pass.h"

#define REMAT_MIN_ELEMS 65536 /* smaller values are cheap to store */
#define REMAT_DEPTH 2
#define REMAT_SMALL 16 /* an operand this many times smaller is a broadcast vector */

typedef struct Remat {
  const IrGraph *g;
  IrGraph *out;
  IrRef *map;     /* old id -> new id (IR_NONE for a recomputed value) */
  uint8_t *depth; /* recomputed: its chain's length (1, 2, ...); else 0 */
  uint32_t *nuse; /* readers (operand slots) */
  bool *output;   /* named by an output */
  bool *other;    /* read by a node that is no elementwise op or reduction */
} Remat;

/* x is a product's result (through reshapes): it is stored, whoever reads it. */
static bool product_result(const IrGraph *g, IrRef x) {
  const IrNode *n = ir_node(g, x);
  while (n->op == IR_OP_RESHAPE) n = ir_node(g, n->src[0]);
  return n->op == IR_OP_MATMUL;
}

static bool is_source(const IrNode *n) {
  return n->op == IR_OP_INPUT || n->op == IR_OP_PARAM || n->op == IR_OP_CONST;
}

/* Old node id is recomputed at each reader: its chain length, or 0. */
static int chain_depth(const Remat *r, IrRef id) {
  const IrNode *n = ir_node(r->g, id);
  if ((n->op != IR_OP_ADD && n->op != IR_OP_SUB && n->op != IR_OP_MUL) ||
      !ir_dtype_is_float((IrDtype)n->dtype) || r->output[id] || r->other[id] || r->nuse[id] < 2)
    return 0;
  int64_t numel = ir_shape_numel(&n->shape);
  if (numel < REMAT_MIN_ELEMS) return 0;
  int depth = 1;
  for (int k = 0; k < n->nsrc; k++) {
    IrRef x = n->src[k];
    const IrNode *v = ir_node(r->g, x);
    if (r->depth[x] && r->depth[x] + 1 <= REMAT_DEPTH) {
      if (r->depth[x] + 1 > depth) depth = r->depth[x] + 1;
    } else if (!is_source(v) && !(product_result(r->g, x) && r->nuse[x] >= 2) &&
               ir_shape_numel(&v->shape) * REMAT_SMALL > numel) {
      return 0; /* a product read by this node alone would be stored for it */
    }
  }
  return depth;
}

/* A new copy of recomputed old node id, its recomputed operands copied too. */
static IrRef recompute(Remat *r, IrRef id) {
  const IrNode *n = ir_node(r->g, id);
  IrRef m[2];
  for (int k = 0; k < n->nsrc; k++)
    m[k] = r->depth[n->src[k]] ? recompute(r, n->src[k]) : r->map[n->src[k]];
  return ir_binary(r->out, (IrOp)n->op, m[0], m[1], n->loc);
}

/* Copies old node id; each recomputed operand is built anew for it (once
   when it reads that operand twice). */
static IrRef copy_reader(Remat *r, IrRef id) {
  const IrNode *n = ir_node(r->g, id);
  for (int k = 0; k < n->nsrc; k++) {
    IrRef x = n->src[k];
    if (r->depth[x] && r->map[x] == IR_NONE) r->map[x] = recompute(r, x);
  }
  IrRef copy = ir_copy_node(r->out, r->g, id, r->map);
  for (int k = 0; k < n->nsrc; k++)
    if (r->depth[n->src[k]]) r->map[n->src[k]] = IR_NONE;
  return copy;
}

static void count_uses(Remat *r) {
  uint32_t n = r->g->nnodes ? r->g->nnodes : 1;
  r->nuse = mc_xcalloc(n, sizeof *r->nuse);
  r->output = mc_xcalloc(n, sizeof *r->output);
  r->depth = mc_xcalloc(n, sizeof *r->depth);
  r->other = mc_xcalloc(n, sizeof *r->other);
  for (uint32_t i = 0; i < r->g->nnodes; i++) {
    const IrNode *u = ir_node(r->g, i);
    IrOpClass c = ir_ops[u->op].cls;
    for (int k = 0; k < u->nsrc; k++) {
      r->nuse[u->src[k]]++;
      r->other[u->src[k]] |= c != IR_CLASS_ELEM && c != IR_CLASS_REDUCE;
    }
  }
  for (uint32_t o = 0; o < r->g->nouts; o++) r->output[r->g->outs[o].ref] = true;
}

bool pass_remat(IrGraph **pg, PassCtx *cx) {
  const IrGraph *g = *pg;
  uint32_t n = g->nnodes ? g->nnodes : 1;
  Remat r = {.g = g, .out = pass_graph_like(g), .map = mc_xmalloc(n * sizeof(IrRef))};
  count_uses(&r);
  bool ok = true;
  for (IrRef id = 0; ok && id < g->nnodes; id++) {
    r.map[id] = IR_NONE;
    r.depth[id] = (uint8_t)chain_depth(&r, id);
    if (r.depth[id]) continue;
    r.map[id] = copy_reader(&r, id);
    if (r.map[id] == IR_NONE) {
      mc_error(cx->diag, ir_node(g, id)->loc, "remat: cannot rebuild node %%%u", id);
      ok = false;
    }
  }
  ok = pass_replace_graph(pg, r.out, r.map, ok);
  free(r.map);
  free(r.depth);
  free(r.nuse);
  free(r.output);
  free(r.other);
  return ok;
}
