/* fe_value.c -- compile-time values, scopes and name lookup (with "did you
   mean" suggestions), and the operators on values: numbers fold at compile
   time (named dims stay symbolic), tensors build IR after the dtype rules. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "fe_int.h"

/* ---- values ------------------------------------------------------------- */

FeValue fe_poison(void) { return (FeValue){.kind = FE_V_POISON, .t = IR_NONE}; }

FeValue fe_int(int64_t v) {
  return (FeValue){.kind = FE_V_INT, .i = v, .dim = ir_dim_const(v), .t = IR_NONE};
}

FeValue fe_float(double v) { return (FeValue){.kind = FE_V_FLOAT, .f = v, .t = IR_NONE}; }

FeValue fe_tensor(IrRef t) {
  if (t == IR_NONE) return fe_poison();
  return (FeValue){.kind = FE_V_TENSOR, .t = t};
}

static FeValue int_with_dim(int64_t v, IrDim d) {
  FeValue r = fe_int(v);
  if (d.n == v) r.dim = d;
  return r;
}

bool fe_is_number(const FeValue *v) { return v->kind == FE_V_INT || v->kind == FE_V_FLOAT; }

double fe_number(const FeValue *v) { return v->kind == FE_V_INT ? (double)v->i : v->f; }

const char *fe_value_kind(const FeValue *v) {
  switch (v->kind) {
  case FE_V_POISON: return "an invalid value";
  case FE_V_INT:
  case FE_V_FLOAT: return "a number";
  case FE_V_STR: return "a string";
  case FE_V_LIST: return "a list";
  case FE_V_TENSOR: return "a tensor";
  case FE_V_INST: return "a block instance";
  }
  return "a value";
}

const char *fe_value_str(FeLower *cx, const FeValue *v) {
  if (v->kind == FE_V_INT) return mc_arena_printf(cx->arena, "%lld", (long long)v->i);
  if (v->kind != FE_V_FLOAT) return fe_value_kind(v);
  if (isfinite(v->f) && v->f == floor(v->f) && fabs(v->f) < 1e15)
    return mc_arena_printf(cx->arena, "%.1f", v->f);
  return mc_arena_printf(cx->arena, "%g", v->f);
}

const IrNode *fe_tnode(const FeLower *cx, const FeValue *v) { return ir_node(cx->g, v->t); }

const char *fe_type_str(const FeLower *cx, const FeValue *v) {
  const IrNode *n = fe_tnode(cx, v);
  return ir_type_str(cx->g, (IrDtype)n->dtype, &n->shape);
}

IrRef fe_as_tensor(FeLower *cx, const FeValue *v, IrDtype t, McLoc loc) {
  if (v->kind == FE_V_TENSOR) return v->t;
  if (fe_is_number(v)) return ir_const(cx->g, fe_number(v), t, loc);
  return IR_NONE;
}

char *fe_path_join(FeLower *cx, const char *a, const char *b) {
  if (!a || !*a) return mc_arena_strdup(cx->arena, b);
  return mc_arena_printf(cx->arena, "%s.%s", a, b);
}

/* ---- scopes and names ------------------------------------------------------- */

FeScope *fe_scope_new(FeLower *cx, FeScope *parent) {
  FeScope *s = mc_arena_alloc(cx->arena, sizeof *s);
  s->parent = parent;
  return s;
}

FeBinding *fe_scope_find_local(FeScope *sc, const char *name) {
  for (FeBinding *b = sc->head; b; b = b->next)
    if (strcmp(b->name, name) == 0) return b;
  return NULL;
}

FeBinding *fe_scope_find(FeScope *sc, const char *name) {
  for (; sc; sc = sc->parent) {
    FeBinding *b = fe_scope_find_local(sc, name);
    if (b) return b;
  }
  return NULL;
}

/* False (reported, with a note at the first definition) when name is
   already bound in sc itself. */
bool fe_is_fresh(FeLower *cx, FeScope *sc, const char *name, McLoc loc) {
  FeBinding *old = fe_scope_find_local(sc, name);
  if (!old) return true;
  mc_error(cx->diag, loc, "'%s' is already defined", name);
  mc_note(cx->diag, old->loc, "previous definition of '%s' is here", name);
  return false;
}

/* Binds name in sc; a second binding in the same scope is an error. */
void fe_define(FeLower *cx, FeScope *sc, const char *name, FeValue v, McLoc loc) {
  if (!fe_is_fresh(cx, sc, name, loc)) return;
  FeBinding *b = mc_arena_alloc(cx->arena, sizeof *b);
  b->name = name;
  b->v = v;
  b->loc = loc;
  b->next = sc->head;
  sc->head = b;
}

static const struct { const char *name; double value; bool is_int; } constants[] = {
    {"inf", INFINITY, false}, {"pi", 3.14159265358979323846, false},
    {"true", 1, true},        {"false", 0, true},
};

bool fe_constant(const char *name, FeValue *out) {
  for (size_t i = 0; i < MC_COUNTOF(constants); i++) {
    if (strcmp(constants[i].name, name) != 0) continue;
    *out = constants[i].is_int ? fe_int((int64_t)constants[i].value) : fe_float(constants[i].value);
    return true;
  }
  return false;
}

const FeNode *fe_find_block_in(const McVec *v, const char *name) {
  for (size_t i = 0; i < v->len; i++) {
    const FeNode *b = MC_VEC_AT(v, const FeNode *, i);
    if (strcmp(b->name, name) == 0) return b;
  }
  return NULL;
}

/* User code sees its own blocks first, then the standard library's; the
   standard library sees only itself, so user blocks cannot change it. */
const FeNode *fe_find_block(FeLower *cx, const char *name, bool *is_std) {
  const FeNode *b = cx->in_std ? NULL : fe_find_block_in(&cx->user_blocks, name);
  *is_std = !b;
  if (!b) {
    fe_load_prelude(cx);
    b = fe_find_block_in(&cx->std_blocks, name);
  }
  return b;
}

/* Closest-name search for "did you mean" hints. */
typedef struct Suggest {
  const char *name, *best;
  int dist;
} Suggest;

/* Equal but for case and underscores: torch's LayerNorm and layer_norm. */
static bool loosely_equal(const char *a, const char *b) {
  for (;;) {
    while (*a == '_') a++;
    while (*b == '_') b++;
    if (!*a || !*b) return !*a && !*b;
    if (tolower((unsigned char)*a++) != tolower((unsigned char)*b++)) return false;
  }
}

static void suggest_try(Suggest *s, const char *cand) {
  if (strcmp(cand, s->name) == 0) return;
  int d = loosely_equal(s->name, cand) ? -1 : mc_edit_distance(s->name, cand);
  if (d < s->dist) {
    s->dist = d;
    s->best = cand;
  }
}

static const char *suggest_result(const Suggest *s) {
  int len = (int)strlen(s->name);
  int limit = len <= 2 ? 0 : len == 3 ? 1 : len <= 5 ? 2 : 3;
  return s->best && s->dist <= limit ? s->best : NULL;
}

const char *fe_suggest(const char *name, const char *const *cands, int n) {
  Suggest s = {name, NULL, INT_MAX};
  for (int i = 0; i < n; i++) suggest_try(&s, cands[i]);
  return suggest_result(&s);
}

const char *fe_suggest_in_scopes(const FeScope *sc, const char *name) {
  Suggest s = {name, NULL, INT_MAX};
  for (; sc; sc = sc->parent)
    for (FeBinding *b = sc->head; b; b = b->next) suggest_try(&s, b->name);
  return suggest_result(&s);
}

static void suggest_blocks(Suggest *s, const McVec *v) {
  for (size_t i = 0; i < v->len; i++) suggest_try(s, MC_VEC_AT(v, const FeNode *, i)->name);
}

#define NO_MODULES "there are no modules: builtins and std blocks are called by name, as relu(x) " \
                   "or linear(784, 512)"

/* Names people bring from PyTorch and NumPy that are spelled otherwise here. */
static const struct { const char *name, *hint; } foreign_names[] = {
    {"torch", NO_MODULES}, {"nn", NO_MODULES}, {"F", NO_MODULES}, {"np", NO_MODULES},
    {"matmul", "use the '@' operator: a @ b"}, {"mm", "use the '@' operator: a @ b"},
    {"bmm", "use the '@' operator: a @ b"}, {"cat", "did you mean 'concat'?"},
    {"view", "did you mean 'reshape'?"},
    {"self", "a block has no 'self': its params and instances are in scope by their names"},
    {"None", "leave the argument out to get its default"},
};

void fe_report_unknown(FeLower *cx, FeScope *sc, const char *name, McLoc loc) {
  fe_load_prelude(cx);
  for (size_t i = 0; i < MC_COUNTOF(foreign_names); i++)
    if (strcmp(name, foreign_names[i].name) == 0 && !fe_find_block_in(&cx->std_blocks, name)) {
      mc_error(cx->diag, loc, "unknown name '%s'; %s", name, foreign_names[i].hint);
      return;
    }
  Suggest s = {name, NULL, INT_MAX};
  for (FeScope *p = sc; p; p = p->parent)
    for (FeBinding *b = p->head; b; b = b->next) suggest_try(&s, b->name);
  if (!cx->in_std) suggest_blocks(&s, &cx->user_blocks);
  suggest_blocks(&s, &cx->std_blocks);
  for (int i = 0; fe_builtin_name(i); i++) suggest_try(&s, fe_builtin_name(i));
  for (size_t i = 0; i < MC_COUNTOF(constants); i++) suggest_try(&s, constants[i].name);
  suggest_try(&s, "repeat");
  const char *hint = suggest_result(&s);
  if (hint) mc_error(cx->diag, loc, "unknown name '%s'; did you mean '%s'?", name, hint);
  else mc_error(cx->diag, loc, "unknown name '%s'", name);
}

/* ---- compile-time arithmetic -------------------------------------------------- */

static FeValue overflow(FeLower *cx, McLoc loc) {
  mc_error(cx->diag, loc, "integer overflow in compile-time arithmetic");
  return fe_poison();
}

/* a ** b by squaring; a negative exponent gives a float. */
static FeValue int_pow(FeLower *cx, int64_t a, int64_t b, McLoc loc) {
  if (b < 0) return fe_float(pow((double)a, (double)b));
  int64_t r = 1, base = a;
  while (b > 0) {
    if ((b & 1) && __builtin_mul_overflow(r, base, &r)) return overflow(cx, loc);
    b >>= 1;
    if (b && __builtin_mul_overflow(base, base, &base)) return overflow(cx, loc);
  }
  return fe_int(r);
}

static FeValue fold_int(FeLower *cx, FeOp op, const FeValue *a, const FeValue *b, McLoc loc) {
  int64_t x = a->i, y = b->i, r;
  switch (op) {
  case FE_OP_ADD:
    if (__builtin_add_overflow(x, y, &r)) return overflow(cx, loc);
    return fe_int(r);
  case FE_OP_SUB:
    if (__builtin_sub_overflow(x, y, &r)) return overflow(cx, loc);
    return fe_int(r);
  case FE_OP_MUL:
    if (__builtin_mul_overflow(x, y, &r)) return overflow(cx, loc);
    return int_with_dim(r, ir_dim_mul(cx->g, a->dim, b->dim));
  case FE_OP_DIV: {
    if (y == 0) {
      mc_error(cx->diag, loc, "division by zero");
      return fe_poison();
    }
    if (x == INT64_MIN && y == -1) return overflow(cx, loc);
    if (x % y != 0) return fe_float((double)x / (double)y);
    IrDim d;
    if (x >= 0 && y > 0 && ir_dim_div(cx->g, a->dim, b->dim, &d)) return int_with_dim(x / y, d);
    return fe_int(x / y);
  }
  case FE_OP_POW: return int_pow(cx, x, y, loc);
  case FE_OP_LT: return fe_int(x < y);
  case FE_OP_LE: return fe_int(x <= y);
  case FE_OP_GT: return fe_int(x > y);
  case FE_OP_GE: return fe_int(x >= y);
  case FE_OP_EQ: return fe_int(x == y);
  case FE_OP_NE: return fe_int(x != y);
  case FE_OP_MATMUL:
  case FE_OP_NEG: break;
  }
  return fe_poison();
}

static FeValue fold_float(FeLower *cx, FeOp op, double x, double y, McLoc loc) {
  switch (op) {
  case FE_OP_ADD: return fe_float(x + y);
  case FE_OP_SUB: return fe_float(x - y);
  case FE_OP_MUL: return fe_float(x * y);
  case FE_OP_DIV:
    if (y == 0) {
      mc_error(cx->diag, loc, "division by zero");
      return fe_poison();
    }
    return fe_float(x / y);
  case FE_OP_POW: return fe_float(pow(x, y));
  case FE_OP_LT: return fe_int(x < y);
  case FE_OP_LE: return fe_int(x <= y);
  case FE_OP_GT: return fe_int(x > y);
  case FE_OP_GE: return fe_int(x >= y);
  case FE_OP_EQ: return fe_int(x == y);
  case FE_OP_NE: return fe_int(x != y);
  case FE_OP_MATMUL:
  case FE_OP_NEG: break;
  }
  return fe_poison();
}

/* ---- tensor operators ----------------------------------------------------------- */

static const IrOp binop_ir[] = {
    [FE_OP_ADD] = IR_OP_ADD, [FE_OP_SUB] = IR_OP_SUB, [FE_OP_MUL] = IR_OP_MUL,
    [FE_OP_DIV] = IR_OP_DIV, [FE_OP_MATMUL] = IR_OP_MATMUL, [FE_OP_POW] = IR_OP_POW,
    [FE_OP_LT] = IR_OP_LT,   [FE_OP_LE] = IR_OP_LE,   [FE_OP_GT] = IR_OP_GT,
    [FE_OP_GE] = IR_OP_GE,   [FE_OP_EQ] = IR_OP_EQ,   [FE_OP_NE] = IR_OP_NE,
};

static bool is_cmp(FeOp op) { return op >= FE_OP_LT && op <= FE_OP_NE; }

/* Which dtypes an operator accepts: floats always; i32 for + - * and
   comparisons; bool only in comparisons of equality. */
static bool op_accepts(FeOp op, IrDtype t) {
  if (ir_dtype_is_float(t)) return true;
  if (t == IR_I32) return op == FE_OP_ADD || op == FE_OP_SUB || op == FE_OP_MUL || is_cmp(op);
  return op == FE_OP_EQ || op == FE_OP_NE;
}

static bool is_zero(const FeValue *v) { return fe_is_number(v) && fe_number(v) == 0; }

static FeValue tensor_binop(FeLower *cx, FeOp op, FeValue a, FeValue b, McLoc loc) {
  const char *sym = fe_op_text(op);
  if (op == FE_OP_MATMUL && (a.kind != FE_V_TENSOR || b.kind != FE_V_TENSOR)) {
    mc_error(cx->diag, loc, "'@' needs two tensors, got %s",
             fe_value_kind(a.kind == FE_V_TENSOR ? &b : &a));
    return fe_poison();
  }
  const FeValue *t = a.kind == FE_V_TENSOR ? &a : &b, *o = t == &a ? &b : &a;
  IrDtype dt = (IrDtype)fe_tnode(cx, t)->dtype;
  if (!op_accepts(op, dt)) {
    mc_error(cx->diag, loc, "'%s' does not accept %s%s", sym, fe_type_str(cx, t),
             dt == IR_I32 ? "; convert it with float(...)" : "");
    return fe_poison();
  }
  if (o->kind == FE_V_TENSOR) {
    IrDtype ot = (IrDtype)fe_tnode(cx, o)->dtype;
    if (ot != dt) {
      mc_error(cx->diag, loc, "operands of '%s' have different types %s and %s%s", sym,
               fe_type_str(cx, &a), fe_type_str(cx, &b),
               (dt == IR_I32 || ot == IR_I32) ? "; convert with float(...)" : "");
      return fe_poison();
    }
  } else if (dt == IR_I32 && o->kind == FE_V_FLOAT) {
    mc_error(cx->diag, loc, "cannot combine %s with the float %s; convert it with float(...)",
             fe_type_str(cx, t), fe_value_str(cx, o));
    return fe_poison();
  } else if (dt == IR_BOOL) {
    mc_error(cx->diag, loc, "cannot compare %s with a number", fe_type_str(cx, t));
    return fe_poison();
  }
  /* x + 0 and x - 0 are x: linear(..., bias = 0) adds the number 0. */
  if ((op == FE_OP_ADD || op == FE_OP_SUB) && is_zero(&b)) return a;
  if (op == FE_OP_ADD && is_zero(&a)) return b;
  IrRef x = fe_as_tensor(cx, &a, dt, loc), y = fe_as_tensor(cx, &b, dt, loc);
  return fe_tensor(ir_binary(cx->g, binop_ir[op], x, y, loc));
}

FeValue fe_binop(FeLower *cx, FeOp op, FeValue a, FeValue b, McLoc loc) {
  if (a.kind == FE_V_POISON || b.kind == FE_V_POISON) return fe_poison();
  bool num_a = fe_is_number(&a), num_b = fe_is_number(&b);
  if (num_a && num_b) {
    if (op == FE_OP_MATMUL) {
      mc_error(cx->diag, loc, "'@' needs two tensors, got numbers");
      return fe_poison();
    }
    if (a.kind == FE_V_INT && b.kind == FE_V_INT) return fold_int(cx, op, &a, &b, loc);
    return fold_float(cx, op, fe_number(&a), fe_number(&b), loc);
  }
  bool ok_a = num_a || a.kind == FE_V_TENSOR, ok_b = num_b || b.kind == FE_V_TENSOR;
  if (!ok_a || !ok_b) {
    mc_error(cx->diag, loc, "cannot apply '%s' to %s", fe_op_text(op),
             fe_value_kind(ok_a ? &b : &a));
    return fe_poison();
  }
  return tensor_binop(cx, op, a, b, loc);
}

FeValue fe_negate(FeLower *cx, FeValue v, McLoc loc) {
  switch (v.kind) {
  case FE_V_POISON: return v;
  case FE_V_INT:
    if (v.i == INT64_MIN) return overflow(cx, loc);
    return fe_int(-v.i);
  case FE_V_FLOAT: return fe_float(-v.f);
  case FE_V_TENSOR:
    if (fe_tnode(cx, &v)->dtype == IR_BOOL) {
      mc_error(cx->diag, loc, "cannot negate %s", fe_type_str(cx, &v));
      return fe_poison();
    }
    return fe_tensor(ir_unary(cx->g, IR_OP_NEG, v.t, loc));
  case FE_V_STR: case FE_V_LIST: case FE_V_INST: break;
  }
  mc_error(cx->diag, loc, "cannot negate %s", fe_value_kind(&v));
  return fe_poison();
}

