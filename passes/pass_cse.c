/* pass_cse.c -- common subexpression elimination by hash-consing: while the
   graph is rebuilt in id order, a node structurally identical to one already
   built (same op, dtype, shape, attributes and operands after remapping) is
   replaced by it. INPUT and PARAM nodes are never merged. Operands of ops
   flagged IR_F_COMMUT are compared as a sorted list, so add(a, b) and
   add(b, a) merge; the surviving node keeps its own operand order, name and
   loc. (For maximum/minimum this picks one side at exact ties, which can
   only flip the sign of a zero result and which operand gets a tie's
   gradient.) */
#include <stdlib.h>
#include <string.h>

#include "pass.h"

typedef struct Table {
  IrRef *slot;     /* new-graph ids, IR_NONE = empty */
  uint32_t mask;   /* capacity - 1 (a power of two) */
} Table;

static bool mergeable(const IrNode *n) {
  return n->op != IR_OP_INPUT && n->op != IR_OP_PARAM;
}

/* Operand list in canonical order: sorted for commutative ops. */
static void canonical_operands(const IrNode *n, const IrRef *src, IrRef *out) {
  if (n->nsrc) memcpy(out, src, n->nsrc * sizeof *out);
  if (!(ir_ops[n->op].flags & IR_F_COMMUT)) return;
  for (int i = 1; i < n->nsrc; i++)
    for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
      IrRef t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
}

static uint64_t mix(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static uint64_t hash_node(const IrNode *n, const IrRef *ops) {
  uint64_t h = 1469598103934665603ull;
  h = mix(h, &n->op, sizeof n->op);
  h = mix(h, &n->dtype, sizeof n->dtype);
  h = mix(h, &n->attr.value, sizeof n->attr.value);
  h = mix(h, &n->attr.axes, sizeof n->attr.axes);
  h = mix(h, &n->attr.axis, sizeof n->attr.axis);
  for (int i = 0; i < n->shape.rank; i++) h = mix(h, &n->shape.d[i].n, sizeof(int64_t));
  return mix(h, ops, n->nsrc * sizeof *ops);
}

static bool same_dims(const IrShape *a, const IrShape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i].n != b->d[i].n || a->d[i].k != b->d[i].k || a->d[i].syms != b->d[i].syms)
      return false;
  return true;
}

/* Attributes compared field by field (unused ones are zero); the value by
   its bits, so const 0 and const -0 stay apart and nan matches nan. */
static bool same_attrs(const IrAttr *a, const IrAttr *b) {
  return memcmp(&a->value, &b->value, sizeof a->value) == 0 && a->axis == b->axis &&
         a->axes == b->axes && a->keepdims == b->keepdims &&
         memcmp(a->perm, b->perm, sizeof a->perm) == 0 &&
         memcmp(a->start, b->start, sizeof a->start) == 0 &&
         memcmp(a->step, b->step, sizeof a->step) == 0;
}

/* Is built node m (of out) the same as n with canonical operands ops? */
static bool same_node(const IrGraph *out, IrRef m, const IrNode *n, const IrRef *ops,
                      IrRef *scratch) {
  const IrNode *c = ir_node(out, m);
  if (c->op != n->op || c->dtype != n->dtype || c->nsrc != n->nsrc) return false;
  if (!same_dims(&c->shape, &n->shape) || !same_attrs(&c->attr, &n->attr)) return false;
  canonical_operands(c, c->src, scratch);
  return memcmp(scratch, ops, n->nsrc * sizeof *ops) == 0;
}

/* Returns the slot holding an equal node, or the empty slot to fill. */
static IrRef *lookup(Table *t, const IrGraph *out, const IrNode *n, const IrRef *ops,
                     IrRef *scratch) {
  uint32_t i = (uint32_t)hash_node(n, ops) & t->mask;
  while (t->slot[i] != IR_NONE && !same_node(out, t->slot[i], n, ops, scratch))
    i = (i + 1) & t->mask;
  return &t->slot[i];
}

static uint16_t max_operands(const IrGraph *g) {
  uint16_t m = 1;
  for (uint32_t i = 0; i < g->nnodes; i++)
    if (g->nodes[i].nsrc > m) m = g->nodes[i].nsrc;
  return m;
}

bool pass_cse(IrGraph **pg, PassCtx *cx) {
  IrGraph *g = *pg;
  Table t;
  uint32_t cap = 16;
  while (cap < 2 * g->nnodes) cap *= 2;
  t.slot = mc_xmalloc(cap * sizeof *t.slot);
  memset(t.slot, 0xff, cap * sizeof *t.slot);
  t.mask = cap - 1;
  uint16_t width = max_operands(g);
  IrRef *ops = mc_xmalloc(width * sizeof *ops), *remapped = mc_xmalloc(width * sizeof *ops);
  IrRef *scratch = mc_xmalloc(width * sizeof *ops);
  IrRef *map = mc_xmalloc((g->nnodes ? g->nnodes : 1) * sizeof *map);
  IrGraph *out = pass_graph_like(g);
  bool ok = true;
  for (uint32_t id = 0; ok && id < g->nnodes; id++) {
    const IrNode *n = ir_node(g, id);
    IrRef *slot = NULL;
    if (mergeable(n)) {
      for (int k = 0; k < n->nsrc; k++) remapped[k] = map[n->src[k]];
      canonical_operands(n, remapped, ops);
      slot = lookup(&t, out, n, ops, scratch);
      if (*slot != IR_NONE) {
        map[id] = *slot;
        continue;
      }
    }
    map[id] = ir_copy_node(out, g, id, map);
    if (map[id] == IR_NONE) {
      mc_error(cx->diag, n->loc, "cse: cannot rebuild node %%%u", id);
      ok = false;
    } else if (slot) {
      *slot = map[id];
    }
  }
  ok = pass_replace_graph(pg, out, map, ok);
  free(t.slot);
  free(ops);
  free(remapped);
  free(scratch);
  free(map);
  return ok;
}
