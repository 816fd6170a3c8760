/* fe_lower.c -- from syntax trees to the forward IR graph: statements of
   models, blocks and forward bodies, their placement rules, named dims and
   -D overrides, files, imports and the standard library prelude, and the
   entry points fe_compile_file / fe_compile_string. */
#define _XOPEN_SOURCE 700   /* realpath */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fe_int.h"

typedef struct FeFileRec {
  const char *key;         /* canonical path, to import each file once */
  const char *name;        /* the path as opened, for messages */
  bool loading;            /* on the import stack: importing it again is a cycle */
} FeFileRec;

/* ---- statements ---------------------------------------------------------------------- */

static const char *ctx_name(FeStmtCtx c) {
  return c == FE_CTX_MODEL ? "a model" : c == FE_CTX_BLOCK ? "a block body" : "a forward body";
}

/* Where each statement may appear: NULL when anywhere. */
static const char *placement(FeKind k, FeStmtCtx c) {
  switch (k) {
  case FE_INPUT: case FE_OUTPUT: case FE_MINIMIZE: return c != FE_CTX_MODEL ? "in a model" : NULL;
  case FE_FORWARD: return c != FE_CTX_BLOCK ? "in a block body" : NULL;
  case FE_RETURN: return c != FE_CTX_FORWARD ? "in a forward body" : NULL;
  case FE_PARAM:
  case FE_FREEZE: return c == FE_CTX_FORWARD ? "in a model or a block body" : NULL;
  default: return NULL;
  }
}

/* Reports every misplaced statement of a body (and of the bodies nested
   in it) once, before anything runs, so unused blocks are checked too. */
static void check_placement(FeLower *cx, const FeList *stmts, FeStmtCtx c) {
  static const char *const kw[FE_KIND_COUNT] = {
      [FE_INPUT] = "input", [FE_OUTPUT] = "output", [FE_MINIMIZE] = "minimize",
      [FE_FORWARD] = "forward", [FE_RETURN] = "return", [FE_PARAM] = "param",
      [FE_FREEZE] = "freeze"};
  for (int i = 0; i < stmts->n; i++) {
    const FeNode *st = stmts->items[i];
    const char *where = placement(st->kind, c);
    if (where)
      mc_error(cx->diag, st->loc, "'%s' is only allowed %s, not in %s", kw[st->kind], where,
               ctx_name(c));
    if (st->kind == FE_IF) {
      check_placement(cx, &st->list, c);
      check_placement(cx, &st->list2, c);
    }
    if (st->kind == FE_FORWARD && !where) check_placement(cx, &st->list2, FE_CTX_FORWARD);
  }
}

/* `batch(INT)`: the literal of a named dim marked as the batch. */
static const FeNode *batch_literal(const FeNode *e) {
  if (e->kind != FE_CALL || e->a->kind != FE_NAME || strcmp(e->a->name, "batch") != 0 ||
      e->list.n != 1 || e->list.items[0]->kind != FE_INT)
    return NULL;
  return e->list.items[0];
}

/* name = EXPR; at model level an integer literal makes a named dim (an IR
   sym) whose value -D NAME=VALUE may override; `name = batch(INT)` makes
   it the batch, which AOT libraries bind per call. */
static void exec_bind(FeLower *cx, FeScope *sc, const FeNode *st, FeStmtCtx c) {
  if (!fe_is_fresh(cx, sc, st->name, st->loc)) return;
  const FeNode *batch = c == FE_CTX_MODEL ? batch_literal(st->a) : NULL;
  if (batch && ir_graph_batch_sym(cx->g) >= 0) {
    mc_error(cx->diag, st->loc, "a model has one batch dim: '%s' is already it",
             cx->g->syms[ir_graph_batch_sym(cx->g)].name);
    batch = NULL;
  }
  if (c == FE_CTX_MODEL && (st->a->kind == FE_INT || batch)) {
    int64_t v = batch ? batch->ival : st->a->ival;
    for (int i = 0; i < cx->opts->ndefines; i++) {
      if (strcmp(cx->opts->defines[i].name, st->name) != 0) continue;
      cx->define_used[i] = true;
      if (cx->opts->defines[i].value >= 0) v = cx->opts->defines[i].value;  /* else reported */
    }
    FeValue val = fe_int(v);
    int sym = v >= 1 ? ir_graph_add_sym(cx->g, st->name, v) : -1;
    if (sym >= 0) val.dim = ir_dim_sym(cx->g, sym);
    if (sym >= 0 && batch) cx->g->syms[sym].batch = true;
    fe_define(cx, sc, st->name, val, st->loc);
    return;
  }
  const char *inst_name = c == FE_CTX_FORWARD ? NULL : st->name;
  fe_define(cx, sc, st->name, fe_eval(cx, sc, st->a, inst_name), st->loc);
}

static void exec_unpack(FeLower *cx, FeScope *sc, const FeNode *st) {
  FeValue v = fe_eval(cx, sc, st->a, NULL);
  int n = st->list.n;
  if (v.kind != FE_V_POISON && (v.kind != FE_V_LIST || v.n != n)) {
    if (v.kind == FE_V_LIST)
      mc_error(cx->diag, st->loc, "cannot unpack %d values into %d names", v.n, n);
    else
      mc_error(cx->diag, st->loc, "cannot unpack %s into %d names", fe_value_kind(&v), n);
    v = fe_poison();
  }
  for (int i = 0; i < n; i++) {
    const FeNode *name = st->list.items[i];
    fe_define(cx, sc, name->name, v.kind == FE_V_LIST ? v.items[i] : fe_poison(), name->loc);
  }
}

static void exec_param(FeLower *cx, FeScope *sc, const FeNode *st) {
  if (!fe_is_fresh(cx, sc, st->name, st->loc)) return;
  IrDtype dt = IR_F32;
  IrShape s;
  IrInit init;
  bool ok = fe_eval_type(cx, sc, st->a, &dt, &s);
  ok = fe_eval_init(cx, sc, st->b, &init) && ok;
  if (ok && !ir_dtype_is_float(dt)) {
    mc_error(cx->diag, st->a->loc, "a param must be a float tensor, not %s", st->a->name);
    ok = false;
  }
  const char *name = fe_path_join(cx, cx->prefix, st->name);
  IrRef r = ok ? ir_param(cx->g, name, dt, &s, init, st->loc) : IR_NONE;
  if (r != IR_NONE) ir_node(cx->g, r)->attr.frozen = ir_node(cx->g, r)->attr.buffer = st->ival != 0;
  fe_define(cx, sc, st->name, fe_tensor(r), st->loc);
}

static void exec_input(FeLower *cx, FeScope *sc, const FeNode *st) {
  if (!fe_is_fresh(cx, sc, st->name, st->loc)) return;
  IrDtype dt = IR_F32;
  IrShape s;
  bool ok = fe_eval_type(cx, sc, st->a, &dt, &s);
  IrRef r = ok ? ir_input(cx->g, st->name, dt, &s, st->loc) : IR_NONE;
  fe_define(cx, sc, st->name, fe_tensor(r), st->loc);
}

static void exec_output(FeLower *cx, FeScope *sc, const FeNode *st) {
  FeValue v;
  if (st->a) {
    if (!fe_is_fresh(cx, sc, st->name, st->loc)) return;
    v = fe_eval(cx, sc, st->a, NULL);
    fe_define(cx, sc, st->name, v, st->loc);
  } else {
    FeBinding *b = fe_scope_find(sc, st->name);
    if (!b) {
      fe_report_unknown(cx, sc, st->name, st->loc);
      return;
    }
    v = b->v;
  }
  if (v.kind == FE_V_POISON) return;
  if (v.kind != FE_V_TENSOR) {
    mc_error(cx->diag, st->loc, "output '%s' must be a tensor, got %s", st->name,
             fe_value_kind(&v));
    return;
  }
  if (ir_find_output(cx->g, IR_OUT_OUTPUT, st->name)) {
    mc_error(cx->diag, st->loc, "output '%s' is declared twice", st->name);
    return;
  }
  ir_add_output(cx->g, IR_OUT_OUTPUT, st->name, v.t);
}

static void exec_minimize(FeLower *cx, FeScope *sc, const FeNode *st, FeExec *es) {
  if (es->loss) {
    mc_error(cx->diag, st->loc, "a model has one loss: 'minimize' appears twice");
    mc_note(cx->diag, es->loss->loc, "the first 'minimize' is here");
    return;
  }
  es->loss = st;
  FeValue v = fe_eval(cx, sc, st->a, NULL);
  if (v.kind == FE_V_POISON) return;
  if (v.kind != FE_V_TENSOR) {
    mc_error(cx->diag, st->a->loc, "the loss must be a scalar tensor, got %s", fe_value_kind(&v));
    return;
  }
  const IrNode *n = fe_tnode(cx, &v);
  if (n->shape.rank != 0) {
    mc_error(cx->diag, st->a->loc, "the loss must be a scalar, got %s; reduce it with mean(...)",
             fe_type_str(cx, &v));
    return;
  }
  if (!ir_dtype_is_float((IrDtype)n->dtype)) {
    mc_error(cx->diag, st->a->loc, "the loss must be a float scalar, got %s", fe_type_str(cx, &v));
    return;
  }
  ir_add_output(cx->g, IR_OUT_LOSS, "loss", v.t);
}

/* Recorded with the instance's path; applied when the model is complete
   (apply_freezes), so it also covers params declared after it. */
static void exec_freeze(FeLower *cx, const FeNode *st) {
  FeNode *full = mc_arena_alloc(cx->arena, sizeof *full);
  *full = *st;
  full->name = fe_path_join(cx, cx->prefix, st->name);
  *(const FeNode **)mc_vec_push(&cx->freezes) = full;
}

static void exec_forward(FeLower *cx, const FeNode *st, FeExec *es) {
  FeInst *inst = es->inst;
  if (inst->forward) {
    mc_error(cx->diag, st->loc, "'forward' is already defined in block '%s'", inst->block->name);
    mc_note(cx->diag, inst->forward->loc, "previous definition of 'forward' is here");
    return;
  }
  inst->forward = st;
}

static void exec_if(FeLower *cx, FeScope *sc, const FeNode *st, FeExec *es) {
  FeValue c = fe_eval(cx, sc, st->a, NULL);
  if (c.kind == FE_V_POISON) return;
  if (!fe_is_number(&c)) {
    mc_error(cx->diag, st->a->loc, "'if' needs a compile-time number as its condition, got %s",
             fe_value_kind(&c));
    return;
  }
  fe_exec_stmts(cx, sc, fe_number(&c) != 0 ? &st->list : &st->list2, es);
}

static void exec_stmt(FeLower *cx, FeScope *sc, const FeNode *st, FeExec *es) {
  if (placement(st->kind, es->ctx)) return;   /* reported by check_placement */
  switch (st->kind) {
  case FE_BIND: exec_bind(cx, sc, st, es->ctx); return;
  case FE_UNPACK: exec_unpack(cx, sc, st); return;
  case FE_PARAM: exec_param(cx, sc, st); return;
  case FE_INPUT: exec_input(cx, sc, st); return;
  case FE_OUTPUT:
    es->has_output = true;
    exec_output(cx, sc, st);
    return;
  case FE_MINIMIZE: exec_minimize(cx, sc, st, es); return;
  case FE_FREEZE: exec_freeze(cx, st); return;
  case FE_FORWARD: exec_forward(cx, st, es); return;
  case FE_RETURN:
    es->result = fe_eval(cx, sc, st->a, NULL);
    es->returned = true;
    return;
  case FE_IF: exec_if(cx, sc, st, es); return;
  default:
    mc_error(cx->diag, st->loc, "%s is not a statement", fe_kind_name(st->kind));
    return;
  }
}

void fe_exec_stmts(FeLower *cx, FeScope *sc, const FeList *stmts, FeExec *st) {
  for (int i = 0; i < stmts->n && !st->returned; i++) {
    if (fe_too_many_errors(cx->diag)) return;
    exec_stmt(cx, sc, stmts->items[i], st);
  }
}

/* ---- files and imports ------------------------------------------------------------------ */

static void add_blocks(FeLower *cx, const FeNode *file, bool is_std) {
  McVec *table = is_std ? &cx->std_blocks : &cx->user_blocks;
  for (int i = 0; i < file->list.n; i++) {
    const FeNode *b = file->list.items[i];
    if (b->kind == FE_MODEL) check_placement(cx, &b->list2, FE_CTX_MODEL);
    if (b->kind != FE_BLOCK) continue;
    check_placement(cx, &b->list2, FE_CTX_BLOCK);
    const FeNode *old = fe_find_block_in(table, b->name);
    if (old) {
      mc_error(cx->diag, b->loc, "block '%s' is already defined", b->name);
      mc_note(cx->diag, old->loc, "previous definition of '%s' is here", b->name);
      continue;
    }
    if (b->list.n > FE_MAX_ARGS) {
      mc_error(cx->diag, b->loc, "block '%s' has more than %d arguments", b->name, FE_MAX_ARGS);
      continue;
    }
    *(const FeNode **)mc_vec_push(table) = b;
  }
}

static FeNode *parse_source(FeLower *cx, const char *name, const char *text, size_t len) {
  uint32_t id = mc_sources_add(cx->src, name, text, len);
  const McSourceFile *f = mc_sources_get(cx->src, id);
  return fe_parse(cx->arena, f->text ? f->text : "", f->text ? f->len : 0, id, cx->diag);
}

/* The directory part of path, with a trailing '/', or "" for none. */
static const char *dir_of(FeLower *cx, const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? mc_arena_strndup(cx->arena, path, (size_t)(slash - path + 1)) : "";
}

static const char *canonical(FeLower *cx, const char *path) {
  char *real = realpath(path, NULL);
  if (!real) return mc_arena_strdup(cx->arena, path);
  const char *r = mc_arena_strdup(cx->arena, real);
  free(real);
  return r;
}

static FeFileRec *find_file(FeLower *cx, const char *key) {
  for (size_t i = 0; i < cx->files.len; i++) {
    FeFileRec *f = &MC_VEC_AT(&cx->files, FeFileRec, i);
    if (strcmp(f->key, key) == 0) return f;
  }
  return NULL;
}

static bool is_prelude(const char *path) { return strcmp(path, "std/nn.model") == 0; }

static void load_imports(FeLower *cx, const FeNode *file, const char *dir, const char *key,
                         const char *name);

/* "a.model -> b.model -> a.model": the files being loaded from `from` on. */
static void report_cycle(FeLower *cx, const FeNode *imp, const FeFileRec *from) {
  McStr chain;
  mc_str_init(&chain);
  bool on = false;
  for (size_t i = 0; i < cx->files.len; i++) {
    const FeFileRec *f = &MC_VEC_AT(&cx->files, FeFileRec, i);
    on |= f == from;
    if (on && f->loading) mc_str_printf(&chain, "%s -> ", f->name);
  }
  mc_str_puts(&chain, from->name);
  mc_error(cx->diag, imp->loc, "import cycle: %s", chain.s);
  mc_str_free(&chain);
}

static void import_file(FeLower *cx, const FeNode *imp, const char *dir) {
  if (is_prelude(imp->name)) return;   /* always imported */
  const char *path;
  if (strncmp(imp->name, "std/", 4) == 0 && cx->opts->stdlib_dir)
    path = mc_arena_printf(cx->arena, "%s/%s", cx->opts->stdlib_dir, imp->name + 4);
  else if (imp->name[0] == '/' || strncmp(imp->name, "std/", 4) == 0)
    path = imp->name;
  else
    path = mc_arena_printf(cx->arena, "%s%s", dir, imp->name);
  const char *key = canonical(cx, path);
  FeFileRec *rec = find_file(cx, key);
  if (rec && rec->loading) {
    report_cycle(cx, imp, rec);
    return;
  }
  if (rec) return;
  if (cx->import_depth >= FE_MAX_IMPORT_DEPTH) {
    mc_error(cx->diag, imp->loc, "imports nested more than %d deep", FE_MAX_IMPORT_DEPTH);
    return;
  }
  size_t len;
  const char *err;
  char *text = mc_read_file(path, &len, &err);
  if (!text) {
    mc_error(cx->diag, imp->loc, "cannot import '%s': %s", imp->name, err);
    return;
  }
  FeNode *ast = parse_source(cx, path, text, len);
  free(text);
  cx->import_depth++;
  load_imports(cx, ast, dir_of(cx, path), key, path);
  cx->import_depth--;
  for (int i = 0; i < ast->list.n; i++)
    if (ast->list.items[i]->kind == FE_MODEL)
      mc_error(cx->diag, ast->list.items[i]->loc,
               "an imported file cannot define a model (only blocks)");
  add_blocks(cx, ast, false);
}

/* Imports of `file` (whose canonical path is key), depth first. */
static void load_imports(FeLower *cx, const FeNode *file, const char *dir, const char *key,
                         const char *name) {
  FeFileRec *rec = mc_vec_push(&cx->files);
  rec->key = key;
  rec->name = name;
  rec->loading = true;
  size_t self = cx->files.len - 1;
  for (int i = 0; i < file->list.n; i++)
    if (file->list.items[i]->kind == FE_IMPORT) import_file(cx, file->list.items[i], dir);
  MC_VEC_AT(&cx->files, FeFileRec, self).loading = false;
}

void fe_load_prelude(FeLower *cx) {
  if (cx->prelude_loaded) return;
  cx->prelude_loaded = true;
  const char *text = fe_std_nn_model;
  size_t len = fe_std_nn_model_len;
  char *owned = NULL;
  if (cx->opts->stdlib_dir) {
    const char *path = mc_arena_printf(cx->arena, "%s/nn.model", cx->opts->stdlib_dir);
    const char *err;
    owned = mc_read_file(path, &len, &err);
    if (!owned) {
      mc_error(cx->diag, (McLoc){0}, "cannot read the standard library '%s': %s", path, err);
      return;
    }
    text = owned;
  }
  FeNode *ast = parse_source(cx, "std/nn.model", text, len);
  free(owned);
  add_blocks(cx, ast, true);
}

/* ---- the model ------------------------------------------------------------------------- */

static const FeNode *find_model(FeLower *cx, const FeNode *file) {
  const FeNode *model = NULL;
  for (int i = 0; i < file->list.n; i++) {
    const FeNode *m = file->list.items[i];
    if (m->kind != FE_MODEL) continue;
    if (model) {
      mc_error(cx->diag, m->loc, "a file defines one model; '%s' is the second", m->name);
      mc_note(cx->diag, model->loc, "the first model is '%s'", model->name);
      continue;
    }
    model = m;
  }
  return model;
}

static void check_defines(FeLower *cx) {
  for (int i = 0; i < cx->opts->ndefines; i++) {
    const FeDefine *d = &cx->opts->defines[i];
    if (!cx->define_used[i])
      mc_error(cx->diag, (McLoc){0}, "-D %s=%lld: the model has no dim '%s'", d->name,
               (long long)d->value, d->name);
    else if (d->value < 0)
      mc_error(cx->diag, (McLoc){0}, "-D %s=%lld: a dim must be a non-negative integer (a "
               "tensor extent, positive)", d->name, (long long)d->value);
  }
}

static void apply_freezes(FeLower *cx) {
  for (int i = 0; i < cx->opts->nfreeze; i++)
    if (ir_freeze_params(cx->g, cx->opts->freeze[i]) == 0)
      mc_error(cx->diag, (McLoc){0}, "--freeze '%s': no trainable param of model '%s' matches "
               "(a '*' matches any characters, dots included)", cx->opts->freeze[i], cx->g->name);
  for (size_t i = 0; i < cx->freezes.len; i++) {
    const FeNode *f = MC_VEC_AT(&cx->freezes, const FeNode *, i);
    if (ir_freeze_params(cx->g, f->name) == 0)
      mc_error(cx->diag, f->loc, "freeze \"%s\": no trainable param of model '%s' matches "
               "(a '*' matches any characters, dots included)", f->name, cx->g->name);
  }
}

/* The parsed opts->extra_output expression; NULL after reporting. */
static const FeNode *parse_extra(FeLower *cx) {
  const McSourceFile *f = mc_sources_get(cx->src, cx->opts->extra_file);
  uint32_t at = cx->opts->extra_offset;
  if (!f || !f->text || at > f->len) {
    mc_error(cx->diag, (McLoc){0}, "internal error: no source for the expression");
    return NULL;
  }
  return fe_parse_expr(cx->arena, f->text + at, f->len - at, cx->opts->extra_file, at + 1,
                       cx->diag);
}

/* Evaluates the extra expression in the model's scope as one more output. */
static void lower_extra(FeLower *cx, FeScope *sc) {
  FeValue v = fe_eval(cx, sc, cx->extra, NULL);
  if (v.kind == FE_V_POISON) return;
  if (v.kind != FE_V_TENSOR && !fe_is_number(&v)) {
    mc_error(cx->diag, cx->extra->loc, "expected a tensor or a number, got %s", fe_value_kind(&v));
    return;
  }
  IrRef r = fe_as_tensor(cx, &v, IR_F32, cx->extra->loc);
  if (r != IR_NONE) ir_add_output(cx->g, IR_OUT_OUTPUT, cx->opts->extra_output, r);
}

static void lower_model(FeLower *cx, const FeNode *model) {
  cx->g = ir_graph_new(model->name, cx->diag);
  FeScope *sc = fe_scope_new(cx, NULL);
  FeExec st = {.ctx = FE_CTX_MODEL};
  cx->prefix = "";
  fe_exec_stmts(cx, sc, &model->list2, &st);
  if (fe_too_many_errors(cx->diag)) return;
  if (cx->extra) {
    lower_extra(cx, sc);
    st.has_output = true;
  }
  apply_freezes(cx);
  check_defines(cx);
  /* Without `minimize` a model is an inference model; it still needs an output. */
  if (!st.loss && !st.has_output)
    mc_error(cx->diag, model->loc,
             "model '%s' computes nothing: add 'output NAME' or 'minimize EXPR'", model->name);
}

IrGraph *fe_compile_string(const char *name, const char *text, const FeOptions *o,
                           McSources *src, McDiag *d) {
  static const FeOptions no_options = {0};
  McArena arena;
  mc_arena_init(&arena);
  FeLower cx = {.arena = &arena, .diag = d, .src = src, .opts = o ? o : &no_options, .prefix = "",
                .rng = IR_NONE};
  cx.define_used = mc_arena_alloc(&arena, (size_t)(cx.opts->ndefines + 1) * sizeof(bool));
  mc_vec_init(&cx.user_blocks, sizeof(const FeNode *));
  mc_vec_init(&cx.std_blocks, sizeof(const FeNode *));
  mc_vec_init(&cx.files, sizeof(FeFileRec));
  mc_vec_init(&cx.arg_pool, sizeof(void *));
  mc_vec_init(&cx.freezes, sizeof(const FeNode *));
  int errors_before = d->nerrors;

  FeNode *main = parse_source(&cx, name, text, strlen(text));
  if (cx.opts->extra_output) cx.extra = parse_extra(&cx);
  load_imports(&cx, main, dir_of(&cx, name), canonical(&cx, name), name);
  add_blocks(&cx, main, false);
  const FeNode *model = find_model(&cx, main);
  if (!model && d->nerrors == errors_before)
    mc_error(d, (McLoc){0}, "%s: no model defined (write 'model NAME { ... }')", name);
  if (model && d->nerrors == errors_before) lower_model(&cx, model);

  IrGraph *g = cx.g;
  if (d->nerrors > errors_before) {
    ir_graph_free(g);
    g = NULL;
  }
  mc_vec_free(&cx.user_blocks);
  mc_vec_free(&cx.std_blocks);
  mc_vec_free(&cx.files);
  mc_vec_free(&cx.freezes);
  fe_eval_fini(&cx);
  mc_arena_free(&arena);
  return g;
}

IrGraph *fe_compile_file(const char *path, const FeOptions *o, McSources *src, McDiag *d) {
  size_t len;
  const char *err;
  char *text = mc_read_file(path, &len, &err);
  if (!text) {
    mc_error(d, (McLoc){0}, "cannot read '%s': %s", path, err);
    return NULL;
  }
  if (strlen(text) != len) {
    /* Embedded NUL bytes: compile the text up to the first one, and say so. */
    mc_error(d, (McLoc){0}, "'%s' contains a NUL byte", path);
    free(text);
    return NULL;
  }
  IrGraph *g = fe_compile_string(path, text, o, src, d);
  free(text);
  return g;
}
