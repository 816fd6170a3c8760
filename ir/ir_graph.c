/* ir_graph.c -- graphs, named dims, dim arithmetic, the type printer and the
   builder. Every node goes through build_node, which checks arity, runs the
   op's shape rule (ir_shape.c) on a scratch node and only then appends it, so
   a graph never holds a node whose type was not checked. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* ---- saturating arithmetic: dims come from user text, never overflow ---- */

static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return INT64_MAX;
  return r;
}

static int64_t sym_product(const IrGraph *g, uint32_t syms) {
  int64_t p = 1;
  for (uint32_t i = 0; i < g->nsyms && i < IR_MAX_SYMS; i++)
    if (syms & (1u << i)) p = sat_mul(p, g->syms[i].value);
  return p;
}

/* ---- graphs --------------------------------------------------------------- */

IrGraph *ir_graph_new(const char *name, McDiag *diag) {
  IrGraph *g = mc_xcalloc(1, sizeof *g);
  mc_arena_init(&g->arena);
  g->name = mc_arena_strdup(&g->arena, name && *name ? name : "main");
  g->diag = diag;
  return g;
}

void ir_graph_free(IrGraph *g) {
  if (!g) return;
  free(g->nodes);
  free(g->outs);
  mc_arena_free(&g->arena);
  free(g);
}

/* Adding a name that exists returns its index and leaves its value as is. */
int ir_graph_add_sym(IrGraph *g, const char *name, int64_t value) {
  int i = ir_graph_find_sym(g, name);
  if (i >= 0) return i;
  if (g->nsyms >= IR_MAX_SYMS) return -1;
  g->syms[g->nsyms].name = mc_arena_strdup(&g->arena, name);
  g->syms[g->nsyms].value = value;
  return (int)g->nsyms++;
}

int ir_graph_find_sym(const IrGraph *g, const char *name) {
  for (uint32_t i = 0; i < g->nsyms; i++)
    if (strcmp(g->syms[i].name, name) == 0) return (int)i;
  return -1;
}

static void refresh_shape(const IrGraph *g, IrShape *s) {
  for (int i = 0; i < s->rank && i < IR_MAX_RANK; i++)
    if (s->d[i].syms) s->d[i].n = sat_mul(s->d[i].k, sym_product(g, s->d[i].syms));
}

static void refresh_all_dims(IrGraph *g) {
  for (uint32_t i = 0; i < g->nnodes; i++) refresh_shape(g, &g->nodes[i].shape);
}

/* Re-runs every shape rule in id order so that dims derived from operands
   and the checks of preset shapes see the new values. */
static bool recheck_all_nodes(IrGraph *g) {
  for (uint32_t i = 0; i < g->nnodes; i++) {
    IrNode tmp = g->nodes[i];
    if (!ir_ops[tmp.op].shape(g, &tmp)) return false;
    g->nodes[i].shape = tmp.shape;
    g->nodes[i].dtype = tmp.dtype;
  }
  return true;
}

/* On failure the old value is restored, so the graph stays valid. */
bool ir_graph_bind_sym(IrGraph *g, int sym, int64_t value) {
  if (sym < 0 || (uint32_t)sym >= g->nsyms) return false;
  IrSym *s = &g->syms[sym];
  if (value < 0) {
    if (g->diag)
      mc_error(g->diag, (McLoc){0}, "dim %s must be >= 0, not %lld", s->name, (long long)value);
    return false;
  }
  int64_t old = s->value;
  s->value = value;
  refresh_all_dims(g);
  if (recheck_all_nodes(g)) return true;
  s->value = old;
  refresh_all_dims(g);
  recheck_all_nodes(g);
  return false;
}

/* ---- dims ----------------------------------------------------------------- */

IrDim ir_dim_const(int64_t n) { return (IrDim){.n = n, .k = n, .syms = 0}; }

IrDim ir_dim_sym(const IrGraph *g, int sym) {
  MC_ASSERT(sym >= 0 && (uint32_t)sym < g->nsyms);
  return (IrDim){.n = g->syms[sym].value, .k = 1, .syms = 1u << sym};
}

/* A square such as B*B has no symbolic form (syms is a set): it becomes a
   constant under the current binding. */
IrDim ir_dim_mul(const IrGraph *g, IrDim a, IrDim b) {
  (void)g;
  int64_t n = sat_mul(a.n, b.n);
  if ((a.syms & b.syms) || a.k == 0 || b.k == 0) return ir_dim_const(n);
  return (IrDim){.n = n, .k = sat_mul(a.k, b.k), .syms = a.syms | b.syms};
}

bool ir_dim_div(const IrGraph *g, IrDim a, IrDim b, IrDim *out) {
  (void)g;
  if (b.n == 0 || a.n % b.n != 0) return false;
  uint32_t rest = a.syms & ~b.syms;
  bool symbolic = (b.syms & ~a.syms) == 0 && b.k != 0 && a.k % b.k == 0;
  *out = symbolic && rest ? (IrDim){.n = a.n / b.n, .k = a.k / b.k, .syms = rest}
                          : ir_dim_const(a.n / b.n);
  return true;
}

bool ir_shape_equal(const IrShape *a, const IrShape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank && i < IR_MAX_RANK; i++)
    if (a->d[i].n != b->d[i].n) return false;
  return true;
}

int64_t ir_shape_numel(const IrShape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank && i < IR_MAX_RANK; i++) n = sat_mul(n, s->d[i].n);
  return n;
}

/* x (rank <= mm's, aligned to mm's last axes) has mm's size on the axis
   `from_end` places before mm's last and 1 on every other axis. */
static bool varies_only_along(const IrShape *x, const IrShape *mm, int from_end) {
  if (x->rank > mm->rank) return false;
  for (int i = 0; i < x->rank; i++) {
    int e = x->rank - 1 - i; /* x's axis i is mm's axis rank-1-e */
    int64_t want = e == from_end ? mm->d[mm->rank - 1 - e].n : 1;
    if (x->d[i].n != want) return false;
  }
  return x->rank > from_end;
}

IrEpiOperand ir_epilogue_operand(const IrShape *x, const IrShape *mm) {
  if (ir_shape_numel(x) == 1) return IR_EPI_SCALAR;
  if (mm->rank < 2) return IR_EPI_NONE;
  if (varies_only_along(x, mm, 0)) return IR_EPI_ROW;
  if (varies_only_along(x, mm, 1) && !mm->d[mm->rank - 2].syms) return IR_EPI_COL;
  return ir_shape_equal(x, mm) ? IR_EPI_FULL : IR_EPI_NONE;
}

bool ir_dim_same(IrDim a, IrDim b) { return a.n == b.n && a.k == b.k && a.syms == b.syms; }

bool ir_shape_fixed_from(const IrShape *s, int from) {
  for (int i = from; i < s->rank && i < IR_MAX_RANK; i++)
    if (s->d[i].syms) return false;
  return true;
}

static void print_dim(McStr *out, const IrGraph *g, IrDim d) {
  if (!d.syms) {
    mc_str_printf(out, "%lld", (long long)d.n);
    return;
  }
  bool first = true;
  if (d.k != 1) {
    mc_str_printf(out, "%lld", (long long)d.k);
    first = false;
  }
  for (uint32_t i = 0; i < IR_MAX_SYMS; i++) {
    if (!(d.syms & (1u << i))) continue;
    if (!first) mc_str_putc(out, '*');
    mc_str_puts(out, i < g->nsyms ? g->syms[i].name : "?");
    first = false;
  }
}

void ir_shape_print(McStr *out, const IrGraph *g, IrDtype t, const IrShape *s) {
  mc_str_puts(out, ir_dtype_name(t));
  mc_str_putc(out, '[');
  for (int i = 0; i < s->rank && i < IR_MAX_RANK; i++) {
    if (i) mc_str_putc(out, ',');
    print_dim(out, g, s->d[i]);
  }
  mc_str_putc(out, ']');
}

const char *ir_type_str(const IrGraph *g, IrDtype t, const IrShape *s) {
  McStr b;
  mc_str_init(&b);
  ir_shape_print(&b, g, t, s);
  char *r = mc_arena_strdup((McArena *)&g->arena, b.s ? b.s : "");
  mc_str_free(&b);
  return r;
}

/* ---- the builder ---------------------------------------------------------- */

static bool check_arity(IrGraph *g, IrOp op, int nsrc, McLoc loc) {
  int arity = ir_ops[op].arity;
  if (arity < 0 ? nsrc >= 1 && nsrc <= UINT16_MAX : nsrc == arity) return true;
  if (g->diag) {
    if (arity < 0)
      mc_error(g->diag, loc, "%s takes at least 1 operand, not %d", ir_ops[op].name, nsrc);
    else
      mc_error(g->diag, loc, "%s takes %d operand%s, not %d", ir_ops[op].name, arity,
               arity == 1 ? "" : "s", nsrc);
  }
  return false;
}

static IrNode *append_node(IrGraph *g) {
  if (g->nnodes == g->capnodes) {
    g->capnodes = g->capnodes ? 2 * g->capnodes : 16;
    g->nodes = mc_xrealloc(g->nodes, g->capnodes * sizeof *g->nodes);
  }
  IrNode *n = &g->nodes[g->nnodes++];
  memset(n, 0, sizeof *n);
  return n;
}

/* Checks, runs the shape rule on a scratch node, then appends. */
static IrRef build_node(IrGraph *g, IrOp op, const IrRef *src, int nsrc,
                        const IrAttr *attr, const IrShape *shape, IrDtype dtype,
                        const char *name, McLoc loc) {
  if ((unsigned)op >= IR_OP_COUNT) {
    if (g->diag) mc_error(g->diag, loc, "unknown op %d", (int)op);
    return IR_NONE;
  }
  for (int i = 0; i < nsrc; i++)
    if (src[i] == IR_NONE) return IR_NONE;
  if (!check_arity(g, op, nsrc, loc)) return IR_NONE;
  for (int i = 0; i < nsrc; i++) {
    if (src[i] >= g->nnodes) {
      if (g->diag)
        mc_error(g->diag, loc, "operand %%%u of %s is not a node of the graph", src[i],
                 ir_ops[op].name);
      return IR_NONE;
    }
  }
  if (shape && shape->rank > IR_MAX_RANK) {
    if (g->diag)
      mc_error(g->diag, loc, "cannot %s: rank %d exceeds %d", ir_ops[op].name, shape->rank,
               IR_MAX_RANK);
    return IR_NONE;
  }
  IrNode tmp = {0};
  tmp.op = (uint8_t)op;
  tmp.dtype = (uint8_t)((unsigned)dtype < IR_DTYPE_COUNT ? dtype : IR_DTYPE_COUNT);
  tmp.nsrc = (uint16_t)nsrc;
  tmp.src = (IrRef *)src;
  if (shape) tmp.shape = *shape;
  if (attr) tmp.attr = *attr;
  tmp.name = name;
  tmp.loc = loc;
  if (!ir_ops[op].shape(g, &tmp)) return IR_NONE;

  IrRef *copy = NULL;
  if (nsrc) {
    copy = mc_arena_alloc(&g->arena, (size_t)nsrc * sizeof *copy);
    memcpy(copy, src, (size_t)nsrc * sizeof *copy);
  }
  tmp.src = copy;
  tmp.name = name ? mc_arena_strdup(&g->arena, name) : NULL;
  IrNode *n = append_node(g);
  *n = tmp;
  return g->nnodes - 1;
}

IrRef ir_build(IrGraph *g, IrOp op, const IrRef *src, int nsrc, const IrAttr *attr,
               const IrShape *shape, IrDtype dtype, McLoc loc) {
  return build_node(g, op, src, nsrc, attr, shape, dtype, NULL, loc);
}

/* ---- convenience builders -------------------------------------------------- */

static bool has_node(const IrGraph *g, IrRef r) { return r != IR_NONE && r < g->nnodes; }

IrRef ir_input(IrGraph *g, const char *name, IrDtype t, const IrShape *s, McLoc loc) {
  return build_node(g, IR_OP_INPUT, NULL, 0, NULL, s, t, name, loc);
}

IrRef ir_param(IrGraph *g, const char *name, IrDtype t, const IrShape *s, IrInit init,
               McLoc loc) {
  IrAttr a = {0};
  a.init = init;
  return build_node(g, IR_OP_PARAM, NULL, 0, &a, s, t, name, loc);
}

IrRef ir_const(IrGraph *g, double value, IrDtype t, McLoc loc) {
  IrAttr a = {0};
  a.value = value;
  IrShape s = {0};
  return ir_build(g, IR_OP_CONST, NULL, 0, &a, &s, t, loc);
}

IrRef ir_iota(IrGraph *g, const IrShape *s, int axis, IrDtype t, McLoc loc) {
  IrAttr a = {0};
  a.axis = axis;
  return ir_build(g, IR_OP_IOTA, NULL, 0, &a, s, t, loc);
}

IrRef ir_unary(IrGraph *g, IrOp op, IrRef x, McLoc loc) {
  return ir_build(g, op, &x, 1, NULL, NULL, IR_F32, loc);
}

IrRef ir_binary(IrGraph *g, IrOp op, IrRef a, IrRef b, McLoc loc) {
  IrRef src[2] = {a, b};
  return ir_build(g, op, src, 2, NULL, NULL, IR_F32, loc);
}

IrRef ir_where(IrGraph *g, IrRef cond, IrRef a, IrRef b, McLoc loc) {
  IrRef src[3] = {cond, a, b};
  return ir_build(g, IR_OP_WHERE, src, 3, NULL, NULL, IR_F32, loc);
}

IrRef ir_cast(IrGraph *g, IrRef x, IrDtype t, McLoc loc) {
  return ir_build(g, IR_OP_CAST, &x, 1, NULL, NULL, t, loc);
}

IrRef ir_reduce(IrGraph *g, IrOp op, IrRef x, uint32_t axes, bool keepdims, McLoc loc) {
  IrAttr a = {0};
  a.axes = axes;
  a.keepdims = keepdims;
  return ir_build(g, op, &x, 1, &a, NULL, IR_F32, loc);
}

IrRef ir_matmul(IrGraph *g, IrRef a, IrRef b, McLoc loc) {
  return ir_binary(g, IR_OP_MATMUL, a, b, loc);
}

IrRef ir_reshape(IrGraph *g, IrRef x, const IrShape *s, McLoc loc) {
  return ir_build(g, IR_OP_RESHAPE, &x, 1, NULL, s, IR_F32, loc);
}

/* Reads perm[0 .. rank(x)-1]. */
IrRef ir_permute(IrGraph *g, IrRef x, const uint8_t *perm, McLoc loc) {
  IrAttr a = {0};
  if (has_node(g, x))
    for (int i = 0; i < g->nodes[x].shape.rank; i++) a.perm[i] = perm[i];
  return ir_build(g, IR_OP_PERMUTE, &x, 1, &a, NULL, IR_F32, loc);
}

IrRef ir_expand(IrGraph *g, IrRef x, const IrShape *s, McLoc loc) {
  return ir_build(g, IR_OP_EXPAND, &x, 1, NULL, s, IR_F32, loc);
}

/* A whole axis (start 0, step 1, count = dim) keeps its symbolic form. */
IrRef ir_slice(IrGraph *g, IrRef x, const int64_t *start, const int64_t *step,
               const int64_t *count, McLoc loc) {
  IrAttr a = {0};
  IrShape s = {0};
  if (has_node(g, x)) {
    const IrShape *xs = &g->nodes[x].shape;
    s.rank = xs->rank;
    for (int i = 0; i < xs->rank; i++) {
      a.start[i] = start[i];
      a.step[i] = step[i];
      bool whole = start[i] == 0 && step[i] == 1 && count[i] == xs->d[i].n;
      s.d[i] = whole ? xs->d[i] : ir_dim_const(count[i]);
    }
  }
  return ir_build(g, IR_OP_SLICE, &x, 1, &a, &s, IR_F32, loc);
}

/* An axis padded by nothing keeps its symbolic form. */
IrRef ir_pad(IrGraph *g, IrRef x, const int64_t *before, const int64_t *after, McLoc loc) {
  IrAttr a = {0};
  IrShape s = {0};
  if (has_node(g, x)) {
    const IrShape *xs = &g->nodes[x].shape;
    s.rank = xs->rank;
    for (int i = 0; i < xs->rank; i++) {
      a.start[i] = before[i];
      int64_t n;
      if (__builtin_add_overflow(xs->d[i].n, before[i], &n) ||
          __builtin_add_overflow(n, after[i], &n))
        n = -1;
      s.d[i] = before[i] == 0 && after[i] == 0 ? xs->d[i] : ir_dim_const(n);
    }
  }
  return ir_build(g, IR_OP_PAD, &x, 1, &a, &s, IR_F32, loc);
}

IrRef ir_concat(IrGraph *g, const IrRef *xs, int n, int axis, McLoc loc) {
  IrAttr a = {0};
  a.axis = axis;
  return ir_build(g, IR_OP_CONCAT, xs, n, &a, NULL, IR_F32, loc);
}

static void window_attr(IrAttr *a, int nwin, const int64_t *stride, const int64_t *dilation) {
  a->nwin = (uint8_t)nwin;
  for (int i = 0; i < nwin && i < IR_MAX_WIN; i++) {
    a->wstride[i] = stride[i];
    a->wdilation[i] = dilation[i];
  }
}

/* Windows per axis: floor((S - dil*(K-1) - 1) / stride) + 1, or 0 when not
   even one fits (the shape rule reports it). */
static int64_t window_count(int64_t size, int64_t k, int64_t stride, int64_t dil) {
  if (k < 1 || stride < 1 || dil < 1) return 0;
  int64_t span;
  if (__builtin_mul_overflow(dil, k - 1, &span) || span >= size) return 0;
  return (size - span - 1) / stride + 1;
}

IrRef ir_unfold(IrGraph *g, IrRef x, int nwin, const int64_t *kernel, const int64_t *stride,
                const int64_t *dilation, McLoc loc) {
  IrAttr a = {0};
  IrShape s = {0};
  window_attr(&a, nwin, stride, dilation);
  if (has_node(g, x) && nwin >= 1 && nwin <= IR_MAX_WIN) {
    const IrShape *xs = &g->nodes[x].shape;
    int lead = xs->rank - nwin;
    if (lead >= 0 && xs->rank + nwin <= IR_MAX_RANK) {
      s.rank = (uint8_t)(xs->rank + nwin);
      for (int i = 0; i < lead; i++) s.d[i] = xs->d[i];
      for (int i = 0; i < nwin; i++) {
        s.d[lead + i] = ir_dim_const(kernel[i]);
        s.d[lead + nwin + i] =
            ir_dim_const(window_count(xs->d[lead + i].n, kernel[i], stride[i], dilation[i]));
      }
    }
  }
  return ir_build(g, IR_OP_UNFOLD, &x, 1, &a, &s, IR_F32, loc);
}

void ir_window_strides(const IrNode *n, int img_rank, const int64_t *is, int64_t *st) {
  int k = n->attr.nwin, lead = img_rank - k;
  for (int i = 0; i < lead; i++) st[i] = is[i];
  for (int i = 0; i < k; i++) {
    st[lead + i] = n->attr.wdilation[i] * is[lead + i];
    st[lead + k + i] = n->attr.wstride[i] * is[lead + i];
  }
}

IrRef ir_fold(IrGraph *g, IrRef y, int nwin, const IrDim *size, const int64_t *stride,
              const int64_t *dilation, McLoc loc) {
  IrAttr a = {0};
  IrShape s = {0};
  window_attr(&a, nwin, stride, dilation);
  if (has_node(g, y) && nwin >= 1 && nwin <= IR_MAX_WIN) {
    const IrShape *ys = &g->nodes[y].shape;
    int lead = ys->rank - 2 * nwin;
    if (lead >= 0) {
      s.rank = (uint8_t)(lead + nwin);
      for (int i = 0; i < lead; i++) s.d[i] = ys->d[i];
      for (int i = 0; i < nwin; i++) s.d[lead + i] = size[i];
    }
  }
  return ir_build(g, IR_OP_FOLD, &y, 1, &a, &s, IR_F32, loc);
}

IrRef ir_gather(IrGraph *g, IrRef table, IrRef idx, McLoc loc) {
  return ir_binary(g, IR_OP_GATHER, table, idx, loc);
}

/* The result is [rows, src dims after idx's rank...]; a rank that does not
   fit is left for the shape rule to report. */
IrRef ir_scatter_add(IrGraph *g, IrRef src, IrRef idx, IrDim rows, McLoc loc) {
  IrShape s = {0};
  if (has_node(g, src) && has_node(g, idx)) {
    const IrShape *ss = &g->nodes[src].shape, *is = &g->nodes[idx].shape;
    int rank = 1 + ss->rank - is->rank;
    if (rank >= 1 && rank <= IR_MAX_RANK) {
      s.rank = (uint8_t)rank;
      s.d[0] = rows;
      for (int i = 1; i < rank; i++) s.d[i] = ss->d[is->rank + i - 1];
    }
  }
  IrRef ops[2] = {src, idx};
  return ir_build(g, IR_OP_SCATTER_ADD, ops, 2, NULL, &s, IR_F32, loc);
}

static IrRef sum_to_error(IrGraph *g, IrRef x, const IrShape *to, McLoc loc, int64_t dx,
                          int64_t dt) {
  if (g->diag) {
    McStr a, b;
    mc_str_init(&a);
    mc_str_init(&b);
    ir_shape_print(&a, g, g->nodes[x].dtype, &g->nodes[x].shape);
    ir_shape_print(&b, g, g->nodes[x].dtype, to);
    mc_error(g->diag, loc, "cannot sum %s to %s: dims %lld and %lld do not broadcast", a.s,
             b.s, (long long)dx, (long long)dt);
    mc_str_free(&a);
    mc_str_free(&b);
  }
  return IR_NONE;
}

/* Sums the leading axes x has beyond `to`, then (keeping dims) the axes
   where `to` is 1 and x is not; reshapes when `to` has extra leading 1s. */
IrRef ir_sum_to(IrGraph *g, IrRef x, const IrShape *to, McLoc loc) {
  if (!has_node(g, x) || to->rank > IR_MAX_RANK) return IR_NONE;
  const IrShape xs = g->nodes[x].shape;
  int lead = xs.rank - to->rank;
  for (int j = 0; j < -lead; j++)
    if (to->d[j].n != 1) return sum_to_error(g, x, to, loc, 1, to->d[j].n);
  uint32_t lead_axes = 0, one_axes = 0;
  for (int i = 0; i < xs.rank; i++) {
    if (i < lead) {
      lead_axes |= 1u << i;
      continue;
    }
    int64_t dt = to->d[i - lead].n, dx = xs.d[i].n;
    if (dt == dx) continue;
    if (dt != 1) return sum_to_error(g, x, to, loc, dx, dt);
    one_axes |= 1u << (lead > 0 ? i - lead : i);
  }
  IrRef r = x;
  if (lead_axes) r = ir_reduce(g, IR_OP_SUM, r, lead_axes, false, loc);
  if (one_axes && r != IR_NONE) r = ir_reduce(g, IR_OP_SUM, r, one_axes, true, loc);
  if (r != IR_NONE && g->nodes[r].shape.rank != to->rank) r = ir_reshape(g, r, to, loc);
  return r;
}

/* ---- outputs and lookup ---------------------------------------------------- */

void ir_add_output(IrGraph *g, IrOutKind kind, const char *name, IrRef ref) {
  if (g->nouts == g->capouts) {
    g->capouts = g->capouts ? 2 * g->capouts : 8;
    g->outs = mc_xrealloc(g->outs, g->capouts * sizeof *g->outs);
  }
  g->outs[g->nouts++] = (IrOutput){
      .kind = kind, .name = mc_arena_strdup(&g->arena, name ? name : ""), .ref = ref};
}

/* A NULL name finds the first output of that kind (e.g. the loss). */
const IrOutput *ir_find_output(const IrGraph *g, IrOutKind kind, const char *name) {
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].kind == kind && (!name || strcmp(g->outs[i].name, name) == 0))
      return &g->outs[i];
  return NULL;
}

static IrRef find_named(const IrGraph *g, IrOp op, const char *name) {
  for (uint32_t i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == op && g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
      return i;
  return IR_NONE;
}

IrRef ir_find_param(const IrGraph *g, const char *name) {
  return find_named(g, IR_OP_PARAM, name);
}

IrRef ir_find_input(const IrGraph *g, const char *name) {
  return find_named(g, IR_OP_INPUT, name);
}

bool ir_glob_match(const char *glob, const char *name) {
  const char *star = NULL, *resume = NULL;
  while (*name) {
    if (*glob == '*') {
      star = glob++;
      resume = name;
    } else if (*glob == '?' || *glob == *name) {
      glob++;
      name++;
    } else if (star) {
      glob = star + 1;
      name = ++resume;
    } else {
      return false;
    }
  }
  while (*glob == '*') glob++;
  return *glob == 0;
}

int ir_freeze_params(IrGraph *g, const char *glob) {
  int matched = 0;
  for (IrRef r = 0; r < g->nnodes; r++) {
    IrNode *n = &g->nodes[r];
    if (n->op != IR_OP_PARAM || n->attr.buffer || !n->name || !ir_glob_match(glob, n->name))
      continue;
    n->attr.frozen = true;
    matched++;
  }
  return matched;
}

/* ---- copies ------------------------------------------------------------------ */

void ir_graph_copy_syms(IrGraph *to, const IrGraph *from) {
  for (uint32_t i = 0; i < from->nsyms; i++) {
    int k = ir_graph_add_sym(to, from->syms[i].name, from->syms[i].value);
    if (k >= 0 && from->syms[i].batch) to->syms[k].batch = true;
  }
}

int ir_graph_batch_sym(const IrGraph *g) {
  for (uint32_t i = 0; i < g->nsyms; i++)
    if (g->syms[i].batch) return (int)i;
  return -1;
}

IrGraph *ir_graph_clone(const IrGraph *src) {
  IrGraph *g = ir_graph_new(src->name, src->diag);
  ir_graph_copy_syms(g, src);
  g->capnodes = src->nnodes ? src->nnodes : 1;
  g->nodes = mc_xcalloc(g->capnodes, sizeof *g->nodes);
  for (uint32_t i = 0; i < src->nnodes; i++) {
    IrNode n = src->nodes[i];
    if (n.nsrc) {
      IrRef *s = mc_arena_alloc(&g->arena, n.nsrc * sizeof *s);
      memcpy(s, n.src, n.nsrc * sizeof *s);
      n.src = s;
    }
    if (n.name) n.name = mc_arena_strdup(&g->arena, n.name);
    g->nodes[i] = n;
  }
  g->nnodes = src->nnodes;
  for (uint32_t i = 0; i < src->nouts; i++)
    ir_add_output(g, src->outs[i].kind, src->outs[i].name, src->outs[i].ref);
  return g;
}

/* A NULL map copies operand ids unchanged. The shape rule runs again, so an
   operand replaced by one of another shape is caught here. */
IrRef ir_copy_node(IrGraph *to, const IrGraph *from, IrRef r, const IrRef *map) {
  const IrNode *n = &from->nodes[r];
  IrRef buf[8];
  IrRef *src = n->nsrc <= 8 ? buf : mc_xmalloc(n->nsrc * sizeof *src);
  for (uint32_t i = 0; i < n->nsrc; i++) src[i] = map ? map[n->src[i]] : n->src[i];
  ir_graph_copy_syms(to, from);
  IrRef id = build_node(to, (IrOp)n->op, src, n->nsrc, &n->attr, &n->shape,
                        (IrDtype)n->dtype, n->name, n->loc);
  if (src != buf) free(src);
  return id;
}
