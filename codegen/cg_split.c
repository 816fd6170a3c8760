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

#include <math.h>
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
  case IR_CLASS_SYNC:
    return false;
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

/* live[i]: node i is an output or an operand of a live node. */
static bool *live_nodes(const IrGraph *g) {
  bool *live = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *live);
  for (uint32_t k = 0; k < g->nouts; k++) live[g->outs[k].ref] = true;
  for (uint32_t i = g->nnodes; i-- > 0;)
    for (int s = 0; live[i] && s < ir_node(g, i)->nsrc; s++) live[ir_node(g, i)->src[s]] = true;
  return live;
}

/* The batch dim's value in g and in other (0 when they cannot pair). */
static bool batches_of(const IrGraph *g, const IrGraph *other, int64_t *bg, int64_t *bo) {
  int sym = ir_graph_batch_sym(g);
  if (!other || sym < 0 || ir_graph_batch_sym(other) != sym || g->nnodes != other->nnodes ||
      g->nouts != other->nouts)
    return false;
  *bg = g->syms[sym].value;
  *bo = other->syms[sym].value;
  return *bg >= 1 && *bo >= 1 && *bg != *bo;
}

bool cg_split_ok(const IrGraph *g, const IrGraph *slice) {
  int64_t bg, bs;
  if (!batches_of(g, slice, &bg, &bs)) return false;
  uint32_t bit = 1u << ir_graph_batch_sym(g);
  bool *dep = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *dep), *live = live_nodes(g);
  bool ok = true;
  for (uint32_t i = 0; ok && i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (!live[i]) continue; /* dead code meets no rows (a loss's sum, once not an output) */
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
  free(live);
  return ok;
}

/* The loss as scale * sum(terms) over all axes (a mean's 1/N, a sum's 1):
   the terms' node, or IR_NONE for any other form. */
static IrRef loss_terms(const IrGraph *g, double *scale) {
  const IrOutput *o = ir_find_output(g, IR_OUT_LOSS, NULL);
  if (!o) return IR_NONE;
  const IrNode *n = ir_node(g, o->ref);
  *scale = 1;
  while (n->op == IR_OP_MUL || n->op == IR_OP_DIV) { /* mean(...) / 2: scales of scales */
    const IrNode *a = ir_node(g, n->src[0]), *b = ir_node(g, n->src[1]);
    if (b->op == IR_OP_CONST && b->attr.value != 0) {
      *scale *= n->op == IR_OP_MUL ? b->attr.value : 1 / b->attr.value;
      n = a;
    } else if (n->op == IR_OP_MUL && a->op == IR_OP_CONST) {
      *scale *= a->attr.value;
      n = b;
    } else {
      return IR_NONE;
    }
  }
  const IrNode *t = n->op == IR_OP_SUM ? ir_node(g, n->src[0]) : NULL;
  if (!t || n->attr.keepdims || n->shape.rank != 0 || n->attr.axes != (1u << t->shape.rank) - 1)
    return IR_NONE;
  return n->src[0];
}

/* g with its loss replaced by an output of the loss's terms. */
static IrGraph *terms_as_output(const IrGraph *g, IrRef terms) {
  IrGraph *c = ir_graph_clone(g);
  for (uint32_t k = 0; k < c->nouts; k++)
    if (c->outs[k].kind == IR_OUT_LOSS) {
      c->outs[k].kind = IR_OUT_OUTPUT;
      c->outs[k].ref = terms;
    }
  return c;
}

CgSplit cg_split_grad_ok(const IrGraph *fwd, const IrGraph *slice) {
  int64_t bf, bs;
  double sf, ss;
  if (!batches_of(fwd, slice, &bf, &bs)) return CG_SPLIT_NO;
  IrRef tf = loss_terms(fwd, &sf), ts = loss_terms(slice, &ss);
  if (tf == IR_NONE || tf != ts) return CG_SPLIT_NO;
  IrGraph *a = terms_as_output(fwd, tf), *b = terms_as_output(slice, ts);
  bool rows_apart = cg_split_ok(a, b);
  ir_graph_free(a);
  ir_graph_free(b);
  if (!rows_apart) return CG_SPLIT_NO;
  if (sf == ss) return CG_SPLIT_SUM;
  double nf = sf * (double)bf, ns = ss * (double)bs; /* a mean: scale * batch is fixed */
  return fabs(nf - ns) <= 1e-12 * fabs(nf) ? CG_SPLIT_MEAN : CG_SPLIT_NO;
}

bool cg_split_slot_pair(const IrNode *full, const IrNode *slice, int bsym, int parts,
                        bool *rows) {
  uint32_t bit = 1u << bsym;
  *rows = batched(full, bit);
  if (full->dtype != slice->dtype || full->shape.rank != slice->shape.rank ||
      !batch_only_leading(&full->shape, bit))
    return false;
  for (int d = 0; d < full->shape.rank; d++) {
    const IrDim *x = &full->shape.d[d], *y = &slice->shape.d[d];
    if (x->syms != y->syms || x->n != ((x->syms & bit) ? (int64_t)parts * y->n : y->n))
      return false;
  }
  /* an input is cut into whole rows: its dim 0 is the batch itself */
  return !*rows || full->op != IR_OP_INPUT || (full->shape.d[0].syms == bit && full->shape.d[0].k == 1);
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

/* ---- the split with batch-wide statistics --------------------------------------------
   A batch norm in train mode joins the rows: its mean and variance are
   sums over the batch axis, and every row then reads them. The parts can
   still run apart between such sums: each part sums its own rows, a
   part_sum adds the parts' sums (every part gets the whole batch's), and
   the model's constants are the whole batch's (a mean divides by N, not by
   N/parts). Node by node over fwd and its slice, a value is one of: */
typedef enum {
  V_FREE,    /* computed without batched values: the same in every part */
  V_ROWS,    /* batched: each part holds its rows */
  V_STAT,    /* a part_sum of the parts' sums over the batch, or computed
                from such: the same in every part */
  V_PARTIAL  /* the loss's sum and its scaling: each part's share, summed
                after the run as the gradients are */
} ValueKind;

/* The loss chain: the loss's sum over its terms and the scalings above it
   (loss_terms walked them); their values are V_PARTIAL. */
static bool *loss_chain(const IrGraph *g, IrRef terms) {
  bool *chain = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *chain);
  IrRef r = ir_find_output(g, IR_OUT_LOSS, NULL)->ref;
  for (;;) {
    chain[r] = true;
    const IrNode *n = ir_node(g, r);
    if (n->op == IR_OP_SUM && n->src[0] == terms) break;
    r = ir_node(g, n->src[0])->op == IR_OP_CONST ? n->src[1] : n->src[0];
  }
  return chain;
}

/* Node i's pair: as same_but_batch, but a scalar constant may differ (the
   slice then takes fwd's value). */
static bool pair_ok(const IrNode *a, const IrNode *b, uint32_t bit, int64_t ba, int64_t bb) {
  if (a->op == IR_OP_CONST && b->op == IR_OP_CONST && a->shape.rank == 0 && b->shape.rank == 0) {
    IrNode c = *b;
    c.attr.value = a->attr.value;
    return same_but_batch(a, &c, bit, ba, bb);
  }
  return same_but_batch(a, b, bit, ba, bb);
}

/* The kind of node i's value from its operands' kinds (sync[i]: a
   part_sum follows it); false when the rows meet in a way the parts
   cannot reproduce. */
static bool classify(const IrGraph *g, IrRef i, uint32_t bit, const bool *chain,
                     ValueKind *kind, bool *sync) {
  const IrNode *n = ir_node(g, i);
  bool rows = false, partial = false, stat = false;
  for (int s = 0; s < n->nsrc; s++) {
    rows |= kind[n->src[s]] == V_ROWS;
    partial |= kind[n->src[s]] == V_PARTIAL;
    stat |= kind[n->src[s]] == V_STAT;
  }
  if (batched(n, bit)) {
    kind[i] = V_ROWS;
    return !partial && rows_stay_apart(g, n, bit);
  }
  if (chain[i]) { /* the loss's sum over its batched terms, then scalings */
    kind[i] = V_PARTIAL;
    return n->op == IR_OP_SUM ? rows : partial;
  }
  if (partial) return false;
  if (rows) { /* a sum over the batch axis, or no join the parts can make */
    kind[i] = V_STAT;
    sync[i] = true;
    return n->op == IR_OP_SUM && (n->attr.axes & 1u) && ir_dtype_is_float((IrDtype)n->dtype);
  }
  kind[i] = stat ? V_STAT : V_FREE;
  return true;
}

/* Outputs: batched OUTPUTs, the LOSS's share, UPDATEs the same in every
   part (running statistics). */
static bool outputs_ok(const IrGraph *g, const ValueKind *kind) {
  for (uint32_t k = 0; k < g->nouts; k++) {
    ValueKind v = kind[g->outs[k].ref];
    bool ok = g->outs[k].kind == IR_OUT_OUTPUT   ? v == V_ROWS
              : g->outs[k].kind == IR_OUT_LOSS   ? v == V_PARTIAL
              : g->outs[k].kind == IR_OUT_UPDATE ? v == V_STAT || v == V_FREE
                                                 : false;
    if (!ok) return false;
  }
  return true;
}

/* slice rebuilt: fwd's constants, a part_sum after every sync node. */
static IrGraph *with_part_sums(const IrGraph *fwd, const IrGraph *slice, const bool *sync) {
  IrGraph *out = ir_graph_new(slice->name, slice->diag);
  ir_graph_copy_syms(out, slice);
  IrRef *map = mc_xmalloc((slice->nnodes ? slice->nnodes : 1) * sizeof *map);
  for (uint32_t i = 0; i < slice->nnodes; i++) {
    bool konst = ir_node(slice, i)->op == IR_OP_CONST && ir_node(slice, i)->shape.rank == 0;
    map[i] = konst ? ir_copy_node(out, fwd, i, map) : ir_copy_node(out, slice, i, map);
    if (sync[i]) map[i] = ir_unary(out, IR_OP_PART_SUM, map[i], ir_node(slice, i)->loc);
  }
  for (uint32_t k = 0; k < slice->nouts; k++)
    ir_add_output(out, slice->outs[k].kind, slice->outs[k].name, map[slice->outs[k].ref]);
  free(map);
  return out;
}

CgSplit cg_split_grad(const IrGraph *fwd, const IrGraph *slice, IrGraph **synced) {
  CgSplit how = cg_split_grad_ok(fwd, slice);
  *synced = how == CG_SPLIT_NO ? cg_split_sync(fwd, slice) : NULL;
  return *synced ? CG_SPLIT_SYNC : how;
}

IrGraph *cg_split_sync(const IrGraph *fwd, const IrGraph *slice) {
  int64_t bf, bs;
  double sf, ss;
  if (!batches_of(fwd, slice, &bf, &bs)) return NULL;
  IrRef terms = loss_terms(fwd, &sf);
  if (terms == IR_NONE || terms != loss_terms(slice, &ss)) return NULL;
  uint32_t bit = 1u << ir_graph_batch_sym(fwd);
  bool *live = live_nodes(fwd), *chain = loss_chain(fwd, terms);
  bool *sync = mc_xcalloc(fwd->nnodes ? fwd->nnodes : 1, sizeof *sync);
  ValueKind *kind = mc_xcalloc(fwd->nnodes ? fwd->nnodes : 1, sizeof *kind);
  bool ok = true, any = false;
  for (uint32_t i = 0; ok && i < fwd->nnodes; i++) {
    const IrNode *n = ir_node(fwd, i);
    if (!live[i]) continue;
    ok = pair_ok(n, ir_node(slice, i), bit, bf, bs) && batch_only_leading(&n->shape, bit) &&
         classify(fwd, i, bit, chain, kind, sync);
    any |= sync[i];
  }
  IrGraph *out = ok && any && outputs_ok(fwd, kind) ? with_part_sums(fwd, slice, sync) : NULL;
  free(kind);
  free(sync);
  free(chain);
  free(live);
  return out;
}
