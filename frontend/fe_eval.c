/* fe_eval.c -- evaluation of expressions: calls of builtins, block
   instantiation (params named by instance path, like PyTorch state_dict
   keys) and forward calls inlined into the graph, repeat, members, indexing
   and slicing, tensor types and param initializers. A failed evaluation
   yields a poison value that silences follow-on errors. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fe_int.h"

/* Arguments of a call as written, evaluated. */
typedef struct CallArgs {
  int npos, nkw;
  FeValue pos[FE_MAX_ARGS];
  McLoc posloc[FE_MAX_ARGS];
  const char *kwname[FE_MAX_ARGS];
  FeValue kw[FE_MAX_ARGS];
  McLoc kwloc[FE_MAX_ARGS];
} CallArgs;

/* A parameter list: of a builtin, a block constructor or a forward. */
typedef struct Sig {
  const char *names[FE_MAX_ARGS];
  bool optional[FE_MAX_ARGS];
  int n;
  char text[FE_MAX_ARGS][24];   /* storage for names parsed from a string */
} Sig;

/* ---- argument binding ------------------------------------------------------------ */

/* "x, axis=, keepdims=": names separated by commas, '=' marks optional. */
static void sig_from_string(Sig *s, const char *params) {
  s->n = 0;
  const char *p = params;
  while (*p && s->n < FE_MAX_ARGS) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *start = p;
    while (*p && *p != ',' && *p != '=') p++;
    size_t len = (size_t)(p - start);
    if (len >= sizeof s->text[0]) len = sizeof s->text[0] - 1;
    memcpy(s->text[s->n], start, len);
    s->text[s->n][len] = 0;
    s->names[s->n] = s->text[s->n];
    s->optional[s->n] = *p == '=';
    if (*p == '=') p++;
    s->n++;
  }
}

static void sig_from_argdefs(Sig *s, const FeList *defs) {
  s->n = 0;
  for (int i = 0; i < defs->n && i < FE_MAX_ARGS; i++) {
    s->names[s->n] = defs->items[i]->name;
    s->optional[s->n] = defs->items[i]->a != NULL;
    s->n++;
  }
}

static int required_count(const Sig *s) {
  int req = 0;
  for (int i = 0; i < s->n; i++) req += !s->optional[i];
  return req;
}

static void report_count(FeLower *cx, const char *what, const Sig *s, int got, McLoc loc) {
  int req = required_count(s);
  if (req == s->n)
    mc_error(cx->diag, loc, "%s expects %d argument%s, got %d", what, req, req == 1 ? "" : "s",
             got);
  else
    mc_error(cx->diag, loc, "%s expects %d to %d arguments, got %d", what, req, s->n, got);
}

/* Matches positional then keyword arguments to the signature. */
static bool bind_args(FeLower *cx, const char *what, const Sig *s, const CallArgs *ca,
                      McLoc loc, FeArgs *out) {
  memset(out, 0, sizeof *out);
  out->callee = what;
  out->loc = loc;
  for (int i = 0; i < FE_MAX_ARGS; i++) {
    out->names[i] = i < s->n ? s->names[i] : "";
    out->v[i] = fe_poison();
    out->at[i] = loc;
  }
  if (ca->npos > s->n) {
    report_count(cx, what, s, ca->npos + ca->nkw, loc);
    return false;
  }
  for (int i = 0; i < ca->npos; i++) {
    out->v[i] = ca->pos[i];
    out->given[i] = true;
    out->at[i] = ca->posloc[i];
  }
  for (int k = 0; k < ca->nkw; k++) {
    int j = 0;
    while (j < s->n && strcmp(s->names[j], ca->kwname[k]) != 0) j++;
    if (j == s->n) {
      const char *hint = fe_suggest(ca->kwname[k], s->names, s->n);
      if (hint)
        mc_error(cx->diag, ca->kwloc[k], "%s has no argument '%s'; did you mean '%s'?", what,
                 ca->kwname[k], hint);
      else
        mc_error(cx->diag, ca->kwloc[k], "%s has no argument '%s'", what, ca->kwname[k]);
      return false;
    }
    if (out->given[j]) {
      mc_error(cx->diag, ca->kwloc[k], "%s got two values for '%s'", what, s->names[j]);
      return false;
    }
    out->v[j] = ca->kw[k];
    out->given[j] = true;
    out->at[j] = ca->kwloc[k];
  }
  for (int i = 0; i < s->n; i++) {
    if (s->optional[i] || out->given[i]) continue;
    if (ca->npos + ca->nkw < required_count(s)) report_count(cx, what, s, ca->npos + ca->nkw, loc);
    else mc_error(cx->diag, loc, "%s is missing argument '%s'", what, s->names[i]);
    return false;
  }
  return true;
}

static bool eval_args(FeLower *cx, FeScope *sc, const FeNode *call, CallArgs *ca) {
  ca->npos = ca->nkw = 0;
  bool ok = true;
  if (call->list.n > FE_MAX_ARGS) {
    mc_error(cx->diag, call->loc, "too many arguments (at most %d)", FE_MAX_ARGS);
    return false;
  }
  for (int i = 0; i < call->list.n; i++) {
    const FeNode *arg = call->list.items[i];
    if (arg->kind == FE_KWARG) {
      for (int k = 0; k < ca->nkw; k++) {
        if (strcmp(ca->kwname[k], arg->name) == 0) {
          mc_error(cx->diag, arg->loc, "argument '%s' is given twice", arg->name);
          ok = false;
        }
      }
      ca->kwname[ca->nkw] = arg->name;
      ca->kwloc[ca->nkw] = arg->a->loc;
      ca->kw[ca->nkw++] = fe_eval(cx, sc, arg->a, NULL);
    } else if (ca->nkw > 0) {
      mc_error(cx->diag, arg->loc, "positional argument after keyword argument");
      ok = false;
    } else {
      ca->posloc[ca->npos] = arg->loc;
      ca->pos[ca->npos++] = fe_eval(cx, sc, arg, NULL);
    }
  }
  return ok;
}

static bool args_poisoned(const CallArgs *ca) {
  for (int i = 0; i < ca->npos; i++)
    if (ca->pos[i].kind == FE_V_POISON) return true;
  for (int i = 0; i < ca->nkw; i++)
    if (ca->kw[i].kind == FE_V_POISON) return true;
  return false;
}

/* ---- blocks: instantiation and forward calls ----------------------------------------- */

/* Reports the first size limit hit; later ones are consequences. */
static void too_large(FeLower *cx, McLoc loc, const char *what) {
  if (!cx->too_large) mc_error(cx->diag, loc, "the model is too large: %s", what);
  cx->too_large = true;
}

static bool enter_block(FeLower *cx, const char *name, McLoc loc) {
  if (cx->block_depth >= FE_MAX_BLOCK_DEPTH) {
    mc_error(cx->diag, loc, "blocks nested more than %d deep (does '%s' use itself?)",
             FE_MAX_BLOCK_DEPTH, name);
    return false;
  }
  cx->block_depth++;
  return true;
}

/* Creates instance `name` of block b with the given constructor args: the
   body runs once, creating params and sub-instances under the new path. */
static FeValue construct(FeLower *cx, const FeNode *b, bool is_std, const CallArgs *ca,
                         const char *name, McLoc loc) {
  if (cx->in_forward) {
    mc_error(cx->diag, loc,
             "cannot create an instance of '%s' inside forward; create it in the block body",
             b->name);
    return fe_poison();
  }
  if (!name) {
    mc_error(cx->diag, loc, "an instance of '%s' must be bound to a name: write 'name = %s(...)'",
             b->name, b->name);
    return fe_poison();
  }
  if (++cx->ninstances > FE_MAX_INSTANCES) {
    too_large(cx, loc, "more than 100000 block instances");
    return fe_poison();
  }
  Sig s;
  sig_from_argdefs(&s, &b->list);
  FeArgs a;
  if (!bind_args(cx, b->name, &s, ca, loc, &a)) return fe_poison();
  if (args_poisoned(ca)) return fe_poison();
  if (!enter_block(cx, b->name, loc)) return fe_poison();

  bool saved_std = cx->in_std;
  const char *saved_prefix = cx->prefix;
  cx->in_std = is_std;
  FeScope *args = fe_scope_new(cx, NULL);
  bool ok = true;
  for (int i = 0; i < s.n; i++) {
    const FeNode *def = b->list.items[i];
    FeValue v = a.given[i] ? a.v[i] : fe_eval(cx, args, def->a, NULL);
    if (v.kind == FE_V_POISON) ok = false;
    else if (!fe_is_number(&v) && v.kind != FE_V_STR) {
      mc_error(cx->diag, a.given[i] ? a.at[i] : def->a->loc, "%s expects a number for '%s', got %s",
               b->name, def->name, fe_value_kind(&v));
      ok = false;
    }
    fe_define(cx, args, def->name, v, def->loc);
  }
  FeInst *inst = mc_arena_alloc(cx->arena, sizeof *inst);
  inst->path = fe_path_join(cx, saved_prefix, name);
  inst->block = b;
  inst->is_std = is_std;
  inst->scope = fe_scope_new(cx, args);
  int errors_before = cx->diag->nerrors;
  if (ok) {
    cx->prefix = inst->path;
    FeExec st = {.ctx = FE_CTX_BLOCK, .inst = inst};
    fe_exec_stmts(cx, inst->scope, &b->list2, &st);
  }
  cx->prefix = saved_prefix;
  cx->in_std = saved_std;
  cx->block_depth--;
  if (cx->diag->nerrors > errors_before && !saved_std && is_std)
    mc_note(cx->diag, loc, "in '%s' (%s) created here", inst->path, b->name);
  return ok ? (FeValue){.kind = FE_V_INST, .inst = inst, .t = IR_NONE} : fe_poison();
}

static FeValue apply(FeLower *cx, FeInst *inst, const CallArgs *ca, const char *what, McLoc loc);

/* layers(x, ...): each instance of the repeat in order, the output of one
   feeding the next's first argument; the other arguments (a mask, say) go
   to every instance unchanged. */
static FeValue apply_repeat(FeLower *cx, FeInst *r, const CallArgs *ca, const char *what,
                            McLoc loc) {
  if (ca->npos < 1) {
    mc_error(cx->diag, loc, "%s expects the value to pass through its instances as its first "
             "argument", what);
    return fe_poison();
  }
  CallArgs each = *ca;
  FeValue v = ca->pos[0];
  for (int i = 0; i < r->n && v.kind != FE_V_POISON; i++) {
    each.pos[0] = v;
    v = apply(cx, r->items[i], &each, r->items[i]->path, loc);
  }
  return v;
}

/* Runs inst's forward on the arguments, building its IR inline. */
static FeValue apply(FeLower *cx, FeInst *inst, const CallArgs *ca, const char *what, McLoc loc) {
  if (!inst->block) return apply_repeat(cx, inst, ca, what, loc);
  const FeNode *fwd = inst->forward;
  if (!fwd) {
    mc_error(cx->diag, loc, "'%s' (%s) has no forward", what, inst->block->name);
    return fe_poison();
  }
  Sig s;
  sig_from_argdefs(&s, &fwd->list);
  FeArgs a;
  if (!bind_args(cx, what, &s, ca, loc, &a)) return fe_poison();
  if (args_poisoned(ca)) return fe_poison();
  if (++cx->ncalls > FE_MAX_CALLS || cx->g->nnodes > FE_MAX_NODES) {
    too_large(cx, loc, cx->ncalls > FE_MAX_CALLS ? "more than 100000 forward calls"
                                                 : "more than 500000 IR nodes");
    return fe_poison();
  }
  if (!enter_block(cx, inst->block->name, loc)) return fe_poison();

  bool saved_std = cx->in_std, saved_fwd = cx->in_forward;
  bool caller_user = !cx->in_std;
  int errors_before = cx->diag->nerrors;
  cx->in_std = inst->is_std;
  cx->in_forward = true;
  FeScope *sc = fe_scope_new(cx, inst->scope);
  for (int i = 0; i < s.n; i++) {
    const FeNode *def = fwd->list.items[i];
    fe_define(cx, sc, def->name, a.given[i] ? a.v[i] : fe_eval(cx, sc, def->a, NULL), def->loc);
  }
  FeValue result;
  if (fwd->a) {
    result = fe_eval(cx, sc, fwd->a, NULL);
  } else {
    FeExec st = {.ctx = FE_CTX_FORWARD, .result = fe_poison()};
    fe_exec_stmts(cx, sc, &fwd->list2, &st);
    result = st.result;
    if (!st.returned && cx->diag->nerrors == errors_before)
      mc_error(cx->diag, fwd->loc, "forward of '%s' ends without 'return'", inst->block->name);
  }
  cx->in_std = saved_std;
  cx->in_forward = saved_fwd;
  cx->block_depth--;
  /* An error inside the standard library is about the user's call. */
  if (cx->diag->nerrors > errors_before && caller_user && inst->is_std)
    mc_note(cx->diag, loc, "in '%s' (%s) called here", what, inst->block->name);
  return result;
}

/* ---- calls -------------------------------------------------------------------------- */

static const char *callee_text(FeLower *cx, const FeNode *callee) {
  if (callee->kind == FE_NAME) return callee->name;
  if (callee->kind == FE_MEMBER) return fe_path_join(cx, callee_text(cx, callee->a), callee->name);
  return "the call";
}

static FeValue call_builtin(FeLower *cx, const FeBuiltin *bi, const CallArgs *ca, McLoc loc) {
  Sig s;
  sig_from_string(&s, bi->params);
  FeArgs a;
  if (!bind_args(cx, bi->name, &s, ca, loc, &a)) return fe_poison();
  if (args_poisoned(ca)) return fe_poison();
  return bi->fn(cx, &a);
}

static FeValue eval_repeat(FeLower *cx, FeScope *sc, const FeNode *call, const char *name) {
  if (call->list.n != 2 || call->list.items[0]->kind == FE_KWARG ||
      call->list.items[1]->kind == FE_KWARG) {
    mc_error(cx->diag, call->loc, "repeat expects 2 arguments, got %d", call->list.n);
    return fe_poison();
  }
  const FeNode *body = call->list.items[1];
  FeValue count = fe_eval(cx, sc, call->list.items[0], NULL);
  if (count.kind == FE_V_POISON) return count;
  if (count.kind != FE_V_INT || count.i < 1 || count.i > FE_MAX_REPEAT) {
    mc_error(cx->diag, call->list.items[0]->loc,
             "repeat expects a count from 1 to %d, got %s", FE_MAX_REPEAT,
             fe_value_str(cx, &count));
    return fe_poison();
  }
  if (body->kind != FE_CALL) {
    mc_error(cx->diag, body->loc, "repeat expects a block call such as gpt_block(C, H)");
    return fe_poison();
  }
  if (!name || cx->in_forward) {
    mc_error(cx->diag, call->loc, cx->in_forward ? "cannot repeat blocks inside forward"
                                                 : "repeat(...) must be bound to a name");
    return fe_poison();
  }
  FeInst *r = mc_arena_alloc(cx->arena, sizeof *r);
  r->path = fe_path_join(cx, cx->prefix, name);
  r->items = mc_arena_alloc(cx->arena, (size_t)count.i * sizeof *r->items);
  const char *saved_prefix = cx->prefix;
  cx->prefix = r->path;
  for (int64_t i = 0; i < count.i; i++) {
    FeValue v = fe_eval(cx, sc, body, mc_arena_printf(cx->arena, "%lld", (long long)i));
    if (v.kind != FE_V_INST || !v.inst->block) {
      if (v.kind != FE_V_POISON)
        mc_error(cx->diag, body->loc, "repeat expects a block call such as gpt_block(C, H)");
      cx->prefix = saved_prefix;
      return fe_poison();
    }
    r->items[r->n++] = v.inst;
    if (fe_too_many_errors(cx->diag)) break;
  }
  cx->prefix = saved_prefix;
  return (FeValue){.kind = FE_V_INST, .inst = r, .t = IR_NONE};
}

static const char *const initializer_names[] = {
    "zeros", "ones", "constant", "normal", "uniform",
    "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"};

static bool is_initializer(const char *name) {
  for (size_t i = 0; i < MC_COUNTOF(initializer_names); i++)
    if (strcmp(initializer_names[i], name) == 0) return true;
  return false;
}

/* What a call invokes, resolved before its arguments are evaluated. */
typedef struct Callee {
  const char *what;        /* the name as written, for messages */
  bool has_value;          /* a value (an instance is expected) ... */
  FeValue value;
  const FeNode *block;     /* ... or a block to instantiate and/or ... */
  bool is_std;
  const FeBuiltin *bi;     /* ... a builtin */
} Callee;

/* Argument records are reused last-in first-out: calls nest. */
static CallArgs *args_push(FeLower *cx) {
  if ((size_t)cx->arg_depth == cx->arg_pool.len)
    *(CallArgs **)mc_vec_push(&cx->arg_pool) = mc_xmalloc(sizeof(CallArgs));
  return MC_VEC_AT(&cx->arg_pool, CallArgs *, cx->arg_depth++);
}

static void args_pop(FeLower *cx) { cx->arg_depth--; }

void fe_eval_fini(FeLower *cx) {
  for (size_t i = 0; i < cx->arg_pool.len; i++) free(MC_VEC_AT(&cx->arg_pool, CallArgs *, i));
  mc_vec_free(&cx->arg_pool);
}

/* A block that shares its name with a builtin (layer_norm) is instantiated
   when the first argument is a number (constructor arguments are) and
   called as the builtin otherwise. */
static FeValue dispatch(FeLower *cx, const FeNode *call, const Callee *c, const CallArgs *ca,
                        const char *inst_name) {
  if (c->has_value) {
    if (c->value.kind == FE_V_POISON) return fe_poison();
    if (c->value.kind != FE_V_INST) {
      mc_error(cx->diag, call->loc, "'%s' is %s, not a block instance", c->what,
               fe_value_kind(&c->value));
      return fe_poison();
    }
    return apply(cx, c->value.inst, ca, c->what, call->loc);
  }
  const FeNode *block = c->block;
  if (block && c->bi && ca->npos > 0 && !fe_is_number(&ca->pos[0])) block = NULL;
  if (block) return construct(cx, block, c->is_std, ca, inst_name, call->loc);
  return call_builtin(cx, c->bi, ca, call->loc);
}

static FeValue call_with_args(FeLower *cx, FeScope *sc, const FeNode *call, const Callee *c,
                              const char *inst_name) {
  CallArgs *ca = args_push(cx);
  FeValue r = eval_args(cx, sc, call, ca) ? dispatch(cx, call, c, ca, inst_name) : fe_poison();
  args_pop(cx);
  return r;
}

/* name(args): a local instance, repeat, a block or a builtin. */
static FeValue eval_named_call(FeLower *cx, FeScope *sc, const FeNode *call,
                               const char *inst_name) {
  const char *name = call->a->name;
  Callee c = {.what = name};
  FeBinding *local = fe_scope_find(sc, name);
  if (local) {
    c.has_value = true;
    c.value = local->v;
    return call_with_args(cx, sc, call, &c, inst_name);
  }
  if (strcmp(name, "repeat") == 0) return eval_repeat(cx, sc, call, inst_name);
  c.block = fe_find_block(cx, name, &c.is_std);
  c.bi = fe_builtin_find(name);
  if (c.block || c.bi) return call_with_args(cx, sc, call, &c, inst_name);
  if (is_initializer(name))
    mc_error(cx->diag, call->loc,
             "'%s' is an initializer: use it in a param declaration, param w: f32[...] = %s(...)",
             name, name);
  else
    fe_report_unknown(cx, sc, name, call->a->loc);
  return fe_poison();
}

static FeValue eval_call(FeLower *cx, FeScope *sc, const FeNode *call, const char *inst_name) {
  if (call->a->kind == FE_NAME) return eval_named_call(cx, sc, call, inst_name);
  Callee c = {.what = callee_text(cx, call->a), .has_value = true};
  c.value = fe_eval(cx, sc, call->a, NULL);
  return call_with_args(cx, sc, call, &c, NULL);
}

/* ---- names, members, indexing --------------------------------------------------------- */

static FeValue eval_name(FeLower *cx, FeScope *sc, const FeNode *e) {
  FeBinding *b = fe_scope_find(sc, e->name);
  if (b) return b->v;
  FeValue c;
  if (fe_constant(e->name, &c)) return c;
  bool is_std;
  if (fe_find_block(cx, e->name, &is_std)) {
    mc_error(cx->diag, e->loc, "'%s' is a block: create an instance with 'name = %s(...)'",
             e->name, e->name);
  } else if (fe_builtin_find(e->name) || strcmp(e->name, "repeat") == 0) {
    mc_error(cx->diag, e->loc, "'%s' is a function: call it as %s(...)", e->name, e->name);
  } else {
    fe_report_unknown(cx, sc, e->name, e->loc);
  }
  return fe_poison();
}

/* Tensor methods and attributes from PyTorch, and the builtin that does
   the same here ("%s" stands for the tensor). */
static const struct { const char *member, *use; } tensor_methods[] = {
    {"T", "transpose(%s)"}, {"mT", "transpose(%s)"}, {"t", "transpose(%s)"},
    {"transpose", "transpose(%s, a, b)"}, {"permute", "permute(%s, [p...])"},
    {"view", "reshape(%s, [d...])"}, {"reshape", "reshape(%s, [d...])"},
    {"flatten", "flatten(%s)"}, {"unflatten", "unflatten(%s, axis, [d...])"},
    {"unsqueeze", "unsqueeze(%s, axis)"}, {"sum", "sum(%s, axis = a)"},
    {"mean", "mean(%s, axis = a)"}, {"max", "max(%s, axis = a)"}, {"amax", "max(%s, axis = a)"},
    {"softmax", "softmax(%s, axis = -1)"}, {"log_softmax", "log_softmax(%s, axis = -1)"},
    {"relu", "relu(%s)"}, {"gelu", "gelu(%s)"}, {"tanh", "tanh(%s)"},
    {"sigmoid", "sigmoid(%s)"}, {"exp", "exp(%s)"}, {"log", "log(%s)"}, {"sqrt", "sqrt(%s)"},
    {"rsqrt", "rsqrt(%s)"}, {"abs", "abs(%s)"}, {"float", "float(%s)"},
    {"matmul", "%s @ b"}, {"mm", "%s @ b"}, {"pow", "%s ** k"},
};

/* The source form of a name or a dotted member chain (fc1.weight); "x" for
   anything longer. */
static void expr_text(McStr *out, const FeNode *e) {
  if (e->kind == FE_NAME) {
    mc_str_puts(out, e->name);
  } else if (e->kind == FE_MEMBER && (e->a->kind == FE_NAME || e->a->kind == FE_MEMBER) &&
             e->depth < 8) {
    expr_text(out, e->a);
    mc_str_printf(out, ".%s", e->name);
  } else {
    mc_str_puts(out, "x");
  }
}

/* "a tensor has no member 'T'": with the builtin that does it, or, for a
   shape query, the static type. */
static void report_member(FeLower *cx, const FeNode *e, const FeValue *base) {
  const char *m = e->name;
  McStr x;
  mc_str_init(&x);
  expr_text(&x, e->a);
  if (base->kind == FE_V_TENSOR && (!strcmp(m, "shape") || !strcmp(m, "size") ||
                                    !strcmp(m, "dim") || !strcmp(m, "ndim") || !strcmp(m, "dtype"))) {
    mc_error(cx->diag, e->loc, "a tensor has no member '%s': types are static, %s is %s (name a "
             "dim to use it, as B in f32[B, 10])", m, x.s, fe_type_str(cx, base));
    mc_str_free(&x);
    return;
  }
  for (size_t i = 0; base->kind == FE_V_TENSOR && i < MC_COUNTOF(tensor_methods); i++) {
    if (strcmp(m, tensor_methods[i].member) != 0) continue;
    McStr use;
    mc_str_init(&use);
    mc_str_printf(&use, tensor_methods[i].use, x.s);
    mc_error(cx->diag, e->loc, "a tensor has no member '%s': tensors have no methods; write %s",
             m, use.s);
    mc_str_free(&use);
    mc_str_free(&x);
    return;
  }
  mc_error(cx->diag, e->loc, "%s has no member '%s'", fe_value_kind(base), m);
  mc_str_free(&x);
}

static FeValue eval_member(FeLower *cx, FeScope *sc, const FeNode *e) {
  FeValue base = fe_eval(cx, sc, e->a, NULL);
  if (base.kind == FE_V_POISON) return base;
  if (base.kind != FE_V_INST) {
    report_member(cx, e, &base);
    return fe_poison();
  }
  FeInst *inst = base.inst;
  if (!inst->block) {
    mc_error(cx->diag, e->loc, "'%s' is a repeat: pick one with %s[i]", inst->path, inst->path);
    return fe_poison();
  }
  FeBinding *b = fe_scope_find(inst->scope, e->name);
  if (b) return b->v;
  const char *hint = fe_suggest_in_scopes(inst->scope, e->name);
  if (hint)
    mc_error(cx->diag, e->loc, "'%s' (%s) has no member '%s'; did you mean '%s'?", inst->path,
             inst->block->name, e->name, hint);
  else
    mc_error(cx->diag, e->loc, "'%s' (%s) has no member '%s'", inst->path, inst->block->name,
             e->name);
  return fe_poison();
}

/* Evaluates an index or slice bound: an integer, or the default when absent. */
static bool eval_index_int(FeLower *cx, FeScope *sc, const FeNode *e, int64_t dflt, int64_t *out) {
  if (!e) {
    *out = dflt;
    return true;
  }
  FeValue v = fe_eval(cx, sc, e, NULL);
  if (v.kind == FE_V_POISON) return false;
  if (v.kind != FE_V_INT) {
    mc_error(cx->diag, e->loc, "an index must be an integer, got %s%s", fe_value_str(cx, &v),
             v.kind == FE_V_TENSOR ? " (use gather(table, idx) to index by a tensor)" : "");
    return false;
  }
  *out = v.i;
  return true;
}

static int64_t clamp_bound(int64_t i, int64_t n) {
  if (i < 0) i = i < -n ? 0 : i + n;
  return i > n ? n : i;
}

/* One subscript of a tensor index: a slice (start/step/count) or an integer
   (count 1, the axis dropped afterwards). */
static bool tensor_subscript(FeLower *cx, FeScope *sc, const FeNode *s, int axis, int64_t n,
                             int64_t *start, int64_t *step, int64_t *count, bool *drop) {
  if (s->kind != FE_SLICE) {
    int64_t i;
    if (!eval_index_int(cx, sc, s, 0, &i)) return false;
    if (i < -n || i >= n) {
      mc_error(cx->diag, s->loc, "index %lld is out of range for axis %d of size %lld",
               (long long)i, axis, (long long)n);
      return false;
    }
    *start = i < 0 ? i + n : i;
    *step = *count = 1;
    *drop = true;
    return true;
  }
  int64_t b, e, st;
  if (!eval_index_int(cx, sc, s->c, 1, &st)) return false;
  if (st < 1) {
    mc_error(cx->diag, s->c->loc, "a slice step must be positive, got %lld", (long long)st);
    return false;
  }
  if (!eval_index_int(cx, sc, s->a, 0, &b) || !eval_index_int(cx, sc, s->b, n, &e)) return false;
  b = clamp_bound(b, n);
  e = clamp_bound(e, n);
  *start = b;
  *step = st;
  *count = e > b ? (e - b - 1) / st + 1 : 0;
  *drop = false;
  if (*count == 0) {
    mc_error(cx->diag, s->loc, "the slice selects nothing of axis %d (size %lld)", axis,
             (long long)n);
    return false;
  }
  return true;
}

static FeValue index_tensor(FeLower *cx, FeScope *sc, const FeNode *e, FeValue base) {
  IrShape xs = fe_tnode(cx, &base)->shape;
  if (e->list.n > xs.rank) {
    mc_error(cx->diag, e->loc, "too many indices for %s: %d given", fe_type_str(cx, &base),
             e->list.n);
    return fe_poison();
  }
  int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], count[IR_MAX_RANK];
  bool drop[IR_MAX_RANK] = {0}, any_drop = false, all_whole = true;
  for (int i = 0; i < xs.rank; i++) {
    start[i] = 0;
    step[i] = 1;
    count[i] = xs.d[i].n;
    if (i < e->list.n &&
        !tensor_subscript(cx, sc, e->list.items[i], i, xs.d[i].n, &start[i], &step[i],
                          &count[i], &drop[i]))
      return fe_poison();
    any_drop |= drop[i];
    all_whole &= start[i] == 0 && step[i] == 1 && count[i] == xs.d[i].n;
  }
  IrRef r = all_whole ? base.t : ir_slice(cx->g, base.t, start, step, count, e->loc);
  if (!any_drop || r == IR_NONE) return fe_tensor(r);
  IrShape s = {0};
  const IrShape *rs = &ir_node(cx->g, r)->shape;
  for (int i = 0; i < rs->rank; i++)
    if (!drop[i]) s.d[s.rank++] = rs->d[i];
  return fe_tensor(ir_reshape(cx->g, r, &s, e->loc));
}

static FeValue eval_index(FeLower *cx, FeScope *sc, const FeNode *e) {
  FeValue base = fe_eval(cx, sc, e->a, NULL);
  if (base.kind == FE_V_POISON) return base;
  if (base.kind == FE_V_TENSOR) return index_tensor(cx, sc, e, base);
  bool is_list = base.kind == FE_V_LIST, is_repeat = base.kind == FE_V_INST && !base.inst->block;
  if (!is_list && !is_repeat) {
    mc_error(cx->diag, e->loc, "cannot index %s", fe_value_kind(&base));
    return fe_poison();
  }
  const FeNode *s = e->list.items[0];
  if (e->list.n != 1 || s->kind == FE_SLICE) {
    mc_error(cx->diag, e->loc, "%s takes exactly one integer index",
             is_list ? "a list" : "a repeat");
    return fe_poison();
  }
  int64_t n = is_list ? base.n : base.inst->n, i;
  if (!eval_index_int(cx, sc, s, 0, &i)) return fe_poison();
  if (i < -n || i >= n) {
    mc_error(cx->diag, s->loc, "index %lld is out of range for %s of length %lld", (long long)i,
             is_list ? "a list" : "a repeat", (long long)n);
    return fe_poison();
  }
  if (i < 0) i += n;
  if (is_list) return base.items[i];
  return (FeValue){.kind = FE_V_INST, .inst = base.inst->items[i], .t = IR_NONE};
}

static FeValue eval_list(FeLower *cx, FeScope *sc, const FeNode *e) {
  FeValue r = {.kind = FE_V_LIST, .n = e->list.n, .t = IR_NONE};
  r.items = mc_arena_alloc(cx->arena, (size_t)(e->list.n ? e->list.n : 1) * sizeof *r.items);
  bool poisoned = false;
  for (int i = 0; i < e->list.n; i++) {
    r.items[i] = fe_eval(cx, sc, e->list.items[i], NULL);
    poisoned |= r.items[i].kind == FE_V_POISON;
  }
  return poisoned ? fe_poison() : r;
}

/* inst_name: the binding this expression initializes, so that a block call
   at its top creates an instance of that name (NULL elsewhere). */
FeValue fe_eval(FeLower *cx, FeScope *sc, const FeNode *e, const char *inst_name) {
  switch (e->kind) {
  case FE_INT: return fe_int(e->ival);
  case FE_FLOAT: return fe_float(e->fval);
  case FE_STRING: return (FeValue){.kind = FE_V_STR, .s = e->name, .t = IR_NONE};
  case FE_NAME: return eval_name(cx, sc, e);
  case FE_LIST: return eval_list(cx, sc, e);
  case FE_UNARY: return fe_negate(cx, fe_eval(cx, sc, e->a, NULL), e->loc);
  case FE_BINARY: {
    FeValue a = fe_eval(cx, sc, e->a, NULL);
    FeValue b = fe_eval(cx, sc, e->b, NULL);
    return fe_binop(cx, e->op, a, b, e->loc);
  }
  case FE_CALL: return eval_call(cx, sc, e, inst_name);
  case FE_INDEX: return eval_index(cx, sc, e);
  case FE_MEMBER: return eval_member(cx, sc, e);
  case FE_KWARG: case FE_SLICE: case FE_BIND: case FE_UNPACK: case FE_PARAM: case FE_INPUT:
  case FE_OUTPUT: case FE_MINIMIZE: case FE_FREEZE: case FE_FORWARD: case FE_RETURN: case FE_IF: case FE_TYPE:
  case FE_ARGDEF: case FE_BLOCK: case FE_MODEL: case FE_IMPORT: case FE_FILE:
  case FE_KIND_COUNT: break;
  }
  mc_error(cx->diag, e->loc, "%s is not an expression", fe_kind_name(e->kind));
  return fe_poison();
}

/* ---- types and initializers ----------------------------------------------------------- */

bool fe_eval_type(FeLower *cx, FeScope *sc, const FeNode *t, IrDtype *dt, IrShape *s) {
  static const char *const dtypes[] = {"f32", "f64", "i32"};
  bool ok = true;
  if (strcmp(t->name, "bool") == 0 || !ir_dtype_from_name(t->name, dt)) {
    const char *hint = fe_suggest(t->name, dtypes, 3);
    if (hint) mc_error(cx->diag, t->loc, "unknown type '%s'; did you mean '%s'?", t->name, hint);
    else mc_error(cx->diag, t->loc, "unknown type '%s' (types are f32, f64 and i32)", t->name);
    ok = false;
  }
  if (t->list.n > IR_MAX_RANK) {
    mc_error(cx->diag, t->loc, "a tensor has at most %d dims, got %d", IR_MAX_RANK, t->list.n);
    return false;
  }
  memset(s, 0, sizeof *s);
  s->rank = (uint8_t)t->list.n;
  int64_t numel = 1;
  for (int i = 0; i < t->list.n; i++) {
    const FeNode *e = t->list.items[i];
    FeValue v = fe_eval(cx, sc, e, NULL);
    if (v.kind == FE_V_POISON) {
      ok = false;
      continue;
    }
    if (v.kind != FE_V_INT || v.i < 1) {
      mc_error(cx->diag, e->loc, "a dim must be a positive integer, got %s", fe_value_str(cx, &v));
      ok = false;
      continue;
    }
    s->d[i] = v.dim.n == v.i ? v.dim : ir_dim_const(v.i);
    if (__builtin_mul_overflow(numel, v.i, &numel)) {
      mc_error(cx->diag, t->loc, "the tensor type has too many elements");
      return false;
    }
  }
  return ok;
}

static const struct {
  const char *name, *params;
  IrInitKind kind;
} initializers[] = {
    {"zeros", "", IR_INIT_ZEROS},
    {"ones", "", IR_INIT_ONES},
    {"constant", "value", IR_INIT_CONSTANT},
    {"normal", "mean=, std=", IR_INIT_NORMAL},
    {"uniform", "low=, high=", IR_INIT_UNIFORM},
    {"xavier_uniform", "gain=", IR_INIT_XAVIER_UNIFORM},
    {"xavier_normal", "gain=", IR_INIT_XAVIER_NORMAL},
    {"kaiming_uniform", "a=, mode=", IR_INIT_KAIMING_UNIFORM},
    {"kaiming_normal", "a=, mode=", IR_INIT_KAIMING_NORMAL},
};

static bool init_number(FeLower *cx, const FeArgs *a, int i, double dflt, double *out) {
  if (!a->given[i]) {
    *out = dflt;
    return true;
  }
  if (!fe_is_number(&a->v[i])) {
    mc_error(cx->diag, a->at[i], "%s expects a number, got %s", a->callee, fe_value_kind(&a->v[i]));
    return false;
  }
  *out = fe_number(&a->v[i]);
  return true;
}

/* The PyTorch defaults: normal(0, 1), uniform(0, 1), gain 1, a = 0, fan_in. */
static bool init_from_args(FeLower *cx, IrInitKind kind, const FeArgs *a, IrInit *init) {
  init->kind = kind;
  switch (kind) {
  case IR_INIT_CONSTANT: return init_number(cx, a, 0, 0, &init->a);
  case IR_INIT_NORMAL:
  case IR_INIT_UNIFORM:
    return init_number(cx, a, 0, 0, &init->a) && init_number(cx, a, 1, 1, &init->b);
  case IR_INIT_XAVIER_UNIFORM:
  case IR_INIT_XAVIER_NORMAL: return init_number(cx, a, 0, 1, &init->a);
  case IR_INIT_KAIMING_UNIFORM:
  case IR_INIT_KAIMING_NORMAL:
    if (!init_number(cx, a, 0, 0, &init->a)) return false;
    if (!a->given[1]) return true;
    if (a->v[1].kind != FE_V_STR ||
        (strcmp(a->v[1].s, "fan_in") != 0 && strcmp(a->v[1].s, "fan_out") != 0)) {
      mc_error(cx->diag, a->at[1], "mode must be \"fan_in\" or \"fan_out\"");
      return false;
    }
    init->fan_out = strcmp(a->v[1].s, "fan_out") == 0;
    return true;
  case IR_INIT_NONE: case IR_INIT_ZEROS: case IR_INIT_ONES: case IR_INIT_COUNT: return true;
  }
  return true;
}

bool fe_eval_init(FeLower *cx, FeScope *sc, const FeNode *e, IrInit *init) {
  memset(init, 0, sizeof *init);
  if (!e) {
    init->kind = IR_INIT_ZEROS;
    return true;
  }
  size_t k = MC_COUNTOF(initializers);
  if (e->kind == FE_CALL && e->a->kind == FE_NAME)
    for (k = 0; k < MC_COUNTOF(initializers); k++)
      if (strcmp(initializers[k].name, e->a->name) == 0) break;
  if (k == MC_COUNTOF(initializers)) {
    const char *hint = e->kind == FE_CALL && e->a->kind == FE_NAME
                           ? fe_suggest(e->a->name, initializer_names,
                                        (int)MC_COUNTOF(initializer_names))
                           : NULL;
    if (hint)
      mc_error(cx->diag, e->loc, "unknown initializer '%s'; did you mean '%s'?", e->a->name, hint);
    else
      mc_error(cx->diag, e->loc,
               "a param is initialized by one of zeros(), ones(), constant(v), normal(mean, std), "
               "uniform(low, high), xavier_uniform(gain), xavier_normal(gain), "
               "kaiming_uniform(a, mode), kaiming_normal(a, mode)");
    return false;
  }
  CallArgs *ca = args_push(cx);
  Sig s;
  sig_from_string(&s, initializers[k].params);
  FeArgs a;
  bool ok = eval_args(cx, sc, e, ca) && !args_poisoned(ca) &&
            bind_args(cx, initializers[k].name, &s, ca, e->loc, &a) &&
            init_from_args(cx, initializers[k].kind, &a, init);
  args_pop(cx);
  return ok;
}

