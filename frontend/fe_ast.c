/* fe_ast.c -- the syntax tree: node and list allocation in the parse arena,
   one builder per grammar rule (called from the actions of fe_parse.y), and
   an S-expression printer for tests. */
#include <string.h>

#include "fe_int.h"

McLoc fe_loc(const FeParser *p, int first_line, int first_col, int last_line, int last_col) {
  McLoc l = {.file = p->file, .line = (uint32_t)first_line, .col = (uint32_t)first_col, .len = 1};
  if (last_line == first_line && last_col >= first_col)
    l.len = (uint32_t)(last_col - first_col + 1);
  return l;
}

bool fe_too_many_errors(const McDiag *d) {
  return d->max_errors > 0 && d->nerrors > d->max_errors;
}

static const char *const kind_names[FE_KIND_COUNT] = {
    [FE_INT] = "int",       [FE_FLOAT] = "float",     [FE_STRING] = "string",
    [FE_NAME] = "name",     [FE_LIST] = "list",       [FE_UNARY] = "unary",
    [FE_BINARY] = "binary", [FE_CALL] = "call",       [FE_KWARG] = "kwarg",
    [FE_INDEX] = "index",   [FE_SLICE] = "slice",     [FE_MEMBER] = "member",
    [FE_BIND] = "bind",     [FE_UNPACK] = "unpack",   [FE_PARAM] = "param",
    [FE_INPUT] = "input",   [FE_OUTPUT] = "output",   [FE_MINIMIZE] = "minimize", [FE_FREEZE] = "freeze",
    [FE_FORWARD] = "forward", [FE_RETURN] = "return", [FE_IF] = "if",
    [FE_TYPE] = "type",     [FE_ARGDEF] = "arg",      [FE_BLOCK] = "block",
    [FE_MODEL] = "model",   [FE_IMPORT] = "import",   [FE_FILE] = "file",
};

const char *fe_kind_name(FeKind k) {
  return (unsigned)k < FE_KIND_COUNT && kind_names[k] ? kind_names[k] : "?";
}

const char *fe_op_text(FeOp op) {
  static const char *const text[] = {
      [FE_OP_ADD] = "+", [FE_OP_SUB] = "-", [FE_OP_MUL] = "*",  [FE_OP_DIV] = "/",
      [FE_OP_MATMUL] = "@", [FE_OP_POW] = "**", [FE_OP_LT] = "<", [FE_OP_LE] = "<=",
      [FE_OP_GT] = ">", [FE_OP_GE] = ">=", [FE_OP_EQ] = "==", [FE_OP_NE] = "!=",
      [FE_OP_NEG] = "-"};
  return (unsigned)op < MC_COUNTOF(text) ? text[op] : "?";
}

FeNode *fe_node_new(McArena *a, FeKind kind, McLoc loc) {
  FeNode *n = mc_arena_alloc(a, sizeof *n);
  n->kind = kind;
  n->loc = loc;
  n->depth = 1;
  return n;
}

void fe_list_push(McArena *a, FeList *l, FeNode *n) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 4;
    FeNode **items = mc_arena_alloc(a, (size_t)cap * sizeof *items);
    if (l->n) memcpy(items, l->items, (size_t)l->n * sizeof *items);
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = n;
}

/* ---- depth bookkeeping ---------------------------------------------------- */

static uint32_t depth_of(const FeNode *n) { return n ? n->depth : 0; }

static uint32_t list_depth(const FeList *l) {
  uint32_t d = 0;
  for (int i = 0; i < l->n; i++)
    if (depth_of(l->items[i]) > d) d = depth_of(l->items[i]);
  return d;
}

/* Sets n->depth from its children; a tree taller than FE_MAX_DEPTH is an
   error (reported once per parse) so that later walks stay bounded. */
static FeNode *finish(FeParser *p, FeNode *n) {
  uint32_t d = depth_of(n->a);
  if (depth_of(n->b) > d) d = depth_of(n->b);
  if (depth_of(n->c) > d) d = depth_of(n->c);
  if (list_depth(&n->list) > d) d = list_depth(&n->list);
  if (list_depth(&n->list2) > d) d = list_depth(&n->list2);
  n->depth = d + 1;
  if (n->depth > FE_MAX_DEPTH && !p->too_deep) {
    p->too_deep = true;
    mc_error(p->diag, n->loc, "expression is nested too deeply (more than %d levels)",
             FE_MAX_DEPTH);
  }
  return n;
}

static FeNode *node(FeParser *p, FeKind kind, McLoc loc) {
  return fe_node_new(p->arena, kind, loc);
}

/* ---- lists ----------------------------------------------------------------- */

FeList fe_list_empty(void) { return (FeList){0}; }

FeList fe_list_one(FeParser *p, FeNode *n) {
  FeList l = {0};
  fe_list_push(p->arena, &l, n);
  return l;
}

FeList fe_list_append(FeParser *p, FeList l, FeNode *n) {
  fe_list_push(p->arena, &l, n);
  return l;
}

/* ---- declarations ----------------------------------------------------------- */

/* file = (item? NEWLINE)* */
void fe_file_add(FeParser *p, FeNode *item) {
  if (item) fe_list_push(p->arena, &p->root->list, item);
}

/* import = "import" STRING */
FeNode *fe_import(FeParser *p, const char *path, McLoc loc) {
  FeNode *n = node(p, FE_IMPORT, loc);
  n->name = path;
  return n;
}

/* block = "block" IDENT "(" argdefs ")" body */
FeNode *fe_block(FeParser *p, const char *name, FeList args, FeList body, McLoc loc) {
  FeNode *n = node(p, FE_BLOCK, loc);
  n->name = name;
  n->list = args;
  n->list2 = body;
  return finish(p, n);
}

/* model = "model" IDENT body */
FeNode *fe_model(FeParser *p, const char *name, FeList body, McLoc loc) {
  FeNode *n = node(p, FE_MODEL, loc);
  n->name = name;
  n->list2 = body;
  return finish(p, n);
}

/* argdef = IDENT ("=" expr)? */
FeNode *fe_argdef(FeParser *p, const char *name, FeNode *dflt, McLoc loc) {
  FeNode *n = node(p, FE_ARGDEF, loc);
  n->name = name;
  n->a = dflt;
  return finish(p, n);
}

/* type = IDENT "[" (expr ("," expr)*)? "]" */
FeNode *fe_type(FeParser *p, const char *dtype, FeList dims, McLoc loc) {
  FeNode *n = node(p, FE_TYPE, loc);
  n->name = dtype;
  n->list = dims;
  return finish(p, n);
}

/* ---- statements --------------------------------------------------------------- */

/* stmt = IDENT "=" expr */
FeNode *fe_bind(FeParser *p, const char *name, FeNode *value, McLoc loc) {
  FeNode *n = node(p, FE_BIND, loc);
  n->name = name;
  n->a = value;
  return finish(p, n);
}

/* stmt = IDENT ("," IDENT)+ "=" expr; the first name comes apart from the
   others, which the grammar collects in `rest`. */
FeNode *fe_unpack(FeParser *p, const char *first, McLoc first_loc, FeList rest, FeNode *value,
                  McLoc loc) {
  FeNode *n = node(p, FE_UNPACK, loc);
  n->list = fe_list_one(p, fe_name(p, first, first_loc));
  for (int i = 0; i < rest.n; i++) fe_list_push(p->arena, &n->list, rest.items[i]);
  n->a = value;
  return finish(p, n);
}

/* stmt = "param" IDENT ":" type ("=" expr)? */
FeNode *fe_param_stmt(FeParser *p, const char *name, FeNode *type, FeNode *init, McLoc loc) {
  FeNode *n = node(p, FE_PARAM, loc);
  n->name = name;
  n->a = type;
  n->b = init;
  return finish(p, n);
}

/* stmt = "buffer" IDENT ":" type ("=" expr)?: a param that is not trained
   (ival 1), such as batch norm's running statistics */
FeNode *fe_buffer_stmt(FeParser *p, const char *name, FeNode *type, FeNode *init, McLoc loc) {
  FeNode *n = fe_param_stmt(p, name, type, init, loc);
  n->ival = 1;
  return n;
}

/* stmt = "input" IDENT ":" type */
FeNode *fe_input_stmt(FeParser *p, const char *name, FeNode *type, McLoc loc) {
  FeNode *n = node(p, FE_INPUT, loc);
  n->name = name;
  n->a = type;
  return finish(p, n);
}

/* stmt = "output" IDENT ("=" expr)? */
FeNode *fe_output_stmt(FeParser *p, const char *name, FeNode *value, McLoc loc) {
  FeNode *n = node(p, FE_OUTPUT, loc);
  n->name = name;
  n->a = value;
  return finish(p, n);
}

/* stmt = "minimize" expr */
FeNode *fe_minimize(FeParser *p, FeNode *value, McLoc loc) {
  FeNode *n = node(p, FE_MINIMIZE, loc);
  n->a = value;
  return finish(p, n);
}

/* stmt = "freeze" STRING */
FeNode *fe_freeze(FeParser *p, const char *pattern, McLoc loc) {
  FeNode *n = node(p, FE_FREEZE, loc);
  n->name = pattern;
  return finish(p, n);
}

/* stmt = "forward" "(" argdefs ")" ("=" expr | body) */
FeNode *fe_forward(FeParser *p, FeList args, FeNode *value, FeList body, McLoc loc) {
  FeNode *n = node(p, FE_FORWARD, loc);
  n->list = args;
  n->a = value;
  n->list2 = body;
  return finish(p, n);
}

/* stmt = "return" expr */
FeNode *fe_return(FeParser *p, FeNode *value, McLoc loc) {
  FeNode *n = node(p, FE_RETURN, loc);
  n->a = value;
  return finish(p, n);
}

/* if = "if" expr body ("else" (body | if))? */
FeNode *fe_if(FeParser *p, FeNode *cond, FeList then, FeList els, McLoc loc) {
  FeNode *n = node(p, FE_IF, loc);
  n->a = cond;
  n->list = then;
  n->list2 = els;
  return finish(p, n);
}

/* ---- expressions ----------------------------------------------------------------- */

/* expr = sum (cmp_op sum)?, sum = term (("+" | "-") term)*, ... */
FeNode *fe_binary(FeParser *p, FeOp op, FeNode *a, FeNode *b, McLoc loc) {
  FeNode *n = node(p, FE_BINARY, loc);
  n->op = op;
  n->a = a;
  n->b = b;
  return finish(p, n);
}

/* unary = "-" unary */
FeNode *fe_unary(FeParser *p, FeOp op, FeNode *a, McLoc loc) {
  FeNode *n = node(p, FE_UNARY, loc);
  n->op = op;
  n->a = a;
  return finish(p, n);
}

/* postfix = postfix "(" args ")"; the caret of a call is the callee's name. */
FeNode *fe_call(FeParser *p, FeNode *callee, FeList args, McLoc paren) {
  bool named = callee->kind == FE_NAME || callee->kind == FE_MEMBER;
  FeNode *n = node(p, FE_CALL, named ? callee->loc : paren);
  n->a = callee;
  n->list = args;
  return finish(p, n);
}

/* arg = IDENT "=" expr */
FeNode *fe_kwarg(FeParser *p, const char *name, FeNode *value, McLoc loc) {
  FeNode *n = node(p, FE_KWARG, loc);
  n->name = name;
  n->a = value;
  return finish(p, n);
}

/* postfix = postfix "[" subscripts "]" */
FeNode *fe_index(FeParser *p, FeNode *base, FeList subs, McLoc loc) {
  FeNode *n = node(p, FE_INDEX, loc);
  n->a = base;
  n->list = subs;
  return finish(p, n);
}

/* subscript = expr? ":" expr? (":" expr?)? */
FeNode *fe_slice(FeParser *p, FeNode *start, FeNode *stop, FeNode *step, McLoc loc) {
  FeNode *n = node(p, FE_SLICE, loc);
  n->a = start;
  n->b = stop;
  n->c = step;
  return finish(p, n);
}

/* postfix = postfix "." IDENT */
FeNode *fe_member(FeParser *p, FeNode *base, const char *name, McLoc loc) {
  FeNode *n = node(p, FE_MEMBER, loc);
  n->a = base;
  n->name = name;
  return finish(p, n);
}

/* primary = IDENT */
FeNode *fe_name(FeParser *p, const char *name, McLoc loc) {
  FeNode *n = node(p, FE_NAME, loc);
  n->name = name;
  return n;
}

/* primary = INT */
FeNode *fe_int_lit(FeParser *p, int64_t v, McLoc loc) {
  FeNode *n = node(p, FE_INT, loc);
  n->ival = v;
  return n;
}

/* primary = FLOAT */
FeNode *fe_float_lit(FeParser *p, double v, McLoc loc) {
  FeNode *n = node(p, FE_FLOAT, loc);
  n->fval = v;
  return n;
}

/* primary = STRING */
FeNode *fe_string_lit(FeParser *p, const char *s, McLoc loc) {
  FeNode *n = node(p, FE_STRING, loc);
  n->name = s;
  return n;
}

/* primary = "(" expr ")": parentheses leave no node. */
FeNode *fe_paren(FeParser *p, FeNode *inner) {
  (void)p;
  return inner;
}

/* primary = "[" (expr ("," expr)*)? "]" */
FeNode *fe_list_expr(FeParser *p, FeList items, McLoc loc) {
  FeNode *n = node(p, FE_LIST, loc);
  n->list = items;
  return finish(p, n);
}

/* ---- printing --------------------------------------------------------------------- */

static void print_node(McStr *o, const FeNode *n, int budget);

static void print_list(McStr *o, const FeList *l, int budget) {
  for (int i = 0; i < l->n; i++) {
    mc_str_putc(o, ' ');
    print_node(o, l->items[i], budget);
  }
}

static void print_opt(McStr *o, const FeNode *n, int budget) {
  mc_str_putc(o, ' ');
  if (n) print_node(o, n, budget);
  else mc_str_putc(o, '_');
}

static void print_node(McStr *o, const FeNode *n, int budget) {
  if (budget <= 0) {
    mc_str_puts(o, "...");
    return;
  }
  budget--;
  switch (n->kind) {
  case FE_INT: mc_str_printf(o, "%lld", (long long)n->ival); return;
  case FE_FLOAT: mc_str_printf(o, "%g", n->fval); return;
  case FE_STRING: mc_str_printf(o, "\"%s\"", n->name); return;
  case FE_NAME: mc_str_puts(o, n->name); return;
  case FE_LIST:
    mc_str_puts(o, "[");
    for (int i = 0; i < n->list.n; i++) {
      if (i) mc_str_putc(o, ' ');
      print_node(o, n->list.items[i], budget);
    }
    mc_str_puts(o, "]");
    return;
  case FE_UNARY:
  case FE_BINARY:
    mc_str_printf(o, "(%s", n->kind == FE_UNARY ? "neg" : fe_op_text(n->op));
    print_opt(o, n->a, budget);
    if (n->kind == FE_BINARY) print_opt(o, n->b, budget);
    break;
  case FE_MEMBER:
    mc_str_puts(o, "(.");
    print_opt(o, n->a, budget);
    mc_str_printf(o, " %s", n->name);
    break;
  case FE_SLICE:
    mc_str_puts(o, "(slice");
    print_opt(o, n->a, budget);
    print_opt(o, n->b, budget);
    print_opt(o, n->c, budget);
    break;
  case FE_CALL:
  case FE_INDEX:
    mc_str_printf(o, "(%s", n->kind == FE_PARAM && n->ival ? "buffer" : fe_kind_name(n->kind));
    print_opt(o, n->a, budget);
    print_list(o, &n->list, budget);
    break;
  case FE_UNPACK:
    mc_str_puts(o, "(unpack (");
    for (int i = 0; i < n->list.n; i++) mc_str_printf(o, i ? " %s" : "%s", n->list.items[i]->name);
    mc_str_putc(o, ')');
    print_opt(o, n->a, budget);
    break;
  case FE_FORWARD:
    mc_str_puts(o, "(forward (");
    for (int i = 0; i < n->list.n; i++) {
      if (i) mc_str_putc(o, ' ');
      print_node(o, n->list.items[i], budget);
    }
    mc_str_putc(o, ')');
    if (n->a) print_opt(o, n->a, budget);
    else print_list(o, &n->list2, budget);
    break;
  case FE_IF:
    mc_str_puts(o, "(if");
    print_opt(o, n->a, budget);
    mc_str_puts(o, " (then");
    print_list(o, &n->list, budget);
    mc_str_puts(o, ") (else");
    print_list(o, &n->list2, budget);
    mc_str_putc(o, ')');
    break;
  case FE_IMPORT: mc_str_printf(o, "(import \"%s\")", n->name); return;
  case FE_FILE:
    mc_str_puts(o, "(file");
    print_list(o, &n->list, budget);
    break;
  case FE_KWARG: case FE_BIND: case FE_PARAM: case FE_INPUT: case FE_OUTPUT:
  case FE_MINIMIZE: case FE_FREEZE: case FE_RETURN: case FE_TYPE: case FE_ARGDEF: case FE_BLOCK:
  case FE_MODEL: case FE_KIND_COUNT:
    /* (kind name? a? b? list... list2...) */
    mc_str_printf(o, "(%s", n->kind == FE_PARAM && n->ival ? "buffer" : fe_kind_name(n->kind));
    if (n->name) mc_str_printf(o, " %s", n->name);
    if (n->a) print_opt(o, n->a, budget);
    if (n->b) print_opt(o, n->b, budget);
    print_list(o, &n->list, budget);
    print_list(o, &n->list2, budget);
    break;
  }
  mc_str_putc(o, ')');
}

void fe_ast_print(McStr *out, const FeNode *n) {
  if (n) print_node(out, n, FE_MAX_DEPTH + 8);
  else mc_str_puts(out, "_");
}
