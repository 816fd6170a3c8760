/* pass_fuse.c -- kernel fusion: assigns every computed node a kernel group
   (IrNode.kernel, 1, 2, ... in order of first member), so that codegen runs
   each group as one kernel call with no buffers for the values the group
   uses only inside itself. The graph itself is unchanged. Decisions come
   from the op classes of ir_ops.def, greedily in id order:
     ELEM     joins the open groups of its operands: elementwise groups
              whose index space contains its own or is contained in it
              (the larger one becomes the group's), the epilogue of a
              matmul, or the row consumers of a reduction;
     REDUCE   absorbs the open elementwise group of its operand (reads it
              inline); a reduction over the last axis with keepdims opens
              its group to elementwise consumers (a row kernel: reduce the
              row, then compute the consumers over the same row);
     CONTRACT (a float matmul) opens a group whose epilogue is a chain of
              elementwise ops, each reading the previous one, against
              scalars, row or column vectors (a bias, a channel's scale
              and shift) or values of the product's shape (gelu_grad's
              x); values of the chain read elsewhere are stored by the
              epilogue;
     EXPAND   counts as elementwise (a broadcast);
     other    one group each (MOVE, INDEX, IOTA); sources and reshapes
              have none (kernel 0).
   A group is closed (takes no new members) once a node outside it reads
   one of its members: its kernel then runs before that reader, at the
   position of its last member. Sizes are capped (members, operands). */
#include <stdlib.h>
#include <string.h>

#include "pass.h"

#define FUSE_MAX_MEMBERS 32
#define FUSE_MAX_BUFFERS 16 /* external operands + stored members */
#define FUSE_MAX_EPILOGUE 8

typedef enum { GK_ELEM, GK_REDUCE, GK_MATMUL, GK_SINGLE } GroupKind;

typedef struct Group {
  GroupKind kind;
  IrShape space;  /* ELEM: the largest member shape; REDUCE: the reduced operand's */
  bool open;
  bool row;       /* REDUCE: consumers over the row may join */
  IrRef root;     /* REDUCE: the reduction; MATMUL: the matmul */
  IrRef tail;     /* MATMUL: the last node of the epilogue chain */
  IrRef first, last; /* member list (through Fuse.next) */
  int nmembers;
} Group;

typedef struct Fuse {
  const IrGraph *g;
  uint32_t *grp;   /* [nnodes] group index, or IR_NONE */
  Group *groups;
  uint32_t ngroups;
  uint32_t *nuse;  /* consumers per node (outputs count once) */
  uint32_t *ustart, *users; /* CSR consumer lists */
  IrRef *next;     /* [nnodes] next member of the node's group */
  uint32_t *seen, epoch; /* scratch marks for buffers_with */
} Fuse;

static const IrNode *node(const Fuse *f, IrRef r) { return ir_node(f->g, r); }
static IrOpClass cls_of(const Fuse *f, IrRef r) { return ir_ops[node(f, r)->op].cls; }

static void build_users(Fuse *f) {
  const IrGraph *g = f->g;
  uint32_t n = g->nnodes;
  f->nuse = mc_xcalloc(n + 1, sizeof *f->nuse);
  f->ustart = mc_xcalloc(n + 1, sizeof *f->ustart);
  uint32_t total = 0;
  for (uint32_t i = 0; i < n; i++)
    for (int k = 0; k < node(f, i)->nsrc; k++) total++;
  f->users = mc_xcalloc(total + 1, sizeof *f->users);
  uint32_t *cnt = mc_xcalloc(n + 1, sizeof *cnt);
  for (uint32_t i = 0; i < n; i++)
    for (int k = 0; k < node(f, i)->nsrc; k++) cnt[node(f, i)->src[k]]++;
  for (uint32_t i = 0; i < n; i++) f->ustart[i + 1] = f->ustart[i] + cnt[i];
  memset(cnt, 0, (n + 1) * sizeof *cnt);
  for (uint32_t i = 0; i < n; i++)
    for (int k = 0; k < node(f, i)->nsrc; k++) {
      IrRef s = node(f, i)->src[k];
      f->users[f->ustart[s] + cnt[s]++] = i;
    }
  for (uint32_t i = 0; i < n; i++) f->nuse[i] = cnt[i];
  for (uint32_t o = 0; o < g->nouts; o++)
    if (g->outs[o].ref < n) f->nuse[g->outs[o].ref]++;
  free(cnt);
}

static uint32_t new_group(Fuse *f, IrRef id, GroupKind kind, const IrShape *space) {
  uint32_t k = f->ngroups++;
  f->groups[k] = (Group){.kind = kind, .space = *space, .open = kind != GK_SINGLE, .root = id,
                         .tail = id, .first = id, .last = id, .nmembers = 1};
  f->grp[id] = k;
  f->next[id] = IR_NONE;
  return k;
}

static void join(Fuse *f, uint32_t k, IrRef id) {
  Group *G = &f->groups[k];
  f->grp[id] = k;
  f->next[G->last] = id;
  f->next[id] = IR_NONE;
  G->last = id;
  G->nmembers++;
}

/* Shape a broadcasts to shape b (NumPy rules, by values). */
static bool broadcasts_to(const IrShape *a, const IrShape *b) {
  if (a->rank > b->rank) return false;
  int lead = b->rank - a->rank;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i].n != 1 && a->d[i].n != b->d[i + lead].n) return false;
  return true;
}

static bool in_group(const Fuse *f, IrRef r, uint32_t k) { return f->grp[r] == k; }

/* Counts the buffers group k would need with node extra (IR_NONE: none)
   added: distinct outside operands, plus members read outside or output
   (counting future readers, an upper bound). */
static int buffers_with(Fuse *f, uint32_t k, IrRef extra) {
  int count = 0;
  uint32_t mark = ++f->epoch;
  IrRef i = f->groups[k].first;
  bool extra_done = extra == IR_NONE;
  while (i != IR_NONE || !extra_done) {
    if (i == IR_NONE) {
      i = extra;
      extra_done = true;
    }
    const IrNode *n = node(f, i);
    for (int s = 0; s < n->nsrc; s++) {
      IrRef x = n->src[s];
      if (in_group(f, x, k) || x == extra || f->seen[x] == mark) continue;
      f->seen[x] = mark;
      count++;
    }
    bool outside = false;
    for (uint32_t u = f->ustart[i]; u < f->ustart[i + 1]; u++)
      if (!in_group(f, f->users[u], k) && f->users[u] != extra) outside = true;
    uint32_t inner = f->ustart[i + 1] - f->ustart[i];
    if (outside || f->nuse[i] > inner) count++;
    i = i == extra ? IR_NONE : f->next[i];
  }
  return count;
}

static bool fits(Fuse *f, uint32_t k, IrRef extra, int more_members) {
  return f->groups[k].nmembers + more_members <= FUSE_MAX_MEMBERS &&
         buffers_with(f, k, extra) <= FUSE_MAX_BUFFERS;
}

/* Relabels the members of list `first` as group k. */
static void relabel(Fuse *f, IrRef first, uint32_t k) {
  for (IrRef i = first; i != IR_NONE; i = f->next[i]) f->grp[i] = k;
}

/* Merges group `from` into `to` (whose space becomes the larger of the
   two) when the result stays within the caps; false (nothing changed)
   otherwise. */
static bool merge_fits(Fuse *f, uint32_t to, uint32_t from) {
  Group *T = &f->groups[to], *F = &f->groups[from];
  IrRef old_last = T->last;
  relabel(f, F->first, to);
  f->next[T->last] = F->first;
  T->last = F->last;
  if (buffers_with(f, to, IR_NONE) > FUSE_MAX_BUFFERS) { /* undo */
    f->next[old_last] = IR_NONE;
    T->last = old_last;
    relabel(f, F->first, from);
    return false;
  }
  if (broadcasts_to(&T->space, &F->space)) T->space = F->space;
  T->nmembers += F->nmembers;
  F->nmembers = 0;
  F->open = false;
  return true;
}

/* ---- epilogue of a matmul ----------------------------------------------------- */

static bool try_epilogue(Fuse *f, IrRef id) {
  const IrNode *n = node(f, id);
  if (n->op == IR_OP_WHERE || n->op == IR_OP_CAST || n->op == IR_OP_EXPAND ||
      (ir_ops[n->op].flags & IR_F_CMP))
    return false;
  for (int k = 0; k < n->nsrc; k++) {
    IrRef p = n->src[k];
    uint32_t gk = f->grp[p];
    if (gk == IR_NONE || f->groups[gk].kind != GK_MATMUL || !f->groups[gk].open ||
        f->groups[gk].tail != p || !fits(f, gk, id, 1))
      continue;
    const Group *G = &f->groups[gk];
    if (G->nmembers > FUSE_MAX_EPILOGUE || !ir_shape_equal(&n->shape, &G->space)) continue;
    const IrNode *mm = node(f, G->root);
    bool ok = n->dtype == mm->dtype;
    for (int j = 0; ok && j < n->nsrc; j++) {
      const IrNode *x = node(f, n->src[j]);
      if (j == k) continue;
      ok = n->src[j] != p && f->grp[n->src[j]] != gk && x->dtype == mm->dtype &&
           ir_epilogue_operand(&x->shape, &mm->shape) != IR_EPI_NONE;
    }
    if (!ok) continue;
    join(f, gk, id);
    f->groups[gk].tail = id;
    return true;
  }
  return false;
}

/* ---- elementwise ----------------------------------------------------------------- */

/* n may join the row consumers of reduce group k. */
static bool row_joinable(const Fuse *f, uint32_t k, const IrNode *n) {
  const Group *G = &f->groups[k];
  return G->kind == GK_REDUCE && G->open && G->row && broadcasts_to(&n->shape, &G->space);
}

static bool elem_joinable(const Fuse *f, uint32_t k, const IrNode *n) {
  const Group *G = &f->groups[k];
  return G->kind == GK_ELEM && G->open &&
         (broadcasts_to(&n->shape, &G->space) || broadcasts_to(&G->space, &n->shape));
}

/* Groups of this many elements or more run in parts (cg_kernel.c). */
#define FUSE_PARTS_ELEMS 65536

/* Some member of group k is an output or has a reader outside k other than
   id (counting readers still to come, which may yet join): it is stored. */
static bool stores_member(const Fuse *f, uint32_t k, IrRef id) {
  for (IrRef i = f->groups[k].first; i != IR_NONE; i = f->next[i]) {
    if (f->nuse[i] > f->ustart[i + 1] - f->ustart[i]) return true;
    for (uint32_t u = f->ustart[i]; u < f->ustart[i + 1]; u++)
      if (!in_group(f, f->users[u], k) && f->users[u] != id) return true;
  }
  return false;
}

/* Growing group k's space to `to` (id joining) would store a member of
   the smaller space once per broadcast copy, in a walk too big for one
   thread that the stored member then keeps from running in parts (a causal
   mask [T, T] that every attention layer reads, computed inside the first
   layer's [B, H, T, T] softmax): k keeps its own kernel instead. */
static bool grows_stored(const Fuse *f, uint32_t k, const IrShape *to, IrRef id) {
  return !broadcasts_to(to, &f->groups[k].space) && ir_shape_numel(to) >= FUSE_PARTS_ELEMS &&
         stores_member(f, k, id);
}

/* An elementwise node read only by one reduction starts its own group,
   for the reduction to absorb. */
static bool feeds_reduce_only(const Fuse *f, IrRef id) {
  return f->nuse[id] == 1 && f->ustart[id + 1] - f->ustart[id] == 1 &&
         cls_of(f, f->users[f->ustart[id]]) == IR_CLASS_REDUCE;
}

static void fuse_elem(Fuse *f, IrRef id) {
  const IrNode *n = node(f, id);
  if (try_epilogue(f, id)) return;
  if (!feeds_reduce_only(f, id))
    for (int k = 0; k < n->nsrc; k++) {
      uint32_t gk = f->grp[n->src[k]];
      if (gk != IR_NONE && row_joinable(f, gk, n) && fits(f, gk, id, 1)) {
        join(f, gk, id);
        return;
      }
    }
  uint32_t mine = IR_NONE;
  for (int k = 0; k < n->nsrc; k++) {
    uint32_t gk = f->grp[n->src[k]];
    if (gk == IR_NONE || gk == mine || !elem_joinable(f, gk, n)) continue;
    if (mine == IR_NONE) {
      if (grows_stored(f, gk, &n->shape, id) || !fits(f, gk, id, 1)) continue;
      join(f, gk, id);
      mine = gk;
    } else {
      const Group *G = &f->groups[mine], *H = &f->groups[gk];
      if (!broadcasts_to(&H->space, &G->space) && !broadcasts_to(&G->space, &H->space)) continue;
      if (grows_stored(f, gk, &G->space, id) || grows_stored(f, mine, &H->space, id)) continue;
      if (G->nmembers + H->nmembers > FUSE_MAX_MEMBERS) continue;
      if (!merge_fits(f, mine, gk)) continue;
    }
    if (broadcasts_to(&f->groups[mine].space, &n->shape)) f->groups[mine].space = n->shape;
  }
  if (mine == IR_NONE) new_group(f, id, GK_ELEM, &n->shape);
}

/* ---- reductions -------------------------------------------------------------------- */

static bool is_row_reduce(const IrNode *n, const IrNode *x) {
  return n->attr.keepdims && x->shape.rank >= 1 && n->attr.axes == 1u << (x->shape.rank - 1);
}

static void fuse_reduce(Fuse *f, IrRef id) {
  const IrNode *n = node(f, id), *x = node(f, n->src[0]);
  uint32_t gk = f->grp[n->src[0]];
  bool empty = ir_shape_numel(&x->shape) == 0;
  if (!empty && gk != IR_NONE && f->groups[gk].kind == GK_ELEM && f->groups[gk].open &&
      ir_shape_equal(&f->groups[gk].space, &x->shape) && fits(f, gk, id, 1)) {
    join(f, gk, id);
    f->groups[gk].kind = GK_REDUCE;
    f->groups[gk].root = id;
  } else {
    gk = new_group(f, id, empty ? GK_SINGLE : GK_REDUCE, &x->shape);
  }
  f->groups[gk].row = is_row_reduce(n, x);
  f->groups[gk].open = f->groups[gk].row;
}

/* ---- the pass ------------------------------------------------------------------------- */

static bool matmul_fusable(const IrNode *n, const IrNode *a) {
  return n->shape.rank >= 2 && (n->dtype == IR_F32 || n->dtype == IR_F64) &&
         ir_shape_numel(&n->shape) > 0 && a->shape.d[a->shape.rank - 1].n > 0;
}

static void assign(Fuse *f, IrRef id) {
  const IrNode *n = node(f, id);
  switch (ir_ops[n->op].cls) {
  case IR_CLASS_SOURCE:
    if (n->op == IR_OP_IOTA) new_group(f, id, GK_SINGLE, &n->shape);
    return;
  case IR_CLASS_ELEM:
    if (ir_shape_numel(&n->shape) == 0) new_group(f, id, GK_SINGLE, &n->shape);
    else fuse_elem(f, id);
    return;
  case IR_CLASS_REDUCE:
    fuse_reduce(f, id);
    return;
  case IR_CLASS_CONTRACT:
    new_group(f, id, matmul_fusable(n, node(f, n->src[0])) ? GK_MATMUL : GK_SINGLE, &n->shape);
    return;
  case IR_CLASS_MOVE: /* expand is a broadcast: elementwise for fusion */
    if (n->op == IR_OP_EXPAND && ir_shape_numel(&n->shape) > 0) fuse_elem(f, id);
    else if (n->op != IR_OP_RESHAPE) new_group(f, id, GK_SINGLE, &n->shape);
    return;
  case IR_CLASS_INDEX:
  case IR_CLASS_SYNC:
    new_group(f, id, GK_SINGLE, &n->shape);
    return;
  }
}

/* Closes the groups of id's operands that id did not join. */
static void close_operands(Fuse *f, IrRef id) {
  const IrNode *n = node(f, id);
  for (int k = 0; k < n->nsrc; k++) {
    uint32_t gk = f->grp[n->src[k]];
    if (gk != IR_NONE && gk != f->grp[id]) f->groups[gk].open = false;
  }
}

/* Numbers the groups 1, 2, ... in order of their first member. */
static void number_groups(Fuse *f, IrGraph *g) {
  uint32_t *num = mc_xcalloc(f->ngroups + 1, sizeof *num), next = 1;
  for (IrRef i = 0; i < g->nnodes; i++) {
    uint32_t gk = f->grp[i];
    if (gk != IR_NONE && !num[gk]) num[gk] = next++;
    g->nodes[i].kernel = gk == IR_NONE ? 0 : num[gk];
  }
  free(num);
}

bool pass_fuse(IrGraph **gp, PassCtx *cx) {
  (void)cx;
  IrGraph *g = *gp;
  Fuse f = {.g = g};
  uint32_t n = g->nnodes ? g->nnodes : 1;
  f.grp = mc_xmalloc(n * sizeof *f.grp);
  f.groups = mc_xcalloc(n, sizeof *f.groups);
  f.next = mc_xmalloc(n * sizeof *f.next);
  f.seen = mc_xcalloc(n, sizeof *f.seen);
  for (uint32_t i = 0; i < g->nnodes; i++) f.grp[i] = IR_NONE;
  build_users(&f);
  for (IrRef i = 0; i < g->nnodes; i++) {
    assign(&f, i);
    close_operands(&f, i);
  }
  number_groups(&f, g);
  free(f.grp);
  free(f.groups);
  free(f.nuse);
  free(f.ustart);
  free(f.users);
  free(f.next);
  free(f.seen);
  return true;
}
