/* ir_verify.c -- checks every invariant of a graph: named dims, topological
   operands, arity, dims consistent with the binding, types recomputed by the
   shape rules, unique input/param names, outputs in range, at most one loss
   and it a float scalar, gradients shaped like what they differentiate,
   updates shaped like the params they replace.
   Runs after every pass in tests (--verify-each) to blame the pass that
   broke something. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct Verifier {
  const IrGraph *g;
  McDiag *d;
  int nerrors;
  bool *bad;        /* bad[id]: node is broken, its users are not checked */
} Verifier;

#define MAX_REPORTS 10

static void report(Verifier *v, McLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(Verifier *v, McLoc loc, const char *fmt, ...) {
  if (v->nerrors++ >= MAX_REPORTS || !v->d) return;
  va_list ap;
  va_start(ap, fmt);
  mc_diag_vreport(v->d, MC_DIAG_ERROR, loc, fmt, ap);
  va_end(ap);
}

static int64_t sym_product(const IrGraph *g, uint32_t syms) {
  int64_t p = 1;
  for (uint32_t i = 0; i < g->nsyms; i++)
    if ((syms & (1u << i)) && __builtin_mul_overflow(p, g->syms[i].value, &p)) p = INT64_MAX;
  return p;
}

/* False when the dims are unusable (nothing else can be checked). */
static bool verify_syms(Verifier *v) {
  const IrGraph *g = v->g;
  if (g->nsyms > IR_MAX_SYMS) {
    report(v, (McLoc){0}, "graph has %u named dims (at most %d)", g->nsyms, IR_MAX_SYMS);
    return false;
  }
  for (uint32_t i = 0; i < g->nsyms; i++) {
    const IrSym *s = &g->syms[i];
    if (!s->name || !*s->name) {
      report(v, (McLoc){0}, "named dim %u has no name", i);
      continue;
    }
    if (s->value < 0) report(v, (McLoc){0}, "dim %s = %lld is negative", s->name, (long long)s->value);
    for (uint32_t j = 0; j < i; j++) {
      if (g->syms[j].name && strcmp(g->syms[j].name, s->name) == 0)
        report(v, (McLoc){0}, "dim %s is declared twice", s->name);
      if (s->batch && g->syms[j].batch)
        report(v, (McLoc){0}, "dims %s and %s are both marked batch", g->syms[j].name, s->name);
    }
  }
  return true;
}

/* The node's own fields, before its type is recomputed. */
static bool verify_structure(Verifier *v, IrRef id) {
  const IrGraph *g = v->g;
  const IrNode *n = &g->nodes[id];
  if (n->op >= IR_OP_COUNT) {
    report(v, n->loc, "%%%u: unknown op %d", id, n->op);
    return false;
  }
  const char *op = ir_ops[n->op].name;
  int arity = ir_ops[n->op].arity;
  if (arity >= 0 ? n->nsrc != arity : n->nsrc < 1) {
    report(v, n->loc, "%%%u (%s): has %d operands, expected %s%d", id, op, n->nsrc,
           arity < 0 ? "at least " : "", arity < 0 ? 1 : arity);
    return false;
  }
  for (uint32_t i = 0; i < n->nsrc; i++) {
    if (n->src[i] >= id) {
      report(v, n->loc, "%%%u (%s): operand %%%u is not defined before it", id, op, n->src[i]);
      return false;
    }
  }
  if (n->dtype >= IR_DTYPE_COUNT) {
    report(v, n->loc, "%%%u (%s): unknown dtype %d", id, op, n->dtype);
    return false;
  }
  if (n->shape.rank > IR_MAX_RANK) {
    report(v, n->loc, "%%%u (%s): rank %d exceeds %d", id, op, n->shape.rank, IR_MAX_RANK);
    return false;
  }
  for (int i = 0; i < n->shape.rank; i++) {
    IrDim d = n->shape.d[i];
    if (d.n < 0) {
      report(v, n->loc, "%%%u (%s): dim %d is negative", id, op, i);
      return false;
    }
    if (g->nsyms < 32 && (d.syms >> g->nsyms)) {
      report(v, n->loc, "%%%u (%s): dim %d uses an undeclared named dim", id, op, i);
      return false;
    }
    int64_t want;
    if (d.syms && (__builtin_mul_overflow(d.k, sym_product(g, d.syms), &want) || want != d.n)) {
      report(v, n->loc, "%%%u (%s): dim %d has value %lld, but its named dims give %lld", id,
             op, i, (long long)d.n, (long long)want);
      return false;
    }
  }
  return true;
}

/* Runs the op's shape rule on a scratch copy; its errors go to v->d. */
static bool verify_type(Verifier *v, IrRef id) {
  const IrGraph *g = v->g;
  const IrNode *n = &g->nodes[id];
  IrGraph view = *g;             /* same nodes, diagnostics to v->d; no allocation */
  view.diag = v->nerrors < MAX_REPORTS ? v->d : NULL;
  IrNode tmp = *n;
  if (!ir_ops[n->op].shape(&view, &tmp)) {
    v->nerrors++;
    if (v->d && v->nerrors <= MAX_REPORTS)
      mc_note(v->d, n->loc, "in %%%u (%s)", id, ir_ops[n->op].name);
    return false;
  }
  if (tmp.dtype == n->dtype && ir_shape_equal(&tmp.shape, &n->shape)) return true;
  McStr have, want;
  mc_str_init(&have);
  mc_str_init(&want);
  ir_shape_print(&have, g, (IrDtype)n->dtype, &n->shape);
  ir_shape_print(&want, g, (IrDtype)tmp.dtype, &tmp.shape);
  report(v, n->loc, "%%%u (%s): type %s does not match %s computed from its operands", id,
         ir_ops[n->op].name, have.s, want.s);
  mc_str_free(&have);
  mc_str_free(&want);
  return false;
}

static bool is_named(const IrNode *n) { return n->op == IR_OP_INPUT || n->op == IR_OP_PARAM; }

/* Inputs and params are bound by name, so names are unique among them. */
static void verify_names(Verifier *v) {
  const IrGraph *g = v->g;
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = &g->nodes[i];
    if (v->bad[i] || !is_named(n) || !n->name) continue;
    for (uint32_t j = 0; j < i; j++) {
      const IrNode *m = &g->nodes[j];
      if (!v->bad[j] && is_named(m) && m->name && strcmp(m->name, n->name) == 0) {
        report(v, n->loc, "%%%u (%s): name \"%s\" is already used by %%%u", i,
               ir_ops[n->op].name, n->name, j);
        break;
      }
    }
  }
}

static const char *kind_name(IrOutKind k) {
  if (k == IR_OUT_UPDATE) return "update";
  return k == IR_OUT_LOSS ? "loss" : k == IR_OUT_GRAD ? "grad" : "output";
}

/* A grad names a param or input, an update a param; either has its type. */
static void verify_target(Verifier *v, const IrOutput *o) {
  const IrGraph *g = v->g;
  bool is_grad = o->kind == IR_OUT_GRAD;
  IrRef target = ir_find_param(g, o->name);
  if (target == IR_NONE && is_grad) target = ir_find_input(g, o->name);
  if (target == IR_NONE) {
    report(v, (McLoc){0}, "%s \"%s\" names no param%s", kind_name(o->kind), o->name,
           is_grad ? " or input" : "");
    return;
  }
  const IrNode *t = &g->nodes[target], *d = &g->nodes[o->ref];
  if (v->bad[o->ref] || v->bad[target]) return;
  if (d->dtype == t->dtype && ir_shape_equal(&d->shape, &t->shape)) return;
  McStr a, b;
  mc_str_init(&a);
  mc_str_init(&b);
  ir_shape_print(&a, g, (IrDtype)d->dtype, &d->shape);
  ir_shape_print(&b, g, (IrDtype)t->dtype, &t->shape);
  report(v, (McLoc){0}, "%s \"%s\" has type %s, but %s \"%s\" is %s", kind_name(o->kind),
         o->name, a.s, ir_ops[t->op].name, o->name, b.s);
  mc_str_free(&a);
  mc_str_free(&b);
}

static void verify_outputs(Verifier *v) {
  const IrGraph *g = v->g;
  int nloss = 0;
  for (uint32_t i = 0; i < g->nouts; i++) {
    const IrOutput *o = &g->outs[i];
    const char *kind = kind_name(o->kind);
    if ((unsigned)o->kind > IR_OUT_UPDATE || !o->name || !*o->name) {
      report(v, (McLoc){0}, "output %u has no name or an unknown kind", i);
      continue;
    }
    if (o->ref >= g->nnodes) {
      report(v, (McLoc){0}, "%s \"%s\" refers to %%%u, which does not exist", kind, o->name, o->ref);
      continue;
    }
    for (uint32_t j = 0; j < i; j++)
      if (g->outs[j].kind == o->kind && g->outs[j].name && strcmp(g->outs[j].name, o->name) == 0)
        report(v, (McLoc){0}, "%s \"%s\" is declared twice", kind, o->name);
    const IrNode *n = &g->nodes[o->ref];
    if (o->kind == IR_OUT_LOSS) {
      if (++nloss == 2) report(v, (McLoc){0}, "graph has more than one loss");
      if (!v->bad[o->ref] && (n->shape.rank != 0 || !ir_dtype_is_float((IrDtype)n->dtype))) {
        McStr t;
        mc_str_init(&t);
        ir_shape_print(&t, g, (IrDtype)n->dtype, &n->shape);
        report(v, n->loc, "loss \"%s\" must be a float scalar, not %s", o->name, t.s);
        mc_str_free(&t);
      }
    } else if (o->kind == IR_OUT_GRAD || o->kind == IR_OUT_UPDATE) {
      verify_target(v, o);
    }
  }
}

bool ir_verify(const IrGraph *g, McDiag *d) {
  Verifier v = {.g = g, .d = d};
  v.bad = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *v.bad);
  if (!verify_syms(&v)) {
    free(v.bad);
    return false;
  }
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = &g->nodes[i];
    bool operands_ok = n->op < IR_OP_COUNT;
    for (uint32_t j = 0; operands_ok && j < n->nsrc; j++)
      operands_ok = n->src[j] >= i || !v.bad[n->src[j]];
    if (!operands_ok && n->op < IR_OP_COUNT) {
      v.bad[i] = true;   /* already reported at the operand */
      continue;
    }
    v.bad[i] = !verify_structure(&v, i) || !verify_type(&v, i);
  }
  verify_names(&v);
  verify_outputs(&v);
  free(v.bad);
  return v.nerrors == 0;
}
