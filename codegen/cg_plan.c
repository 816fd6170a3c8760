/* cg_plan.c -- the buffer plan: which caller slot, workspace offset or
   alias holds each node's value. Workspace offsets come from one scan in
   execution (id) order: a buffer goes back to a free list after its last
   user ran, and each new buffer takes the best-fitting free block, else
   grows the workspace. Constants get their own bytes for good. */
#include <stdlib.h>
#include <string.h>

#include "cg_int.h"

int cg_dtype_size(IrDtype t) {
  switch (t) {
  case IR_F32:
  case IR_I32:
    return 4;
  case IR_F64:
    return 8;
  case IR_BOOL:
  case IR_DTYPE_COUNT:
    return 1;
  }
  return 1;
}

/* Saturates instead of overflowing: a huge size then fails to allocate. */
int64_t cg_node_bytes(const IrNode *n) {
  int64_t bytes = cg_dtype_size((IrDtype)n->dtype);
  for (int i = 0; i < n->shape.rank; i++)
    if (__builtin_mul_overflow(bytes, n->shape.d[i].n, &bytes))
      return INT64_MAX / 2;
  return bytes;
}

static int64_t align_up(int64_t n) {
  if (n > INT64_MAX / 2)
    return INT64_MAX / 2;
  return (n + CG_ALIGN - 1) / CG_ALIGN * CG_ALIGN;
}

/* ---- a best-fit free list over [0, top) -------------------------------------
   Offsets and sizes are linear in the batch dim, c0 + c1 * batch (c1 = 0
   without one, or for the JIT), so one plan serves every batch: a block is
   reused only by a buffer no larger at any batch (both parts no larger),
   and blocks split and merge part by part. `b` is the batch the graph is
   bound to, for the byte values the plan also reports. */
typedef struct Block {
  CgLin off, size;
} Block;

typedef struct Heap {
  Block *free; /* sorted by offset at b, never adjacent */
  int n, cap;
  CgLin top;
  int64_t b;
} Heap;

static int64_t lin_at(CgLin v, int64_t b) { return v.c0 + v.c1 * b; }
static CgLin lin_add(CgLin a, CgLin b) { return (CgLin){a.c0 + b.c0, a.c1 + b.c1}; }
static CgLin lin_sub(CgLin a, CgLin b) { return (CgLin){a.c0 - b.c0, a.c1 - b.c1}; }
static bool lin_eq(CgLin a, CgLin b) { return a.c0 == b.c0 && a.c1 == b.c1; }
static bool lin_zero(CgLin a) { return a.c0 == 0 && a.c1 == 0; }
static bool lin_covers(CgLin big, CgLin small) { return big.c0 >= small.c0 && big.c1 >= small.c1; }
/* Smaller for large batches first. */
static bool lin_less(CgLin a, CgLin b) { return a.c1 != b.c1 ? a.c1 < b.c1 : a.c0 < b.c0; }

static void heap_remove(Heap *h, int i) {
  memmove(&h->free[i], &h->free[i + 1], (size_t)(h->n - i - 1) * sizeof(Block));
  h->n--;
}

static CgLin grow(Heap *h, CgLin size) {
  CgLin off = h->top;
  if (__builtin_add_overflow(h->top.c0, size.c0, &h->top.c0) ||
      __builtin_add_overflow(h->top.c1, size.c1, &h->top.c1))
    h->top = (CgLin){INT64_MAX / 4, 0};
  return off;
}

static CgLin heap_alloc(Heap *h, CgLin size) {
  int best = -1;
  for (int i = 0; i < h->n; i++)
    if (lin_covers(h->free[i].size, size) && (best < 0 || lin_less(h->free[i].size, h->free[best].size)))
      best = i;
  if (best >= 0) {
    CgLin off = h->free[best].off;
    h->free[best].off = lin_add(h->free[best].off, size);
    h->free[best].size = lin_sub(h->free[best].size, size);
    if (lin_zero(h->free[best].size))
      heap_remove(h, best);
    return off;
  }
  /* The block at the top can be extended instead of left behind (when the
     new buffer is at least as large in both parts). */
  if (h->n > 0) {
    Block *last = &h->free[h->n - 1];
    if (lin_eq(lin_add(last->off, last->size), h->top) && lin_covers(size, last->size)) {
      h->top = last->off;
      heap_remove(h, h->n - 1);
    }
  }
  return grow(h, size);
}

static void heap_release(Heap *h, CgLin off, CgLin size) {
  if (lin_zero(size))
    return;
  int i = 0;
  while (i < h->n && lin_at(h->free[i].off, h->b) < lin_at(off, h->b))
    i++;
  if (i > 0 && lin_eq(lin_add(h->free[i - 1].off, h->free[i - 1].size), off)) {
    h->free[i - 1].size = lin_add(h->free[i - 1].size, size);
    if (i < h->n && lin_eq(lin_add(off, size), h->free[i].off)) {
      h->free[i - 1].size = lin_add(h->free[i - 1].size, h->free[i].size);
      heap_remove(h, i);
    }
    return;
  }
  if (i < h->n && lin_eq(lin_add(off, size), h->free[i].off)) {
    h->free[i].off = off;
    h->free[i].size = lin_add(h->free[i].size, size);
    return;
  }
  if (h->n == h->cap) {
    h->cap = h->cap ? 2 * h->cap : 16;
    h->free = mc_xrealloc(h->free, (size_t)h->cap * sizeof(Block));
  }
  memmove(&h->free[i + 1], &h->free[i], (size_t)(h->n - i) * sizeof(Block));
  h->free[i] = (Block){off, size};
  h->n++;
}

/* A node's bytes as planned: c1 per unit of the batch when one of its dims
   holds the batch sym (aligned, so every batch keeps buffers aligned). A
   node with the batch in two dims is not linear (cg_aot.c rejects such
   graphs): its bytes at this batch. */
static CgLin node_size(const IrGraph *g, IrRef id, int bsym, int64_t b) {
  const IrNode *n = ir_node(g, id);
  int64_t bytes = cg_node_bytes(n);
  int uses = 0;
  for (int i = 0; bsym >= 0 && i < n->shape.rank; i++)
    uses += (n->shape.d[i].syms >> bsym) & 1u;
  if (uses != 1 || b <= 0)
    return (CgLin){align_up(bytes), 0};
  return (CgLin){0, align_up(bytes / b)};
}

/* ---- placement ------------------------------------------------------------ */

static bool is_computed(const IrNode *n) {
  return n->op != IR_OP_INPUT && n->op != IR_OP_PARAM && n->op != IR_OP_CONST;
}

static void assign_slots(CgPlan *p, const IrGraph *g) {
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (n->op == IR_OP_INPUT || n->op == IR_OP_PARAM) {
      p->loc[i] = (CgLoc){.kind = CG_LOC_SLOT, .slot = p->ninputs};
      p->slot_node[p->ninputs++] = i;
    }
  }
  p->nslots = p->ninputs + (int)g->nouts;
  p->copies = mc_xcalloc(g->nouts ? g->nouts : 1, sizeof(CgCopy));
  for (uint32_t k = 0; k < g->nouts; k++) {
    IrRef r = g->outs[k].ref;
    int slot = p->ninputs + (int)k;
    p->slot_node[slot] = r;
    const IrNode *n = ir_node(g, r);
    if (is_computed(n) && p->loc[r].kind == CG_LOC_NONE && cg_node_bytes(n) > 0)
      p->loc[r] = (CgLoc){.kind = CG_LOC_SLOT, .slot = slot};
    else
      p->copies[p->ncopies++] = (CgCopy){slot, r};
  }
}

/* other[r]: node r is read by something other than a matmul that can read
   it transposed through its packing. */
static bool *non_matmul_uses(const IrGraph *g) {
  bool *other = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *other);
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    bool folds = n->op == IR_OP_MATMUL && cg_matmul_can_fold(g, i);
    for (int k = 0; k < n->nsrc; k++)
      if (!folds)
        other[n->src[k]] = true;
  }
  return other;
}

/* A transpose of the last two axes (of a matrix, or of every matrix of a
   batch) that only matmuls read is no copy: they pack its source. */
static bool is_folded_permute(const IrNode *n, const bool *other, IrRef i) {
  return n->op == IR_OP_PERMUTE && cg_swaps_last_two(n) && !other[i];
}

/* A 2-D transpose of a matmul's product that nothing else reads computes
   the product transposed itself (B^T A^T), and a sum of a batched product
   over its batch the product summed (cg_matmul_sums_batch); the matmul gets
   no storage. */
static void assign_products(CgPlan *p, const IrGraph *g, const CgTarget *t) {
  uint32_t *uses = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *uses);
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    for (int k = 0; k < n->nsrc; k++)
      uses[n->src[k]]++;
  }
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    bool transposes = n->op == IR_OP_PERMUTE && n->shape.rank == 2 && n->attr.perm[0] == 1;
    bool sums = n->op == IR_OP_SUM && cg_matmul_sums_batch(g, i);
    if (!transposes && !sums)
      continue;
    if (p->loc[i].kind != CG_LOC_WORK && p->loc[i].kind != CG_LOC_SLOT)
      continue;
    IrRef m = n->src[0];
    if (ir_node(g, m)->op != IR_OP_MATMUL || uses[m] != 1 || p->loc[m].kind != CG_LOC_WORK ||
        !cg_matmul_can_fold(g, m) || cg_matmul_reads_windows(t, g, m))
      continue;
    p->loc[m].kind = CG_LOC_NONE;
    p->loc[i].product = true;
  }
  free(uses);
}

/* window[u]: unfold u is read in place from its images (by the
   convolutions and filter gradients its reshape feeds). */
static bool *window_operands(const IrGraph *g, const CgTarget *t) {
  bool *window = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *window);
  for (uint32_t i = 0; i < g->nnodes; i++) {
    IrRef u = cg_matmul_window_unfold(t, g, i);
    if (u != IR_NONE) window[u] = true;
  }
  return window;
}

static void assign_kinds(CgPlan *p, const IrGraph *g, const CgTarget *t) {
  bool *other = non_matmul_uses(g), *window = window_operands(g, t);
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    CgLoc *l = &p->loc[i];
    if (l->kind == CG_LOC_SLOT)
      continue;
    if (cg_node_bytes(n) == 0)
      l->kind = CG_LOC_NONE;
    else if (n->op == IR_OP_CONST)
      l->kind = CG_LOC_CONST;
    else if (n->op == IR_OP_RESHAPE || is_folded_permute(n, other, i) || window[i]) {
      IrRef s = n->src[0];
      *l = (CgLoc){.kind = CG_LOC_ALIAS,
                   .alias = p->loc[s].kind == CG_LOC_ALIAS ? p->loc[s].alias : s};
    } else
      l->kind = CG_LOC_WORK;
  }
  free(other);
  free(window);
  assign_products(p, g, t);
  for (uint32_t i = 0; i < g->nnodes; i++) /* values a kernel group keeps in registers */
    if (cg_group_multi(p, i) && !p->read_outside[i]) p->loc[i].kind = CG_LOC_NONE;
}

/* last[r]: the last call reading r's storage (through aliases), named by
   the node it runs at (a group's last member). */
static uint32_t *last_uses(const CgPlan *p, const IrGraph *g) {
  uint32_t *last = mc_xmalloc((g->nnodes ? g->nnodes : 1) * sizeof *last);
  for (uint32_t i = 0; i < g->nnodes; i++)
    last[i] = p->lead[i];
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (p->loc[i].product) /* reads the matmul's operands */
      n = ir_node(g, n->src[0]);
    for (int k = 0; k < n->nsrc; k++) {
      IrRef s = n->src[k];
      if (p->loc[s].kind == CG_LOC_ALIAS)
        s = p->loc[s].alias;
      if (last[s] < p->lead[i])
        last[s] = p->lead[i];
    }
  }
  return last;
}

/* The node needs matmul scratch (packing buffers). */
bool cg_plan_needs_scratch(const CgPlan *p, const IrGraph *g, IrRef id) {
  const CgLoc *l = &p->loc[id];
  return (ir_node(g, id)->op == IR_OP_MATMUL && (l->kind != CG_LOC_NONE || cg_group_multi(p, id))) ||
         l->product;
}

/* The node whose scratch is taken while the call at node i runs: i, or
   the matmul of the group i ends. */
static IrRef scratch_user(const CgPlan *p, const IrGraph *g, IrRef i) {
  if (!cg_group_multi(p, i))
    return cg_plan_needs_scratch(p, g, i) ? i : IR_NONE;
  if (p->lead[i] != i)
    return IR_NONE;
  for (IrRef r = i; r != IR_NONE; r = p->gprev[r])
    if (cg_plan_needs_scratch(p, g, r))
      return r;
  return IR_NONE;
}

/* ---- updates in place -------------------------------------------------------
   An UPDATE output is computed straight into its param's slot when its node
   is elementwise (it reads the param, if at all, at the element it writes),
   is no other output, runs after every other reader of the param and
   computes each element once: the output's own slot is then left untouched
   (cg.h). */

/* The param named `name`, or IR_NONE. */
static IrRef param_named(const IrGraph *g, const char *name) {
  for (uint32_t i = 0; i < g->nnodes; i++)
    if (ir_node(g, i)->op == IR_OP_PARAM && !strcmp(ir_node(g, i)->name, name))
      return i;
  return IR_NONE;
}

/* Every member of the group ending at `lead` is elementwise (each reads
   its operands at the element it computes). */
static bool elementwise_group(const CgPlan *p, const IrGraph *g, IrRef lead) {
  for (IrRef r = lead; r != IR_NONE; r = p->gprev[r]) {
    const IrNode *n = ir_node(g, r);
    if (ir_ops[n->op].cls != IR_CLASS_ELEM && n->op != IR_OP_EXPAND)
      return false;
  }
  return true;
}

/* The call that computes u (its group's) runs after every other reader of
   param `par` (through aliases too), or is one elementwise kernel with
   them. */
static bool reads_last(const CgPlan *p, const IrGraph *g, IrRef par, IrRef u) {
  IrRef at = p->lead[u];
  if (cg_group_multi(p, u) && !elementwise_group(p, g, at))
    return false;
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    for (int k = 0; k < n->nsrc; k++) {
      IrRef s = n->src[k];
      if (p->loc[s].kind == CG_LOC_ALIAS)
        s = p->loc[s].alias;
      if (s == par && i != u && p->lead[i] > at)
        return false;
    }
  }
  return true;
}

/* Each element of par is read and written once: u and par both span the
   index space of u's group. A smaller member of a larger group is computed
   once per element of the group's space (stores repeat, as broadcasts), so
   in place it would update its param again at every repetition. */
static bool once_per_element(const CgPlan *p, const IrGraph *g, IrRef par, IrRef u) {
  if (!cg_group_multi(p, u)) return true;
  CgGroup G;
  return cg_group_describe(p, g, p->lead[u], &G) &&
         ir_shape_equal(&ir_node(g, u)->shape, &G.space) &&
         ir_shape_equal(&ir_node(g, par)->shape, &G.space);
}

static void assign_inplace(CgPlan *p, const IrGraph *g, bool shared_params) {
  for (uint32_t k = 0; k < g->nouts; k++) {
    int slot = p->ninputs + (int)k;
    IrRef u = g->outs[k].ref, par = IR_NONE;
    p->result_slot[k] = slot;
    if (shared_params || g->outs[k].kind != IR_OUT_UPDATE || p->loc[u].kind != CG_LOC_SLOT || p->loc[u].slot != slot)
      continue;
    if (ir_ops[ir_node(g, u)->op].cls != IR_CLASS_ELEM ||
        (par = param_named(g, g->outs[k].name)) == IR_NONE || p->loc[par].kind != CG_LOC_SLOT ||
        !reads_last(p, g, par, u) || !once_per_element(p, g, par, u))
      continue;
    p->loc[u].slot = p->loc[par].slot;
    p->result_slot[k] = p->loc[par].slot;
  }
}

void cg_plan_build(CgPlan *p, const IrGraph *g, const CgTarget *t) {
  memset(p, 0, sizeof *p);
  uint32_t nn = g->nnodes ? g->nnodes : 1;
  p->loc = mc_xcalloc(nn, sizeof(CgLoc));
  p->slot_node = mc_xcalloc(nn + g->nouts, sizeof(IrRef));
  cg_groups_plan(p, g);
  assign_slots(p, g);
  assign_kinds(p, g, t);
  p->result_slot = mc_xcalloc(g->nouts + 1, sizeof *p->result_slot);
  assign_inplace(p, g, t->shared_params);
  uint32_t *last = last_uses(p, g);
  /* dies[i]: nodes whose storage is free once node i ran (linked lists) */
  uint32_t *head = mc_xmalloc(nn * sizeof *head), *next = mc_xmalloc(nn * sizeof *next);
  for (uint32_t i = 0; i < g->nnodes; i++)
    head[i] = IR_NONE;
  for (uint32_t i = 0; i < g->nnodes; i++) {
    if (p->loc[i].kind != CG_LOC_WORK)
      continue;
    next[i] = head[last[i]];
    head[last[i]] = i;
  }
  int bsym = t->aot ? t->batch_sym : -1;
  Heap h = {.b = bsym >= 0 ? g->syms[bsym].value : 0};
  int64_t base = p->heap_base = CG_WS_HEADER + align_up(8 * cg_plan_table_entries(p, g));
  for (uint32_t i = 0; i < g->nnodes; i++)
    if (p->loc[i].kind == CG_LOC_CONST) {
      CgLin size = node_size(g, i, bsym, h.b), off = heap_alloc(&h, size);
      p->loc[i].offset = base + lin_at(off, h.b);
      p->loc[i].offset1 = off.c1;
      p->naive_bytes += lin_at(size, h.b);
    }
  for (uint32_t i = 0; i < g->nnodes; i++) { /* kept from run to run, like the constants */
    int64_t bytes = cg_matmul_packed_bytes(t, p, g, i);
    if (bytes > 0) {
      CgLin size = {align_up(bytes), 0}, off = heap_alloc(&h, size);
      p->loc[i].packed = base + lin_at(off, h.b);
      p->naive_bytes += size.c0;
    }
  }
  p->const_end = base + lin_at(h.top, h.b);
  for (uint32_t i = 0; i < g->nnodes; i++) {
    CgLoc *l = &p->loc[i];
    if (l->kind == CG_LOC_WORK) {
      CgLin size = node_size(g, i, bsym, h.b), off = heap_alloc(&h, size);
      l->offset = base + lin_at(off, h.b);
      l->offset1 = off.c1;
      p->naive_bytes += lin_at(size, h.b);
    }
    IrRef su = scratch_user(p, g, i);
    if (su != IR_NONE) {
      CgLin scratch = {align_up(cg_matmul_scratch_bytes(t, g, su)), 0};
      CgLin off = heap_alloc(&h, scratch);
      p->loc[su].scratch = base + lin_at(off, h.b);
      p->loc[su].scratch1 = off.c1;
      p->naive_bytes += scratch.c0;
      heap_release(&h, off, scratch);
    }
    for (uint32_t d = head[i]; d != IR_NONE; d = next[d])
      heap_release(&h,
                   (CgLin){p->loc[d].offset - base - p->loc[d].offset1 * h.b, p->loc[d].offset1},
                   node_size(g, d, bsym, h.b));
  }
  p->workspace_bytes = base + lin_at(h.top, h.b);
  p->workspace_bytes1 = h.top.c1;
  p->naive_bytes += base;
  free(h.free);
  free(head);
  free(next);
  free(last);
}

int64_t cg_plan_table_entries(const CgPlan *p, const IrGraph *g) {
  return (int64_t)p->nslots + 2 * (int64_t)g->nnodes + 1;
}

int64_t cg_plan_entry(const CgPlan *p, const IrGraph *g, IrRef id) {
  const CgLoc *l = &p->loc[id];
  switch (l->kind) {
  case CG_LOC_NONE:
    return cg_plan_table_entries(p, g) - 1;
  case CG_LOC_SLOT:
    return l->slot;
  case CG_LOC_WORK:
  case CG_LOC_CONST:
    return p->nslots + (int64_t)id;
  case CG_LOC_ALIAS:
    return cg_plan_entry(p, g, l->alias);
  }
  return 0;
}

int64_t cg_plan_scratch_entry(const CgPlan *p, const IrGraph *g, IrRef id) {
  return p->nslots + (int64_t)g->nnodes + (int64_t)id;
}

void cg_plan_fill_table(const CgPlan *p, const IrGraph *g, void *ws) {
  char *base = ws;
  void **table = (void **)(base + CG_WS_HEADER);
  int64_t n = cg_plan_table_entries(p, g);
  for (int64_t i = 0; i < n; i++)
    table[i] = base;
  for (uint32_t id = 0; id < g->nnodes; id++) {
    const CgLoc *l = &p->loc[id];
    if (l->kind == CG_LOC_WORK || l->kind == CG_LOC_CONST)
      table[p->nslots + id] = base + l->offset;
    if (cg_plan_needs_scratch(p, g, id))
      table[p->nslots + g->nnodes + id] = base + l->scratch;
  }
}

void cg_plan_free(CgPlan *p) {
  free(p->lead);
  free(p->gprev);
  free(p->read_outside);
  free(p->loc);
  free(p->slot_node);
  free(p->copies);
  free(p->result_slot);
  memset(p, 0, sizeof *p);
}
