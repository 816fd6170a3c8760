/* cg_aot.c -- programs for libraries (`modelc build`). A library binds the
   batch per call, so what the JIT bakes into constant tables for one batch
   must become c0 + c1 * batch: the descriptor words (extents, strides,
   tile counts), the workspace layout, the constants a graph derives from
   the batch (the 1/N of a mean) and the bounds of index checks. Rather
   than teach every emitter to build such expressions, the program is
   lowered at three batch values with the same kernels, and every number is
   fitted on two of them and checked on the third: a number that is not
   linear in the batch, or a kernel that changes with it, is an error that
   names the node. The plan (cg_plan.c) and the matmul tiling (cg_matmul.c)
   are linear by construction in aot mode, so that the layout stays valid
   down to batch 1. The first lowering is optimized and written as a PIC
   object whose one global symbol is the program's run function. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_int.h"

enum { NB = 3 };

typedef struct Fit {
  const int64_t *b; /* the three batches */
  bool batched;     /* false: one lowering, nothing varies */
} Fit;

/* v[i] at batch b[i] as c0 + c1 * b: fitted on the first two, checked on
   the third. */
static bool fit_lin(const Fit *f, const int64_t v[NB], CgLin *out) {
  if (!f->batched) {
    *out = (CgLin){v[0], 0};
    return true;
  }
  int64_t dv = v[1] - v[0], db = f->b[1] - f->b[0];
  if (dv % db != 0)
    return false;
  *out = (CgLin){v[0] - dv / db * f->b[0], dv / db};
  return out->c0 + out->c1 * f->b[2] == v[2];
}

static void report_node(McDiag *d, const IrGraph *g, IrRef id, const char *what) {
  const IrNode *n = ir_node(g, id);
  mc_error(d, n->loc,
           "build: %s at node %%%u (%s %s): a run-time batch needs it linear in the batch dim "
           "'%s' (or fix the batch with -D)",
           what, id, ir_ops[n->op].name, ir_type_str(g, (IrDtype)n->dtype, &n->shape),
           g->syms[ir_graph_batch_sym(g)].name);
}

/* The first node with the batch in two of its dims (its size is not
   linear in the batch), or IR_NONE. */
static IrRef batch_twice(const IrGraph *g) {
  uint32_t bit = 1u << ir_graph_batch_sym(g);
  for (uint32_t id = 0; id < g->nnodes; id++) {
    const IrShape *s = &ir_node(g, id)->shape;
    int n = 0;
    for (int i = 0; i < s->rank; i++)
      n += (s->d[i].syms & bit) != 0;
    if (n > 1)
      return id;
  }
  return IR_NONE;
}

/* ---- the three lowerings agree ---------------------------------------------------- */

static bool same_structure(CgBuild bd[NB], int nb, const IrGraph *g, McDiag *d) {
  for (int i = 1; i < nb; i++) {
    const CgTables *a = &bd[0].tables, *b = &bd[i].tables;
    bool same = bd[0].plan.nslots == bd[i].plan.nslots && a->ncalls == b->ncalls &&
                a->nwords == b->nwords && a->nkeys == b->nkeys &&
                !memcmp(bd[0].plan.slot_node, bd[i].plan.slot_node,
                        (size_t)bd[0].plan.nslots * sizeof(IrRef)) &&
                !memcmp(a->pairs, b->pairs, 2 * (size_t)a->ncalls * sizeof *a->pairs);
    for (int k = 0; same && k < a->nkeys; k++)
      same = strcmp(a->keys[k], b->keys[k]) == 0;
    if (same)
      continue;
    /* name the first call whose kernel differs */
    for (int c = 0; c < a->ncalls && c < b->ncalls; c++) {
      int ka = a->pairs[2 * c], kb = b->pairs[2 * c];
      if (ka < a->nkeys && kb < b->nkeys && strcmp(a->keys[ka], b->keys[kb]) != 0) {
        report_node(d, g, (IrRef)a->words[a->pairs[2 * c + 1]], "the kernel changes with the batch");
        return false;
      }
    }
    mc_error(d, (McLoc){0}, "build: the program changes with the batch dim '%s'",
             g->syms[ir_graph_batch_sym(g)].name);
    return false;
  }
  return true;
}

/* The node whose call holds word w. */
static IrRef word_node(const CgTables *t, int w) {
  int at = 0;
  for (int c = 0; c < t->ncalls; c++)
    if (t->pairs[2 * c + 1] <= w)
      at = t->pairs[2 * c + 1];
  return (IrRef)t->words[at];
}

static bool fit_words(const Fit *f, CgBuild bd[NB], const IrGraph *g, CgAotProgram *p,
                      McDiag *d) {
  const CgTables *t = &bd[0].tables;
  p->ndesc = t->nwords;
  p->desc = mc_xcalloc((size_t)t->nwords + 1, sizeof *p->desc);
  for (int w = 0; w < t->nwords; w++) {
    int64_t v[NB];
    for (int i = 0; i < NB; i++)
      v[i] = bd[f->batched ? i : 0].tables.words[w];
    if (!fit_lin(f, v, &p->desc[w])) {
      report_node(d, g, word_node(t, w), "a kernel extent is not linear in the batch");
      return false;
    }
  }
  return true;
}

/* ---- the workspace ---------------------------------------------------------------------- */

static CgLin plan_lin(int64_t at_b, int64_t c1, int64_t b) { return (CgLin){at_b - c1 * b, c1}; }

static bool fit_layout(const Fit *f, CgBuild bd[NB], const IrGraph *g, CgAotProgram *p,
                       McDiag *d) {
  const CgPlan *pl = &bd[0].plan;
  int64_t b = f->batched ? f->b[0] : 0;
  int64_t entries = cg_plan_table_entries(pl, g) - pl->nslots;
  p->ntable = (int)entries;
  p->table = mc_xcalloc((size_t)entries + 1, sizeof *p->table);
  for (uint32_t id = 0; id < g->nnodes; id++) {
    const CgLoc *l = &pl->loc[id];
    if (l->kind == CG_LOC_WORK || l->kind == CG_LOC_CONST)
      p->table[id] = plan_lin(l->offset, l->offset1, b);
    if (cg_plan_needs_scratch(pl, g, id))
      p->table[g->nnodes + id] = plan_lin(l->scratch, l->scratch1, b);
  }
  p->ws_bytes = plan_lin(pl->workspace_bytes, pl->workspace_bytes1, b);
  p->heap_base = (CgLin){pl->heap_base, 0};
  /* the other lowerings planned the same layout */
  for (int i = 1; f->batched && i < NB; i++) {
    const CgPlan *q = &bd[i].plan;
    bool same = q->workspace_bytes == p->ws_bytes.c0 + p->ws_bytes.c1 * f->b[i];
    for (uint32_t id = 0; same && id < g->nnodes; id++)
      if (q->loc[id].kind == CG_LOC_WORK || q->loc[id].kind == CG_LOC_CONST)
        same = q->loc[id].offset == p->table[id].c0 + p->table[id].c1 * f->b[i];
    if (!same) {
      if (getenv("MODELC_DEBUG_AOT")) {
        fprintf(stderr, "ws %lld vs %lld+%lld*%lld\n", (long long)q->workspace_bytes,
                (long long)p->ws_bytes.c0, (long long)p->ws_bytes.c1, (long long)f->b[i]);
        for (uint32_t id = 0; id < g->nnodes; id++)
          if (q->loc[id].kind == CG_LOC_WORK || q->loc[id].kind == CG_LOC_CONST)
            fprintf(stderr, "%%%u %lld vs %lld+%lld\n", id, (long long)q->loc[id].offset,
                    (long long)p->table[id].c0, (long long)p->table[id].c1);
      }
      mc_error(d, (McLoc){0}, "build: internal error: the buffer plan changes with the batch");
      return false;
    }
  }
  return true;
}

/* ---- constants ------------------------------------------------------------------------- */

/* v as the constant's dtype stores it (simplify folds f32 constants in
   f32). */
static double stored(double v, IrDtype t) { return t == IR_F32 ? (double)(float)v : v; }

/* value, value * batch or 1 / (value * batch) for the three batches, as
   stored. */
/* n / (n - 1) with n = k * batch: v = n / (n - 1) gives n = v / (v - 1). */
static bool fit_bessel(const Fit *f, const double v[NB], CgAotConst *c) {
  if (!(v[0] > 1)) return false;
  double k = rint(v[0] / (v[0] - 1) / (double)f->b[0]);
  bool ok = k >= 1;
  for (int i = 0; ok && i < NB; i++) {
    double n = k * (double)f->b[i];
    ok = stored(n / (n - 1), c->dtype) == stored(v[i], c->dtype);
  }
  if (!ok) return false;
  c->power = 2;
  c->value = k;
  return true;
}

static bool fit_constant(const Fit *f, const double v[NB], CgAotConst *c) {
  if (!f->batched || (v[1] == v[0] && v[2] == v[0])) {
    c->power = 0;
    c->value = v[0];
    return true;
  }
  double k = v[0] / (double)f->b[0];
  if (k == rint(k)) {
    bool ok = true;
    for (int i = 0; i < NB; i++)
      ok &= stored(k * (double)f->b[i], c->dtype) == stored(v[i], c->dtype);
    if (ok) {
      c->power = 1;
      c->value = k;
      return true;
    }
  }
  k = rint(1.0 / (v[0] * (double)f->b[0]));
  bool ok = k != 0;
  for (int i = 0; ok && i < NB; i++)
    ok = stored(1.0 / (k * (double)f->b[i]), c->dtype) == stored(v[i], c->dtype);
  if (ok) {
    c->power = -1;
    c->value = k;
    return true;
  }
  return fit_bessel(f, v, c);
}

static bool fit_constants(const Fit *f, CgBuild bd[NB], IrGraph *const graphs[NB],
                          CgAotProgram *p, McDiag *d) {
  const IrGraph *g = graphs[0];
  const CgPlan *pl = &bd[0].plan;
  p->consts = mc_xcalloc((size_t)g->nnodes + 1, sizeof *p->consts);
  for (uint32_t id = 0; id < g->nnodes; id++) {
    if (pl->loc[id].kind != CG_LOC_CONST)
      continue;
    double v[NB];
    for (int i = 0; i < NB; i++)
      v[i] = ir_node(graphs[f->batched ? i : 0], id)->attr.value;
    CgAotConst *c = &p->consts[p->nconst++];
    c->offset = p->table[id];
    c->dtype = (IrDtype)ir_node(g, id)->dtype;
    if (!fit_constant(f, v, c)) {
      report_node(d, g, id, "a constant depends on the batch");
      return false;
    }
  }
  return true;
}

static bool fit_index_nodes(const Fit *f, IrGraph *const graphs[NB], CgAotProgram *p,
                            McDiag *d) {
  const IrGraph *g = graphs[0];
  p->index = mc_xcalloc((size_t)g->nnodes + 1, sizeof *p->index);
  for (uint32_t id = 0; id < g->nnodes; id++) {
    const IrNode *n = ir_node(g, id);
    if (ir_ops[n->op].cls != IR_CLASS_INDEX)
      continue;
    int64_t rows[NB];
    for (int i = 0; i < NB; i++) {
      const IrGraph *gi = graphs[f->batched ? i : 0];
      const IrNode *ni = ir_node(gi, id);
      rows[i] = (ni->op == IR_OP_GATHER ? ir_node(gi, ni->src[0]) : ni)->shape.d[0].n;
    }
    CgAotIndex *x = &p->index[p->nindex++];
    *x = (CgAotIndex){id, (IrOp)n->op, n->loc, {0, 0}};
    if (!fit_lin(f, rows, &x->rows)) {
      report_node(d, g, id, "an index range is not linear in the batch");
      return false;
    }
  }
  return true;
}

/* ---- the object file --------------------------------------------------------------------- */

static bool write_object(CgBuild *bd, const char *path, McDiag *d) {
  char *err = NULL;
  if (LLVMTargetMachineEmitToFile(bd->shards[0].tm, bd->shards[0].mod, (char *)path,
                                  LLVMObjectFile, &err)) {
    mc_error(d, (McLoc){0}, "build: cannot write '%s': %s", path, err ? err : "?");
    LLVMDisposeMessage(err);
    return false;
  }
  return true;
}

static void fill_slots(const CgBuild *bd, CgAotProgram *p) {
  p->nslots = bd->plan.nslots;
  p->ninputs = bd->plan.ninputs;
  p->slot_node = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->slot_node);
  memcpy(p->slot_node, bd->plan.slot_node, (size_t)p->nslots * sizeof *p->slot_node);
  int nouts = p->nslots - p->ninputs;
  p->result_slot = mc_xcalloc((size_t)nouts + 1, sizeof *p->result_slot);
  memcpy(p->result_slot, bd->plan.result_slot, (size_t)nouts * sizeof *p->result_slot);
  p->nkernels = bd->nkernels;
}

/* The least batch whose work is worth a copy of the program per thread,
   when the batch rows never meet; 0 when they do. */
static int64_t split_min_batch(IrGraph *const graphs[3], const int64_t batches[3], bool batched) {
  if (!batched || !cg_split_ok(graphs[0], graphs[1])) return 0;
  int64_t per_row = cg_split_work(graphs[0]) / batches[0];
  if (per_row < 1) per_row = 1;
  int64_t least = (CG_SPLIT_MIN_WORK + per_row - 1) / per_row;
  return least < 2 ? 2 : least;
}

bool cg_aot_compile(IrGraph *const graphs[3], const int64_t batches[3], const CgOptions *o,
                    const char *obj_path, CgAotProgram *prog, McDiag *d) {
  memset(prog, 0, sizeof *prog);
  CgOptions opts = *o;
  opts.aot = true;
  Fit f = {batches, ir_graph_batch_sym(graphs[0]) >= 0};
  int nb = f.batched ? NB : 1;
  CgBuild bd[NB];
  memset(bd, 0, sizeof bd);
  bool ok = true;
  for (int i = 0; ok && i < nb; i++)
    ok = cg_build(graphs[i], &opts, NULL, &bd[i], 1, i == 0 ? CG_BUILD_MODULE : CG_BUILD_LOWER, d);
  IrRef twice = f.batched ? batch_twice(graphs[0]) : IR_NONE;
  if (ok && twice != IR_NONE) {
    report_node(d, graphs[0], twice, "the batch dim is in two axes of a tensor");
    ok = false;
  }
  ok = ok && same_structure(bd, nb, graphs[0], d);
  if (ok) {
    fill_slots(&bd[0], prog);
    prog->uses_pool = cg_build_uses_pool(graphs[0], &bd[0]);
    prog->split_min_batch = split_min_batch(graphs, batches, f.batched);
  }
  ok = ok && fit_words(&f, bd, graphs[0], prog, d) && fit_layout(&f, bd, graphs[0], prog, d) &&
       fit_constants(&f, bd, graphs, prog, d) && fit_index_nodes(&f, graphs, prog, d) &&
       write_object(&bd[0], obj_path, d);
  for (int i = 0; i < nb; i++)
    cg_build_fini(&bd[i]);
  if (!ok)
    cg_aot_program_free(prog);
  return ok;
}

void cg_aot_program_free(CgAotProgram *p) {
  free(p->slot_node);
  free(p->result_slot);
  free(p->desc);
  free(p->table);
  free(p->consts);
  free(p->index);
  memset(p, 0, sizeof *p);
}
