/* cg_fuse.c -- kernel groups: the `fuse` pass's annotations (IrNode.kernel)
   as codegen runs them. cg_groups_plan keeps the groups one kernel can run
   (an elementwise group, expand counting as elementwise; a reduction with
   the elementwise ops it reads inline and, over its rows, the ones that
   read it; a matmul with its epilogue, cg_matmul.c) and whose call,
   placed at the group's last member, sees every operand computed; the
   others fall apart into single nodes. A group's kernel walks its index space once, computing every
   member per element in registers: members read outside the group (or
   outputs) are stored, the others get no buffer. A reduction over the
   rows walks each row twice: once folding it, once computing the members
   that use the folded value. The kernel's key is the group's structure
   (ops, dtypes, which operand each member reads, broadcast masks), so
   equal groups share one kernel. */
#include <stdlib.h>
#include <string.h>

#include "cg_int.h"

/* ---- groups from the annotations ----------------------------------------------- */

static bool shape_into(const IrShape *a, const IrShape *b) {
  if (a->rank > b->rank) return false;
  int lead = b->rank - a->rank;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i].n != 1 && a->d[i].n != b->d[i + lead].n) return false;
  return true;
}

static bool is_member(const CgPlan *p, IrRef lead, IrRef x) { return p->lead[x] == lead; }

static int buf_index(const CgGroup *G, IrRef x) {
  for (int k = 0; k < G->nbuf; k++)
    if (G->buf[k] == x) return k;
  return -1;
}

static bool add_buf(CgGroup *G, IrRef x) {
  if (buf_index(G, x) >= 0) return true;
  if (G->nbuf == CG_GROUP_MAX_BUFS) return false;
  G->buf[G->nbuf++] = x;
  return true;
}

static bool row_reduce(const IrGraph *g, IrRef r) {
  const IrNode *n = ir_node(g, r), *x = ir_node(g, n->src[0]);
  return n->attr.keepdims && x->shape.rank >= 1 && n->attr.axes == 1u << (x->shape.rank - 1);
}

/* Matmul first, then a chain where each member reads the previous one
   (any of them may be stored). */
static bool check_matmul(const CgPlan *p, const IrGraph *g, const CgGroup *G) {
  const IrNode *mm = ir_node(g, G->m[0]);
  if (mm->op != IR_OP_MATMUL || (mm->dtype != IR_F32 && mm->dtype != IR_F64))
    return false;
  const IrNode *a = ir_node(g, mm->src[0]);
  if (a->shape.d[a->shape.rank - 1].n == 0 || G->nm - 1 > CG_EPILOGUE_MAX)
    return false;
  for (int i = 1; i < G->nm; i++) {
    const IrNode *e = ir_node(g, G->m[i]);
    if (ir_ops[e->op].cls != IR_CLASS_ELEM || e->dtype != mm->dtype || e->op == IR_OP_WHERE ||
        e->op == IR_OP_CAST || !ir_shape_equal(&e->shape, &mm->shape))
      return false;
    int chain = 0;
    for (int k = 0; k < e->nsrc; k++) {
      const IrNode *x = ir_node(g, e->src[k]);
      if (e->src[k] == G->m[i - 1]) {
        chain++;
        continue;
      }
      if (is_member(p, G->m[G->nm - 1], e->src[k]) || x->dtype != mm->dtype ||
          ir_epilogue_operand(&x->shape, &mm->shape) == IR_EPI_NONE)
        return false;
    }
    if (chain != 1) return false;
  }
  return true;
}

static bool depends_on(const IrGraph *g, const CgGroup *G, int j, IrRef r, const bool *dep) {
  const IrNode *n = ir_node(g, G->m[j]);
  for (int k = 0; k < n->nsrc; k++) {
    if (n->src[k] == r) return true;
    for (int i = 0; i < j; i++)
      if (G->m[i] == n->src[k] && dep[i]) return true;
  }
  return false;
}

/* Elementwise members around at most one reduction. */
static bool check_walk(const IrGraph *g, CgGroup *G) {
  int64_t best = -1;
  for (int i = 0; i < G->nm; i++) {
    const IrNode *n = ir_node(g, G->m[i]);
    IrOpClass c = ir_ops[n->op].cls;
    if (c == IR_CLASS_REDUCE) {
      if (G->reduce != IR_NONE) return false;
      G->reduce = G->m[i];
    } else if (c != IR_CLASS_ELEM && n->op != IR_OP_EXPAND) {
      return false;
    } else if (ir_shape_numel(&n->shape) > best ||
               (ir_shape_numel(&n->shape) == best && n->shape.rank > G->space.rank)) {
      best = ir_shape_numel(&n->shape); /* equal sizes: the higher rank holds the others */
      G->space = n->shape;
    }
  }
  if (G->reduce != IR_NONE) G->space = ir_node(g, ir_node(g, G->reduce)->src[0])->shape;
  if (ir_shape_numel(&G->space) <= 0) return false;
  bool dep[CG_GROUP_MAX_MEMBERS] = {0};
  bool row = G->reduce != IR_NONE && row_reduce(g, G->reduce);
  for (int i = 0; i < G->nm; i++) {
    const IrNode *n = ir_node(g, G->m[i]);
    if (G->m[i] != G->reduce && !shape_into(&n->shape, &G->space)) return false;
    dep[i] = G->reduce != IR_NONE && depends_on(g, G, i, G->reduce, dep);
    G->level[i] = G->m[i] == G->reduce ? 1 : dep[i] ? 2 : 0;
    if (dep[i] && !row) return false;
  }
  /* an unstored reduction lives in a register: only over rows */
  return G->reduce == IR_NONE || row || buf_index(G, G->reduce) >= 0;
}

bool cg_group_describe(const CgPlan *p, const IrGraph *g, IrRef lead, CgGroup *G) {
  memset(G, 0, sizeof *G);
  G->reduce = G->matmul = IR_NONE;
  IrRef rev[CG_GROUP_MAX_MEMBERS];
  int nm = 0;
  for (IrRef r = lead; r != IR_NONE; r = p->gprev[r]) {
    if (nm == CG_GROUP_MAX_MEMBERS) return false;
    rev[nm++] = r;
  }
  for (int i = 0; i < nm; i++) G->m[i] = rev[nm - 1 - i];
  G->nm = nm;
  for (int i = 0; i < nm; i++)
    if (p->read_outside[G->m[i]] && !add_buf(G, G->m[i])) return false;
  G->nstore = G->nbuf;
  if (G->nstore == 0) return false;
  for (int i = 0; i < nm; i++) {
    const IrNode *n = ir_node(g, G->m[i]);
    if (ir_shape_numel(&n->shape) == 0) return false;
    for (int k = 0; k < n->nsrc; k++)
      if (!is_member(p, lead, n->src[k]) && !add_buf(G, n->src[k])) return false;
  }
  if (ir_node(g, G->m[0])->op == IR_OP_MATMUL) {
    G->matmul = G->m[0];
    return check_matmul(p, g, G);
  }
  return check_walk(g, G);
}

static void degrade(CgPlan *p, IrRef lead) {
  for (IrRef r = lead; r != IR_NONE;) {
    IrRef prev = p->gprev[r];
    p->lead[r] = r;
    p->gprev[r] = IR_NONE;
    r = prev;
  }
}

static bool multi(const CgPlan *p, IrRef id) {
  return p->gprev[p->lead[id]] != IR_NONE;
}

/* Every operand from another group is computed before the reader's call. */
static bool order_ok(CgPlan *p, const IrGraph *g) {
  bool ok = true;
  for (IrRef i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    for (int k = 0; k < n->nsrc; k++) {
      IrRef s = n->src[k];
      if (p->lead[s] != p->lead[i] && p->lead[s] > p->lead[i] && multi(p, s)) {
        degrade(p, p->lead[s]);
        ok = false;
      }
    }
  }
  return ok;
}

static void mark_read_outside(CgPlan *p, const IrGraph *g) {
  memset(p->read_outside, 0, (g->nnodes ? g->nnodes : 1) * sizeof *p->read_outside);
  for (IrRef i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    for (int k = 0; k < n->nsrc; k++)
      if (p->lead[n->src[k]] != p->lead[i]) p->read_outside[n->src[k]] = true;
  }
  for (uint32_t o = 0; o < g->nouts; o++)
    if (g->outs[o].ref < g->nnodes) p->read_outside[g->outs[o].ref] = true;
}

static bool groupable(const IrNode *n) {
  IrOpClass c = ir_ops[n->op].cls;
  return n->kernel && (c == IR_CLASS_ELEM || c == IR_CLASS_REDUCE || c == IR_CLASS_CONTRACT ||
                       n->op == IR_OP_EXPAND);
}

void cg_groups_plan(CgPlan *p, const IrGraph *g) {
  uint32_t nn = g->nnodes ? g->nnodes : 1;
  p->lead = mc_xmalloc(nn * sizeof *p->lead);
  p->gprev = mc_xmalloc(nn * sizeof *p->gprev);
  p->read_outside = mc_xcalloc(nn, sizeof *p->read_outside);
  uint32_t maxk = 0;
  for (IrRef i = 0; i < g->nnodes; i++) {
    p->lead[i] = i;
    p->gprev[i] = IR_NONE;
    if (groupable(ir_node(g, i)) && ir_node(g, i)->kernel > maxk) maxk = ir_node(g, i)->kernel;
  }
  if (maxk == 0 || maxk > 4 * nn) return;
  IrRef *last = mc_xmalloc((maxk + 1) * sizeof *last);
  for (uint32_t k = 0; k <= maxk; k++) last[k] = IR_NONE;
  for (IrRef i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (!groupable(n)) continue;
    p->gprev[i] = last[n->kernel];
    last[n->kernel] = i;
  }
  for (IrRef i = 0; i < g->nnodes; i++) /* members point at the last one */
    if (groupable(ir_node(g, i))) p->lead[i] = last[ir_node(g, i)->kernel];
  free(last);
  bool stable = false;
  while (!stable) {
    stable = order_ok(p, g);
    mark_read_outside(p, g);
    CgGroup G;
    for (IrRef i = 0; i < g->nnodes; i++)
      if (p->lead[i] == i && multi(p, i) && !cg_group_describe(p, g, i, &G)) {
        degrade(p, i);
        stable = false;
      }
  }
}

bool cg_group_multi(const CgPlan *p, IrRef id) { return multi(p, id); }

/* ---- the kernel -------------------------------------------------------------------- */

typedef struct Body {
  const IrGraph *g;
  CgGroup G;
  int racc;            /* walk array of the reduction's result index */
  LLVMTypeRef rct;     /* the reduction's compute type */
  LLVMValueRef val[CG_GROUP_MAX_MEMBERS]; /* member values of this element (typed) */
  LLVMValueRef ext[CG_GROUP_MAX_BUFS];    /* loaded external operands (typed) */
} Body;

static int member_index(const CgGroup *G, IrRef x) {
  for (int i = 0; i < G->nm; i++)
    if (G->m[i] == x) return i;
  return -1;
}

static LLVMTypeRef member_ct(Cg *cx, const IrGraph *g, const IrNode *n) {
  bool wide = n->dtype == IR_F64 || n->dtype == IR_I32;
  for (int k = 0; k < n->nsrc; k++) {
    IrDtype t = (IrDtype)ir_node(g, n->src[k])->dtype;
    wide |= t == IR_F64 || t == IR_I32;
  }
  return wide ? cx->t_f64 : cx->t_f32;
}

/* The typed value of operand x at the current element. */
static LLVMValueRef operand_value(Cg *cx, Body *b, IrRef x, const CgWalk *w, LLVMValueRef *off,
                                  LLVMValueRef iv) {
  int j = member_index(&b->G, x);
  if (j >= 0) return b->val[j];
  int a = buf_index(&b->G, x);
  if (!b->ext[a]) {
    LLVMTypeRef t = cg_type(cx, (IrDtype)ir_node(b->g, x)->dtype);
    b->ext[a] = cg_load(cx, t, cg_karg(cx, a), cg_index_at(cx, off[a], iv, w->vst[a][w->rank - 1]));
  }
  return b->ext[a];
}

/* Computes the members of the levels in `levels` (bit per level) at one
   element; acc is the reduction's value (level 2 reads it). */
static void eval_members(Cg *cx, Body *b, unsigned levels, LLVMValueRef acc, const CgWalk *w,
                         LLVMValueRef *off, LLVMValueRef iv) {
  memset(b->ext, 0, sizeof b->ext);
  for (int i = 0; i < b->G.nm; i++) {
    const IrNode *n = ir_node(b->g, b->G.m[i]);
    if (b->G.m[i] == b->G.reduce) {
      b->val[i] = acc ? cg_from_compute(cx, acc, b->rct, (IrDtype)n->dtype) : NULL;
      continue;
    }
    if (!((levels >> b->G.level[i]) & 1u)) continue;
    if (n->op == IR_OP_EXPAND) { /* its operand, read broadcast */
      b->val[i] = operand_value(cx, b, n->src[0], w, off, iv);
      continue;
    }
    LLVMTypeRef ct = member_ct(cx, b->g, n);
    LLVMValueRef v[3] = {NULL, NULL, NULL};
    for (int k = 0; k < n->nsrc && k < 3; k++) {
      IrRef x = n->src[k];
      v[k] = cg_to_compute(cx, operand_value(cx, b, x, w, off, iv),
                           (IrDtype)ir_node(b->g, x)->dtype, ct);
    }
    LLVMValueRef r = cg_scalar(cx, (IrOp)n->op, ct, v[0], v[1], v[2]);
    b->val[i] = cg_from_compute(cx, r, ct, (IrDtype)n->dtype);
  }
}

static void store_members(Cg *cx, Body *b, unsigned levels, const CgWalk *w, LLVMValueRef *off,
                          LLVMValueRef iv) {
  for (int a = 0; a < b->G.nstore; a++) {
    int j = member_index(&b->G, b->G.buf[a]);
    if (b->G.m[j] == b->G.reduce || !((levels >> b->G.level[j]) & 1u)) continue;
    cg_store(cx, b->val[j], cg_karg(cx, a), cg_index_at(cx, off[a], iv, w->vst[a][w->rank - 1]));
  }
}

static LLVMValueRef reduce_input(Cg *cx, Body *b, const CgWalk *w, LLVMValueRef *off,
                                 LLVMValueRef iv) {
  IrRef x = ir_node(b->g, b->G.reduce)->src[0];
  return cg_to_compute(cx, operand_value(cx, b, x, w, off, iv), (IrDtype)ir_node(b->g, x)->dtype,
                       b->rct);
}

static LLVMValueRef fold(Cg *cx, Body *b, LLVMValueRef acc, LLVMValueRef x, bool reassoc) {
  IrOp op = (IrOp)ir_node(b->g, b->G.reduce)->op;
  LLVMValueRef v = cg_scalar(cx, op, b->rct, acc, x, NULL);
  if (reassoc && op == IR_OP_SUM && LLVMCanValueUseFastMathFlags(v))
    LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc);
  return v;
}

static LLVMValueRef identity(const Body *b) {
  bool max = ir_node(b->g, b->G.reduce)->op == IR_OP_MAX;
  return LLVMConstReal(b->rct, max ? -__builtin_inf() : 0.0);
}

static bool has_level(const Body *b, int level) {
  for (int i = 0; i < b->G.nm; i++)
    if (b->G.level[i] == level) return true;
  return false;
}

/* One innermost row of the walk. */
static void group_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  Body *b = ctx;
  LLVMValueRef n = w->vdims[w->rank - 1];
  CgFor l;
  if (b->G.reduce == IR_NONE) {
    cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), n, cg_i64(cx, 1));
    eval_members(cx, b, 1u, NULL, w, off, l.iv);
    store_members(cx, b, 1u, w, off, l.iv);
    cg_for_end(cx, &l);
    return;
  }
  const IrNode *r = ir_node(b->g, b->G.reduce);
  int rb = buf_index(&b->G, b->G.reduce); /* the reduction's buffer, or -1 */
  LLVMTypeRef rty = cg_type(cx, (IrDtype)r->dtype);
  bool row = w->st[b->racc][w->rank - 1] == 0;
  bool whole = row_reduce(b->g, b->G.reduce);
  if (!row && whole) { /* rows of one element (the walk dropped the axis) */
    cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), n, cg_i64(cx, 1));
    eval_members(cx, b, 1u, NULL, w, off, l.iv);
    LLVMValueRef v = fold(cx, b, identity(b), reduce_input(cx, b, w, off, l.iv), false);
    if (rb >= 0)
      cg_store(cx, cg_from_compute(cx, v, b->rct, (IrDtype)r->dtype), cg_karg(cx, rb),
               cg_index_at(cx, off[rb], l.iv, w->vst[rb][w->rank - 1]));
    store_members(cx, b, 1u, w, off, l.iv);
    eval_members(cx, b, 1u | 4u, v, w, off, l.iv);
    store_members(cx, b, 4u, w, off, l.iv);
    cg_for_end(cx, &l);
    return;
  }
  if (!row) { /* the result moves along the row: fold into memory */
    cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), n, cg_i64(cx, 1));
    eval_members(cx, b, 1u, NULL, w, off, l.iv);
    LLVMValueRef oi = cg_index_at(cx, off[rb], l.iv, w->vst[rb][w->rank - 1]);
    LLVMValueRef acc = cg_to_compute(cx, cg_load(cx, rty, cg_karg(cx, rb), oi), (IrDtype)r->dtype,
                                     b->rct);
    LLVMValueRef v = fold(cx, b, acc, reduce_input(cx, b, w, off, l.iv), false);
    cg_store(cx, cg_from_compute(cx, v, b->rct, (IrDtype)r->dtype), cg_karg(cx, rb), oi);
    store_members(cx, b, 1u, w, off, l.iv);
    cg_for_end(cx, &l);
    return;
  }
  /* over a row: whole rows (row kernel) start from the identity, else from memory */
  LLVMValueRef init =
      whole ? identity(b)
            : cg_to_compute(cx, cg_load(cx, rty, cg_karg(cx, rb), off[rb]), (IrDtype)r->dtype, b->rct);
  cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), n, cg_i64(cx, 1));
  LLVMValueRef acc = cg_for_carry(cx, &l, init);
  eval_members(cx, b, 1u, NULL, w, off, l.iv);
  LLVMValueRef next = fold(cx, b, acc, reduce_input(cx, b, w, off, l.iv), true);
  store_members(cx, b, 1u, w, off, l.iv);
  cg_for_carry_next(cx, acc, next);
  cg_for_end(cx, &l);
  if (rb >= 0) cg_store(cx, cg_from_compute(cx, next, b->rct, (IrDtype)r->dtype), cg_karg(cx, rb), off[rb]);
  if (!has_level(b, 2)) return;
  CgFor l2;
  cg_for_begin_nonempty(cx, &l2, cg_i64(cx, 0), n, cg_i64(cx, 1));
  eval_members(cx, b, 1u | 4u, next, w, off, l2.iv);
  store_members(cx, b, 4u, w, off, l2.iv);
  cg_for_end(cx, &l2);
}

/* The walk over the group's space: buffers first, then the reduction's
   result index. */
static void group_walk(const IrGraph *g, const CgGroup *G, CgWalk *w, int *racc) {
  cg_walk_init(w, &G->space);
  for (int a = 0; a < G->nbuf; a++)
    cg_broadcast_strides(&ir_node(g, G->buf[a])->shape, G->space.rank, w->st[a]);
  *racc = -1;
  if (G->reduce != IR_NONE) {
    const IrNode *r = ir_node(g, G->reduce);
    int64_t ost[IR_MAX_RANK];
    cg_contiguous_strides(&r->shape, ost);
    *racc = G->nbuf;
    for (int i = 0, oi = 0; i < G->space.rank; i++) {
      bool reduced = (r->attr.axes >> i) & 1u;
      w->st[*racc][i] = reduced ? 0 : ost[oi];
      if (!reduced || r->attr.keepdims) oi++;
    }
    int rb = buf_index(G, G->reduce);
    if (rb >= 0) memcpy(w->st[rb], w->st[*racc], sizeof w->st[rb]);
  }
  cg_walk_coalesce(w);
}

/* The reduction's stored result starts at the identity (unless rows fold
   in registers). */
static void fill_identity(Cg *cx, Body *b, const CgWalk *w) {
  int rb = buf_index(&b->G, b->G.reduce);
  if (rb < 0 || row_reduce(b->g, b->G.reduce)) return;
  const IrNode *r = ir_node(b->g, b->G.reduce);
  LLVMValueRef v = cg_from_compute(cx, identity(b), b->rct, (IrDtype)r->dtype);
  LLVMValueRef count = cg_i64(cx, 1);
  for (int i = 0; i < w->rank; i++)
    if (w->st[b->racc][i])
      count = LLVMBuildNSWMul(cx->b, count, w->vdims[i], "");
  CgFor l;
  cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), count, cg_i64(cx, 1));
  cg_store(cx, v, cg_karg(cx, rb), l.iv);
  cg_for_end(cx, &l);
}

static void body_init(Cg *cx, Body *b, IrRef lead, CgWalk *w, int first_extent) {
  memset(b, 0, sizeof *b);
  b->g = cx->g;
  bool ok = cg_group_describe(cx->plan, cx->g, lead, &b->G);
  MC_ASSERT(ok);
  group_walk(cx->g, &b->G, w, &b->racc);
  cg_walk_runtime(cx, w, first_extent);
  if (b->G.reduce != IR_NONE) {
    const IrNode *r = ir_node(cx->g, b->G.reduce), *x = ir_node(cx->g, r->src[0]);
    b->rct = (x->dtype == IR_F32 && r->dtype == IR_F32) ? cx->t_f32 : cx->t_f64;
  }
}

/* A group whose walk ends in an axis this short (a pooling window's row,
   where a broadcast operand breaks contiguity: a max's gradient over
   [B, C, OH, 2, OW, 2]) would loop a few elements at a time: instead the
   loop runs along the axis outside it, computing every element of the
   short row in its body (unrolled), so that the loop vectorizes with the
   short rows' reads and writes as interleaved groups. A reduction over the
   short axis (and not over the one outside: the count of a window's
   maxima, summed over [.., 2, .., 2] into [.., 1, .., 1]) folds each short
   row into its result element in the same body, in the order the row
   loop folded it; its loop stays scalar (the walk's strides are runtime
   values, so the vectorizer finds no interleaved groups) but loses the
   inner loop's overhead: lenet's count kernels 0.14 -> 0.09 and 0.05 ->
   0.03 ms. The length is in the kernel's key. */
#define SHORT_INNER 4

static int short_inner(const IrGraph *g, const CgGroup *G, const CgWalk *w, int racc) {
  int r = w->rank;
  if (r < 2 || w->dims[r - 1] > SHORT_INNER) return 0;
  if (G->reduce != IR_NONE) {
    bool inner_reduced = w->st[racc][r - 1] == 0 && w->st[racc][r - 2] != 0;
    for (int i = 0; i < G->nm; i++)
      if (G->level[i] == 2) return 0;
    if (!inner_reduced || row_reduce(g, G->reduce) || buf_index(G, G->reduce) < 0) return 0;
  }
  return (int)w->dims[r - 1];
}

typedef struct ShortInner {
  Body *b;
  int len;
  LLVMValueRef step[CG_WALK_ARRAYS]; /* each array's stride along the short axis */
} ShortInner;

static void short_inner_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  const ShortInner *si = ctx;
  Body *b = si->b;
  int rb = b->G.reduce != IR_NONE ? buf_index(&b->G, b->G.reduce) : -1;
  CgFor l;
  cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), w->vdims[w->rank - 1], cg_i64(cx, 1));
  LLVMValueRef oi = NULL, acc = NULL;
  IrDtype rt = IR_F32;
  if (rb >= 0) { /* the short axis is reduced: fold it into the result's element */
    rt = (IrDtype)ir_node(b->g, b->G.reduce)->dtype;
    oi = cg_index_at(cx, off[rb], l.iv, w->vst[rb][w->rank - 1]);
    acc = cg_to_compute(cx, cg_load(cx, cg_type(cx, rt), cg_karg(cx, rb), oi), rt, b->rct);
  }
  for (int e = 0; e < si->len; e++) {
    LLVMValueRef at[CG_WALK_ARRAYS];
    for (int a = 0; a < b->G.nbuf; a++)
      at[a] = cg_index_at(cx, off[a], cg_i64(cx, e), si->step[a]);
    eval_members(cx, b, 1u, NULL, w, at, l.iv);
    if (rb >= 0) acc = fold(cx, b, acc, reduce_input(cx, b, w, at, l.iv), false);
    store_members(cx, b, 1u, w, at, l.iv);
  }
  if (rb >= 0) cg_store(cx, cg_from_compute(cx, acc, b->rct, rt), cg_karg(cx, rb), oi);
  cg_for_end(cx, &l);
}

/* Walks w without its short innermost axis, each step over its elements. */
static void emit_short_inner(Cg *cx, Body *b, const CgWalk *w, int len) {
  ShortInner si = {.b = b, .len = len};
  for (int a = 0; a < b->G.nbuf; a++) si.step[a] = w->vst[a][w->rank - 1];
  CgWalk outer = *w;
  outer.rank--;
  cg_walk_emit(cx, &outer, short_inner_row, &si);
}

/* [begin, end) of axis c->split_axis (parallel parts), or all. The
   strides stay those of the whole walk. */
static void emit_group_walk(Cg *cx, const CgCall *c, LLVMValueRef begin, LLVMValueRef end) {
  Body *b = mc_xmalloc(sizeof *b);
  CgWalk w;
  body_init(cx, b, c->node, &w, 3 + c->nin);
  if (begin) {
    int s = c->split_axis;
    for (int a = 0; a < b->G.nbuf; a++) {
      LLVMTypeRef t = cg_type(cx, (IrDtype)ir_node(cx->g, b->G.buf[a])->dtype);
      LLVMValueRef at = LLVMBuildNSWMul(cx->b, begin, w.vst[a][s], "");
      cx->kargs[a] = cg_gep(cx, t, cx->kargs[a], at);
    }
    w.vdims[s] = LLVMBuildNSWSub(cx->b, end, begin, "");
  }
  if (b->G.reduce != IR_NONE) fill_identity(cx, b, &w);
  for (int i = 0; i < b->G.nm; i++) {
    int k = cg_op_interleave((IrOp)ir_node(cx->g, b->G.m[i])->op);
    if (k > cx->interleave) cx->interleave = k;
  }
  int len = short_inner(cx->g, &b->G, &w, b->racc);
  if (len && c->split_axis < w.rank - 1)
    emit_short_inner(cx, b, &w, len);
  else
    cg_walk_emit(cx, &w, group_row, b);
  cx->interleave = 0;
  free(b);
}

static void emit_group(Cg *cx, const CgCall *c) { cg_emit_in_parts(cx, c, emit_group_walk); }

/* ---- lowering ------------------------------------------------------------------------ */

/* Member i's operands as m<j> (member) or b<k> (buffer). */
static void key_members(CgCall *c, const IrGraph *g, const CgGroup *G) {
  for (int i = 0; i < G->nm; i++) {
    const IrNode *n = ir_node(g, G->m[i]);
    cg_key_printf(c, " %s.%s(", ir_ops[n->op].name, ir_dtype_name((IrDtype)n->dtype));
    for (int k = 0; k < n->nsrc; k++) {
      int j = member_index(G, n->src[k]);
      if (j >= 0) cg_key_printf(c, "%sm%d", k ? "," : "", j);
      else cg_key_printf(c, "%sb%d", k ? "," : "", buf_index(G, n->src[k]));
    }
    cg_key_printf(c, ")");
    if (n->op == IR_OP_SUM || n->op == IR_OP_MAX) cg_key_printf(c, "k%d", n->attr.keepdims);
  }
}

/* The axis along which a big group runs in parts, or -1: one that every
   store moves along (each element is stored by one part). Without a
   reduction or with one over rows, the outermost (each row folded by one
   part); with one over outer axes (a bias gradient summing a batch), the
   first axis the result moves along: each part folds every batch into its
   own range of results, in the same order as one thread would. */
static int group_split_axis(const Cg *cx, const CgGroup *G, const CgWalk *w, int racc) {
  if (cx->tgt->threads < 2 || ir_shape_numel(&G->space) < 65536)
    return -1;
  int s = 0;
  if (G->reduce != IR_NONE) {
    uint32_t acc = cg_walk_mask(w, racc);
    if (w->rank < 2 || !acc) return -1;
    if (!row_reduce(cx->g, G->reduce))
      while (!(acc & 1u << s)) s++;
    else if (!(acc & 1u)) return -1;
  }
  if (w->dims[s] < 2) return -1;
  for (int a = 0; a < G->nstore; a++)
    if (!(cg_walk_mask(w, a) & 1u << s)) return -1;
  return s;
}

void cg_group_lower(Cg *cx, IrRef lead, CgAddCall add) {
  CgGroup G;
  bool ok = cg_group_describe(cx->plan, cx->g, lead, &G);
  MC_ASSERT(ok);
  if (G.matmul != IR_NONE) {
    cg_matmul_lower_group(cx, &G, add);
    return;
  }
  CgWalk w;
  int racc;
  group_walk(cx->g, &G, &w, &racc);
  CgCall *c = mc_xcalloc(1, sizeof *c);
  c->node = lead;
  c->kind = G.reduce != IR_NONE ? "fused_reduce" : "fused";
  c->out = cg_plan_entry(cx->plan, cx->g, G.buf[0]);
  for (int a = 1; a < G.nbuf; a++) c->in[c->nin++] = cg_plan_entry(cx->plan, cx->g, G.buf[a]);
  snprintf(c->key, sizeof c->key, "group");
  key_members(c, cx->g, &G);
  for (int a = 0; a < G.nstore; a++) cg_key_printf(c, " st%d", member_index(&G, G.buf[a]));
  if (G.reduce != IR_NONE) cg_key_printf(c, " row%d", row_reduce(cx->g, G.reduce));
  for (int a = 0; a < G.nbuf; a++)
    cg_key_printf(c, " %s/%x", ir_dtype_name((IrDtype)ir_node(cx->g, G.buf[a])->dtype),
            cg_walk_mask(&w, a));
  if (racc >= 0) cg_key_printf(c, " r/%x", cg_walk_mask(&w, racc));
  cg_key_printf(c, " rank=%d", w.rank);
  int split = group_split_axis(cx, &G, &w, racc);
  c->parallel = split >= 0;
  c->split_axis = c->parallel ? split : 0;
  if (c->parallel) cg_key_printf(c, " parts%d", split);
  int len = short_inner(cx->g, &G, &w, racc);
  if (len && c->split_axis < w.rank - 1) cg_key_printf(c, " inner%d", len);
  for (int i = 0; i < w.rank; i++) c->ext[c->n++] = w.dims[i];
  c->emit = emit_group;
  add(cx, c);
  free(c);
}
