/* test_passes.c -- the pass manager (pipeline parsing, suggestions,
   --print-after, verification after each pass) and the passes dce, cse,
   simplify and autodiff on small graphs built with the builder: node counts
   before and after, outputs preserved, exact gradients on tiny cases. */
#include <stdlib.h>
#include <string.h>

#include "pass.h"
#include "test_util.h"

static const McLoc noloc = {0};
static McDiag diag;

static IrShape shape_of(int rank, const int64_t *dims) {
  IrShape s = {.rank = (uint8_t)rank};
  for (int i = 0; i < rank; i++) s.d[i] = ir_dim_const(dims[i]);
  return s;
}

#define SHAPE(...) shape_of(MC_COUNTOF(((int64_t[]){__VA_ARGS__})), (int64_t[]){__VA_ARGS__})

static IrGraph *new_graph(void) {
  mc_diag_fini(&diag);
  mc_diag_init(&diag, NULL, NULL);
  return ir_graph_new("t", &diag);
}

static PassCtx ctx(void) { return (PassCtx){.diag = &diag, .verify_each = true}; }

static IrRef in(IrGraph *g, const char *name, IrShape s) {
  return ir_input(g, name, IR_F32, &s, noloc);
}

static IrRef par(IrGraph *g, const char *name, IrShape s) {
  return ir_param(g, name, IR_F32, &s, (IrInit){IR_INIT_ZEROS, 0, 0, false}, noloc);
}

static IrRef bin(IrGraph *g, IrOp op, IrRef a, IrRef b) { return ir_binary(g, op, a, b, noloc); }
static IrRef un(IrGraph *g, IrOp op, IrRef a) { return ir_unary(g, op, a, noloc); }
static IrRef cst(IrGraph *g, double v) { return ir_const(g, v, IR_F32, noloc); }

static IrRef sum_all(IrGraph *g, IrRef x) {
  int rank = ir_node(g, x)->shape.rank;
  return ir_reduce(g, IR_OP_SUM, x, (1u << rank) - 1, false, noloc);
}

static bool has_text(const char *hay, const char *needle) {
  return hay && strstr(hay, needle) != NULL;
}

static uint32_t count_op(const IrGraph *g, IrOp op) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < g->nnodes; i++) n += g->nodes[i].op == op;
  return n;
}

static char *print_graph(const IrGraph *g) {
  McStr s;
  mc_str_init(&s);
  ir_print(&s, g);
  return s.s;
}

/* ---- pipelines ------------------------------------------------------------------ */

static void test_passes_table_lookup(void) {
  CU_ASSERT_EQUAL(pass_count, 8);
  CU_ASSERT_PTR_NOT_NULL(pass_find("cse"));
  CU_ASSERT_PTR_EQUAL(pass_find("dce")->fn, pass_dce);
  CU_ASSERT_PTR_NULL(pass_find("cs"));
}

static void test_passes_unknown_pass_suggests_and_runs_nothing(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(3));
  ir_add_output(g, IR_OUT_OUTPUT, "y", bin(g, IR_OP_ADD, x, cst(g, 0)));
  IrGraph *before = g;
  uint32_t n = g->nnodes;
  PassCtx cx = ctx();
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "simplify,csee,dce", &cx));
  CU_ASSERT_TRUE(has_text(diag.buf.s, "unknown pass 'csee' in pipeline (did you mean 'cse'?)"));
  CU_ASSERT_PTR_EQUAL(g, before);
  CU_ASSERT_EQUAL(g->nnodes, n);
  ir_graph_free(g);
}

static void test_passes_unknown_pass_lists_passes(void) {
  IrGraph *g = new_graph();
  PassCtx cx = ctx();
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "frobnicate", &cx));
  CU_ASSERT_TRUE(has_text(diag.buf.s, "unknown pass 'frobnicate' in pipeline "
                                      "(passes: autodiff, simplify, cse, dce, sink, remat, optim, fuse)"));
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "cse,,dce", &cx));
  CU_ASSERT_TRUE(has_text(diag.buf.s, "empty pass name in pipeline"));
  cx.print_after = "autodif";
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "dce", &cx));
  CU_ASSERT_TRUE(has_text(diag.buf.s,
                          "unknown pass 'autodif' in --print-after (did you mean 'autodiff'?)"));
  ir_graph_free(g);
}

static void test_passes_empty_pipeline_and_spaces(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(3));
  ir_add_output(g, IR_OUT_OUTPUT, "y", un(g, IR_OP_EXP, x));
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(&g, "", &cx));
  CU_ASSERT_TRUE(pass_run_pipeline(&g, " cse , dce ", &cx));
  CU_ASSERT_EQUAL(diag.nerrors, 0);
  ir_graph_free(g);
}

/* Runs the pipeline with print options into a memory stream. */
static char *printed(IrGraph **g, const char *pipeline, const char *after, bool first,
                     const char *format) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  PassCtx cx = ctx();
  cx.print_after = after;
  cx.print_before_first = first;
  cx.print_out = f;
  cx.print_format = format;
  CU_ASSERT_TRUE(pass_run_pipeline(g, pipeline, &cx));
  fclose(f);
  char *copy = mc_xstrdup(text ? text : "");  /* a plain heap string for the callers */
  free(text);
  return copy;
}

/* --print-after-all: the input, then each pass in order. */
static void check_print_all(const char *t) {
  const char *input = strstr(t, "# --- input ---"), *cse = strstr(t, "# --- after cse ---");
  const char *dce = strstr(t, "# --- after dce ---");
  CU_ASSERT_TRUE(input && cse && dce && input < cse && cse < dce);
  CU_ASSERT_TRUE(has_text(dce, "  %1 = neg %0 : f32[3]\n  output \"y\" = %1\n}\n"));
}

static void test_passes_print_after(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(3));
  IrRef dead = un(g, IR_OP_EXP, x);
  (void)dead;
  ir_add_output(g, IR_OUT_OUTPUT, "y", un(g, IR_OP_NEG, x));
  char *t = printed(&g, "cse,dce", "cse", false, NULL);
  CU_ASSERT_TRUE(has_text(t, "# --- after cse ---\ngraph @t {\n"));
  CU_ASSERT_TRUE(has_text(t, "%1 = exp %0 : f32[3]"));
  CU_ASSERT_FALSE(has_text(t, "after dce"));
  CU_ASSERT_FALSE(has_text(t, "# --- input ---"));
  free(t);
  t = printed(&g, "cse,dce", "all", true, NULL);
  check_print_all(t);
  free(t);
  t = printed(&g, "dce", "dce", false, "dot");
  CU_ASSERT_TRUE(has_text(t, "# --- after dce ---\n"));
  CU_ASSERT_FALSE(has_text(t, "graph @t {"));
  free(t);
  ir_graph_free(g);
}

/* A loss of rank 1 survives dce but not the verifier. */
static void test_passes_verify_each_names_the_pass(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(3));
  ir_add_output(g, IR_OUT_LOSS, "bad", un(g, IR_OP_EXP, x));
  PassCtx cx = ctx();
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "dce,cse", &cx));
  CU_ASSERT_TRUE(has_text(diag.buf.s, "IR invalid after pass 'dce'"));
  CU_ASSERT_FALSE(has_text(diag.buf.s, "after pass 'cse'"));
  ir_graph_free(g);
}

/* ---- dce -------------------------------------------------------------------------- */

static void test_passes_dce_keeps_live_nodes_and_signature(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(2, 3));
  in(g, "unused", SHAPE(4));
  IrRef w = par(g, "w", SHAPE(3));
  un(g, IR_OP_EXP, x);                        /* dead */
  IrRef y = bin(g, IR_OP_MUL, x, w);
  un(g, IR_OP_TANH, y);                       /* dead */
  IrRef l = sum_all(g, y);
  ir_add_output(g, IR_OUT_OUTPUT, "y", y);
  ir_add_output(g, IR_OUT_LOSS, "loss", l);
  ir_add_output(g, IR_OUT_OUTPUT, "again", y);
  PassCtx cx = ctx();
  CU_ASSERT_EQUAL(g->nnodes, 7);
  CU_ASSERT_TRUE(pass_dce(&g, &cx));
  CU_ASSERT_EQUAL(g->nnodes, 5);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_INPUT), 2);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_EXP), 0);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_TANH), 0);
  CU_ASSERT_EQUAL_FATAL(g->nouts, 3);
  CU_ASSERT_STRING_EQUAL(g->outs[0].name, "y");
  CU_ASSERT_EQUAL(g->outs[0].kind, IR_OUT_OUTPUT);
  CU_ASSERT_EQUAL(ir_node(g, g->outs[0].ref)->op, IR_OP_MUL);
  CU_ASSERT_EQUAL(g->outs[1].kind, IR_OUT_LOSS);
  CU_ASSERT_EQUAL(ir_node(g, g->outs[1].ref)->op, IR_OP_SUM);
  CU_ASSERT_EQUAL(g->outs[2].ref, g->outs[0].ref);
  CU_ASSERT_STRING_EQUAL(ir_node(g, ir_find_param(g, "w"))->name, "w");
  CU_ASSERT_TRUE(ir_verify(g, &diag));
  ir_graph_free(g);
}

/* ---- cse -------------------------------------------------------------------------- */

static void test_passes_cse_merges_identical_nodes(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(3)), y = in(g, "y", SHAPE(3));
  IrRef a1 = bin(g, IR_OP_ADD, x, y), a2 = bin(g, IR_OP_ADD, y, x);   /* commutative */
  IrRef e1 = un(g, IR_OP_EXP, a1), e2 = un(g, IR_OP_EXP, a2);           /* merge after a */
  IrRef s1 = bin(g, IR_OP_SUB, x, y), s2 = bin(g, IR_OP_SUB, y, x);   /* not commutative */
  IrRef c1 = cst(g, 2), c2 = cst(g, 2), z1 = cst(g, 0), z2 = cst(g, -0.0);
  IrRef m1 = bin(g, IR_OP_MUL, e1, c1), m2 = bin(g, IR_OP_MUL, e2, c2);
  IrRef n1 = bin(g, IR_OP_ADD, s1, z1), n2 = bin(g, IR_OP_ADD, s2, z2);
  ir_add_output(g, IR_OUT_OUTPUT, "m1", m1);
  ir_add_output(g, IR_OUT_OUTPUT, "m2", m2);
  ir_add_output(g, IR_OUT_OUTPUT, "n1", n1);
  ir_add_output(g, IR_OUT_OUTPUT, "n2", n2);
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(&g, "cse", &cx));
  CU_ASSERT_EQUAL(count_op(g, IR_OP_INPUT), 2);   /* same type, never merged */
  CU_ASSERT_EQUAL(count_op(g, IR_OP_EXP), 1);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_SUB), 2);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_CONST), 3);   /* 2, 0 and -0 */
  CU_ASSERT_EQUAL(count_op(g, IR_OP_ADD), 3);
  CU_ASSERT_EQUAL(g->outs[0].ref, g->outs[1].ref);
  CU_ASSERT_NOT_EQUAL(g->outs[2].ref, g->outs[3].ref);
  CU_ASSERT_STRING_EQUAL(g->outs[3].name, "n2");
  ir_graph_free(g);
}

static void test_passes_cse_respects_attributes(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(2, 3));
  IrRef r1 = ir_reduce(g, IR_OP_SUM, x, 1, false, noloc);
  IrRef r2 = ir_reduce(g, IR_OP_SUM, x, 1, true, noloc);
  IrRef r3 = ir_reduce(g, IR_OP_SUM, x, 1, false, noloc);
  IrShape s6 = SHAPE(6), s32 = SHAPE(3, 2);
  IrRef f1 = ir_reshape(g, x, &s6, noloc), f2 = ir_reshape(g, x, &s32, noloc);
  ir_add_output(g, IR_OUT_OUTPUT, "r1", r1);
  ir_add_output(g, IR_OUT_OUTPUT, "r2", r2);
  ir_add_output(g, IR_OUT_OUTPUT, "r3", r3);
  ir_add_output(g, IR_OUT_OUTPUT, "f1", f1);
  ir_add_output(g, IR_OUT_OUTPUT, "f2", f2);
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_cse(&g, &cx));
  CU_ASSERT_EQUAL(count_op(g, IR_OP_SUM), 2);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_RESHAPE), 2);
  CU_ASSERT_EQUAL(g->outs[0].ref, g->outs[2].ref);
  ir_graph_free(g);
}

/* ---- simplify ----------------------------------------------------------------------- */

/* Builds out = op-chain on x, runs simplify,dce and returns the output node. */
static const IrNode *simplified_output(IrGraph **g, uint32_t *nnodes) {
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(g, "simplify,dce", &cx));
  *nnodes = (*g)->nnodes;
  return ir_node(*g, (*g)->outs[0].ref);
}

static void test_passes_simplify_identities(void) {
  static const struct {
    IrOp op;
    double c;
    bool const_first, folds;
  } cases[] = {
      {IR_OP_ADD, 0, false, true},  {IR_OP_ADD, 0, true, true},  {IR_OP_SUB, 0, false, true},
      {IR_OP_MUL, 1, false, true},  {IR_OP_MUL, 1, true, true},  {IR_OP_DIV, 1, false, true},
      {IR_OP_ADD, 1, false, false}, {IR_OP_SUB, 0, true, false}, {IR_OP_DIV, 2, false, false},
      {IR_OP_MUL, 2, true, false},  {IR_OP_DIV, 1, true, false},
  };
  for (size_t i = 0; i < MC_COUNTOF(cases); i++) {
    IrGraph *g = new_graph();
    IrRef x = in(g, "x", SHAPE(3)), c = cst(g, cases[i].c);
    IrRef y = cases[i].const_first ? bin(g, cases[i].op, c, x) : bin(g, cases[i].op, x, c);
    ir_add_output(g, IR_OUT_OUTPUT, "y", y);
    uint32_t n;
    const IrNode *o = simplified_output(&g, &n);
    CU_ASSERT_EQUAL(o->op == IR_OP_INPUT, cases[i].folds);
    CU_ASSERT_EQUAL(n, cases[i].folds ? 1u : 3u);
    ir_graph_free(g);
  }
}

static void test_passes_simplify_mul_zero_and_broadcast(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(2, 3));
  IrShape s3 = SHAPE(3);
  IrRef zeros = ir_expand(g, cst(g, 0), &s3, noloc);
  ir_add_output(g, IR_OUT_OUTPUT, "zero", bin(g, IR_OP_MUL, x, zeros));
  IrRef ones = in(g, "v", SHAPE(3));
  ir_add_output(g, IR_OUT_OUTPUT, "bcast", bin(g, IR_OP_ADD, ones, cst(g, 0)));
  IrShape s23 = SHAPE(2, 3);
  IrRef z23 = ir_expand(g, cst(g, 0), &s23, noloc);
  ir_add_output(g, IR_OUT_OUTPUT, "grow", bin(g, IR_OP_ADD, ones, z23));
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(&g, "simplify,cse,dce", &cx));
  const IrNode *zero = ir_node(g, g->outs[0].ref);
  CU_ASSERT_EQUAL(zero->op, IR_OP_EXPAND);
  CU_ASSERT_EQUAL(zero->shape.rank, 2);
  CU_ASSERT_EQUAL(ir_node(g, zero->src[0])->op, IR_OP_CONST);
  CU_ASSERT_EQUAL(ir_node(g, zero->src[0])->attr.value, 0.0);
  CU_ASSERT_EQUAL(ir_node(g, g->outs[1].ref)->op, IR_OP_INPUT);
  const IrNode *grow = ir_node(g, g->outs[2].ref);
  CU_ASSERT_EQUAL(grow->op, IR_OP_EXPAND);
  CU_ASSERT_EQUAL(ir_node(g, grow->src[0])->op, IR_OP_INPUT);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_ADD) + count_op(g, IR_OP_MUL), 0);
  ir_graph_free(g);
}

static void test_passes_simplify_constant_folding(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(3));
  IrRef five = bin(g, IR_OP_ADD, cst(g, 2), cst(g, 3));
  IrRef e = un(g, IR_OP_EXP, cst(g, 1));
  IrShape s3 = SHAPE(3);
  IrRef twos = bin(g, IR_OP_MUL, ir_expand(g, cst(g, 1), &s3, noloc), cst(g, 2));
  IrRef lt = ir_cast(g, bin(g, IR_OP_LT, cst(g, 1), cst(g, 2)), IR_F32, noloc);
  ir_add_output(g, IR_OUT_OUTPUT, "five", five);
  ir_add_output(g, IR_OUT_OUTPUT, "e", e);
  ir_add_output(g, IR_OUT_OUTPUT, "twos", twos);
  ir_add_output(g, IR_OUT_OUTPUT, "lt", lt);
  ir_add_output(g, IR_OUT_OUTPUT, "kept", bin(g, IR_OP_MUL, x, cst(g, 2)));
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(&g, "simplify,dce", &cx));
  const IrNode *f = ir_node(g, g->outs[0].ref);
  CU_ASSERT_EQUAL(f->op, IR_OP_CONST);
  CU_ASSERT_EQUAL(f->attr.value, 5.0);
  CU_ASSERT_EQUAL(ir_node(g, g->outs[1].ref)->attr.value, (double)(float)2.718281828459045);
  const IrNode *t = ir_node(g, g->outs[2].ref);
  CU_ASSERT_EQUAL(t->op, IR_OP_EXPAND);
  CU_ASSERT_EQUAL(ir_node(g, t->src[0])->attr.value, 2.0);
  CU_ASSERT_EQUAL(ir_node(g, g->outs[3].ref)->attr.value, 1.0);
  CU_ASSERT_EQUAL(ir_node(g, g->outs[4].ref)->op, IR_OP_MUL);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_ADD) + count_op(g, IR_OP_EXP) + count_op(g, IR_OP_LT), 0);
  ir_graph_free(g);
}

static void test_passes_simplify_movement_chains(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(2, 3, 4));
  IrRef nn = un(g, IR_OP_NEG, un(g, IR_OP_NEG, x));
  IrShape s64 = SHAPE(6, 4), s24 = SHAPE(24), s234 = SHAPE(2, 3, 4);
  IrRef rr = ir_reshape(g, ir_reshape(g, x, &s64, noloc), &s24, noloc);
  IrRef back = ir_reshape(g, ir_reshape(g, x, &s64, noloc), &s234, noloc);
  IrRef p1 = ir_permute(g, x, (const uint8_t[]){1, 2, 0}, noloc);
  IrRef pid = ir_permute(g, p1, (const uint8_t[]){2, 0, 1}, noloc);
  IrRef pc = ir_permute(g, p1, (const uint8_t[]){1, 0, 2}, noloc);
  IrRef ex = ir_expand(g, x, &s234, noloc);
  IrRef cs = ir_cast(g, x, IR_F32, noloc);
  IrRef outs[] = {nn, rr, back, pid, pc, ex, cs};
  static const char *names[] = {"nn", "rr", "back", "pid", "pc", "ex", "cs"};
  for (size_t i = 0; i < MC_COUNTOF(outs); i++) ir_add_output(g, IR_OUT_OUTPUT, names[i], outs[i]);
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(&g, "simplify,dce", &cx));
  IrRef xin = ir_find_input(g, "x");
  CU_ASSERT_EQUAL(g->outs[0].ref, xin);
  const IrNode *r = ir_node(g, g->outs[1].ref);
  CU_ASSERT_EQUAL(r->op, IR_OP_RESHAPE);
  CU_ASSERT_EQUAL(r->src[0], xin);
  CU_ASSERT_EQUAL(g->outs[2].ref, xin);
  CU_ASSERT_EQUAL(g->outs[3].ref, xin);
  const IrNode *p = ir_node(g, g->outs[4].ref);
  CU_ASSERT_EQUAL(p->op, IR_OP_PERMUTE);
  CU_ASSERT_EQUAL(p->src[0], xin);
  /* p1 = [1,2,0], then [1,0,2]: result axes are x axes 2,1,0 */
  CU_ASSERT_EQUAL(p->attr.perm[0], 2);
  CU_ASSERT_EQUAL(p->attr.perm[1], 1);
  CU_ASSERT_EQUAL(p->attr.perm[2], 0);
  CU_ASSERT_EQUAL(g->outs[5].ref, xin);
  CU_ASSERT_EQUAL(g->outs[6].ref, xin);
  CU_ASSERT_EQUAL(g->nnodes, 3);   /* x, one reshape, one permute */
  ir_graph_free(g);
}

static void test_passes_simplify_keeps_locs_and_names(void) {
  IrGraph *g = new_graph();
  IrShape s = SHAPE(2);
  IrRef p = ir_param(g, "layer.w", IR_F32, &s, (IrInit){IR_INIT_ONES, 0, 0, false},
                     (McLoc){1, 4, 7, 3});
  IrRef t = ir_unary(g, IR_OP_TANH, p, (McLoc){1, 5, 2, 4});
  ir_add_output(g, IR_OUT_OUTPUT, "out", t);
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(&g, "simplify,cse,dce", &cx));
  const IrNode *n = ir_node(g, g->outs[0].ref);
  CU_ASSERT_EQUAL(n->loc.line, 5);
  CU_ASSERT_EQUAL(n->loc.col, 2);
  CU_ASSERT_STRING_EQUAL(ir_node(g, n->src[0])->name, "layer.w");
  CU_ASSERT_EQUAL(ir_node(g, n->src[0])->attr.init.kind, IR_INIT_ONES);
  CU_ASSERT_EQUAL(ir_node(g, n->src[0])->loc.line, 4);
  CU_ASSERT_STRING_EQUAL(g->outs[0].name, "out");
  ir_graph_free(g);
}

static void assert_values(const double *got, const double *want, int n);

/* Evaluates g (f64) with the given bindings (params or inputs, by name)
   and returns a copy of output `name` of the given kind. */
static double *value_of(const IrGraph *g, IrOutKind kind, const char *name,
                        const char **bind_names, const double *const *bind_vals, int nbind) {
  IrEval *e = ir_eval_new(g, true);
  for (int i = 0; i < nbind; i++) {
    IrRef r = ir_find_param(g, bind_names[i]);
    if (r == IR_NONE) r = ir_find_input(g, bind_names[i]);
    int64_t n = ir_shape_numel(&ir_node(g, r)->shape);
    CU_ASSERT_TRUE(ir_eval_bind(e, bind_names[i], bind_vals[i], n, &diag));
  }
  CU_ASSERT_TRUE_FATAL(ir_eval_run(e, &diag));
  const IrTensor *t = ir_eval_output(e, kind, name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  double *copy = mc_xmalloc((size_t)t->numel * sizeof *copy);
  memcpy(copy, t->data, (size_t)t->numel * sizeof *copy);
  ir_eval_free(e);
  return copy;
}

/* g's first output with inputs x and dy bound. */
static double *output0_of(const IrGraph *g, const double *x, const double *dy) {
  const char *names[] = {"x", "dy"};
  const double *vals[] = {x, dy};
  return value_of(g, IR_OUT_OUTPUT, g->outs[0].name, names, vals, 2);
}

static double *grad_of(const IrGraph *g, const char *name, const char **bind_names,
                       const double *const *bind_vals, int nbind) {
  return value_of(g, IR_OUT_GRAD, name, bind_names, bind_vals, nbind);
}

/* sum over the batch of X_b^T dY_b -> one 2-D product over (batch, t), with
   the same values. */
static void test_passes_simplify_merges_batch_sum(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(2, 3, 4)), dy = in(g, "dy", SHAPE(2, 3, 5));
  IrRef xt = ir_permute(g, x, (const uint8_t[]){0, 2, 1}, noloc);
  IrRef s = ir_reduce(g, IR_OP_SUM, ir_matmul(g, xt, dy, noloc), 1u, false, noloc);
  ir_add_output(g, IR_OUT_OUTPUT, "dw", s);
  double xv[24], dyv[30];
  for (int i = 0; i < 24; i++) xv[i] = 0.25 * (i % 7) - 0.5;
  for (int i = 0; i < 30; i++) dyv[i] = 0.125 * (i % 5) + 0.1 * (i / 10);
  double *before = output0_of(g, xv, dyv);
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(&g, "simplify,dce", &cx));
  const IrNode *mm = ir_node(g, g->outs[0].ref);
  CU_ASSERT_EQUAL(mm->op, IR_OP_MATMUL);
  CU_ASSERT_EQUAL(mm->shape.rank, 2);
  CU_ASSERT_EQUAL(ir_node(g, mm->src[0])->op, IR_OP_PERMUTE);
  CU_ASSERT_EQUAL(ir_node(g, mm->src[0])->shape.d[1].n, 6);
  CU_ASSERT_EQUAL(ir_node(g, mm->src[1])->op, IR_OP_RESHAPE);
  double *after = output0_of(g, xv, dyv);
  assert_values(after, before, 20);
  free(before);
  free(after);
  ir_graph_free(g);
}

/* zero pads side by side summed -> one concat (padded where they leave
   zeros), with the same values. */
static void test_passes_simplify_joins_pads(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(2, 3)), dy = in(g, "dy", SHAPE(2, 4));
  IrRef px = ir_pad(g, x, (const int64_t[]){0, 1}, (const int64_t[]){0, 6}, noloc);
  IrRef pd = ir_pad(g, dy, (const int64_t[]){0, 4}, (const int64_t[]){0, 2}, noloc);
  ir_add_output(g, IR_OUT_OUTPUT, "joined", ir_binary(g, IR_OP_ADD, pd, px, noloc));
  double xv[6], dyv[8];
  for (int i = 0; i < 6; i++) xv[i] = 1.5 + i;
  for (int i = 0; i < 8; i++) dyv[i] = -0.25 * i;
  double *before = output0_of(g, xv, dyv);
  PassCtx cx = ctx();
  CU_ASSERT_TRUE(pass_run_pipeline(&g, "simplify,dce", &cx));
  const IrNode *p = ir_node(g, g->outs[0].ref);
  CU_ASSERT_EQUAL(p->op, IR_OP_PAD);
  CU_ASSERT_EQUAL(ir_node(g, p->src[0])->op, IR_OP_CONCAT);
  double *after = output0_of(g, xv, dyv);
  assert_values(after, before, 20);
  free(before);
  free(after);
  ir_graph_free(g);
}

/* 2x2 max pooling as unfold + max -> max over the image reshaped: no
   unfold left, the same pooled values, and (autodiff after simplify, as in
   every pipeline) the same gradient as the unfold form's, ties included. */
static IrGraph *pool_graph(void) {
  IrGraph *g = new_graph();
  IrRef x = par(g, "x", SHAPE(2, 3, 4, 6)), w = in(g, "w", SHAPE(2, 3, 2, 3));
  IrRef u = ir_unfold(g, x, 2, (const int64_t[]){2, 2}, (const int64_t[]){2, 2},
                      (const int64_t[]){1, 1}, noloc);
  IrRef y = ir_reduce(g, IR_OP_MAX, u, 3u << 2, false, noloc);
  ir_add_output(g, IR_OUT_OUTPUT, "y", y);
  ir_add_output(g, IR_OUT_LOSS, "loss", sum_all(g, bin(g, IR_OP_MUL, y, w)));
  return g;
}

static void test_passes_simplify_reduces_pool_tiles(void) {
  double xv[144], wv[36];
  for (int i = 0; i < 144; i++) xv[i] = (double)((i * 37) % 11) - 5; /* with ties */
  for (int i = 0; i < 36; i++) wv[i] = 0.5 + 0.25 * i;
  const char *names[] = {"x", "w"};
  const double *vals[] = {xv, wv};
  IrGraph *g = pool_graph(), *h = pool_graph();
  PassCtx cx = ctx();
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&g, "autodiff", &cx));
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&h, "simplify,dce,autodiff,simplify,dce", &cx));
  CU_ASSERT_EQUAL(count_op(g, IR_OP_UNFOLD), 1);
  CU_ASSERT_EQUAL(count_op(h, IR_OP_UNFOLD), 0);
  CU_ASSERT_EQUAL(count_op(h, IR_OP_FOLD), 0);
  double *y0 = value_of(g, IR_OUT_OUTPUT, "y", names, vals, 2);
  double *y1 = value_of(h, IR_OUT_OUTPUT, "y", names, vals, 2);
  double *g0 = grad_of(g, "x", names, vals, 2), *g1 = grad_of(h, "x", names, vals, 2);
  assert_values(y1, y0, 36);
  assert_values(g1, g0, 144);
  free(y0);
  free(y1);
  free(g0);
  free(g1);
  ir_graph_free(g);
  ir_graph_free(h);
}

/* A stride-1 convolution of param x [2,3,5,6] (padded by pad, taps
   dilated by dil) with param w [4,3,3,2], its result weighted by input r
   in the loss. */
static IrGraph *conv_graph(int64_t pad, int64_t dil, int64_t sy, int64_t sx) {
  IrGraph *g = new_graph();
  IrRef x = par(g, "x", SHAPE(2, 3, 5, 6)), w = par(g, "w", SHAPE(4, 3, 3, 2));
  IrRef p = ir_pad(g, x, (const int64_t[]){0, 0, pad, pad}, (const int64_t[]){0, 0, pad, pad},
                   noloc);
  IrRef u = ir_unfold(g, p, 2, (const int64_t[]){3, 2}, (const int64_t[]){sy, sx},
                      (const int64_t[]){dil, dil}, noloc);
  const IrShape *us = &ir_node(g, u)->shape;
  int64_t oh = us->d[4].n, ow = us->d[5].n;
  IrShape cols = SHAPE(2, 18, oh * ow), wm = SHAPE(4, 18), img = SHAPE(2, 4, oh, ow);
  IrRef y = ir_matmul(g, ir_reshape(g, w, &wm, noloc), ir_reshape(g, u, &cols, noloc), noloc);
  IrRef r = in(g, "r", img);
  ir_add_output(g, IR_OUT_LOSS, "loss",
                sum_all(g, bin(g, IR_OP_MUL, ir_reshape(g, y, &img, noloc), r)));
  return g;
}

/* The input gradient of a convolution: a fold of every window after
   autodiff; simplify makes it a convolution of the padded output gradient
   with the filters flipped (no fold left), the same values. With stride 2
   (on either axis or both; the 5 x 6 image padded by 0, 1 or 2, so that
   the windows do or do not reach its last row) one convolution per
   phase: two unfolds per phase of each strided axis, one for the forward
   product. Cases: pad, dilation, stride along rows and columns. */
static void test_passes_simplify_conv_input_grad(void) {
  static const int64_t cases[][4] = {{1, 1, 1, 1}, {0, 1, 1, 1}, {2, 1, 1, 1}, {1, 2, 1, 1},
                                     {0, 2, 1, 1}, {1, 1, 2, 2}, {0, 1, 2, 2}, {2, 1, 2, 1},
                                     {1, 1, 1, 2}, {0, 1, 2, 1}};
  double xv[180], wv[72], rv[2 * 4 * 9 * 10];
  for (int i = 0; i < 180; i++) xv[i] = 0.125 * ((i * 37) % 13) - 0.75;
  for (int i = 0; i < 72; i++) wv[i] = 0.25 * ((i * 11) % 9) - 1;
  for (int i = 0; i < 720; i++) rv[i] = 0.5 * ((i * 7) % 5) - 0.875;
  const char *names[] = {"x", "w", "r"};
  const double *vals[] = {xv, wv, rv};
  for (size_t c = 0; c < MC_COUNTOF(cases); c++) {
    const int64_t *k = cases[c];
    IrGraph *g = conv_graph(k[0], k[1], k[2], k[3]), *h = conv_graph(k[0], k[1], k[2], k[3]);
    PassCtx cx = ctx();
    CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&g, "autodiff,dce", &cx));
    CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&h, "autodiff,simplify,dce", &cx));
    CU_ASSERT_EQUAL(count_op(g, IR_OP_FOLD), 1);
    CU_ASSERT_EQUAL(count_op(h, IR_OP_FOLD), 0);
    CU_ASSERT_EQUAL(count_op(h, IR_OP_UNFOLD), 1 + k[2] * k[3]);
    double *g0 = grad_of(g, "x", names, vals, 3), *g1 = grad_of(h, "x", names, vals, 3);
    assert_values(g1, g0, 180);
    free(g0);
    free(g1);
    ir_graph_free(g);
    ir_graph_free(h);
  }
}

/* ---- autodiff ---------------------------------------------------------------------- */

static void assert_values(const double *got, const double *want, int n) {
  for (int i = 0; i < n; i++) CU_ASSERT_DOUBLE_EQUAL(got[i], want[i], 1e-12);
}

static void test_passes_autodiff_broadcasting(void) {
  IrGraph *g = new_graph();
  IrRef a = par(g, "a", SHAPE(2, 3)), b = par(g, "b", SHAPE(3));
  ir_add_output(g, IR_OUT_LOSS, "loss", sum_all(g, bin(g, IR_OP_MUL, a, b)));
  PassCtx cx = ctx();
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&g, "autodiff,simplify,cse,dce", &cx));
  CU_ASSERT_EQUAL_FATAL(g->nouts, 3);
  CU_ASSERT_EQUAL(g->outs[0].kind, IR_OUT_LOSS);
  CU_ASSERT_EQUAL(g->outs[1].kind, IR_OUT_GRAD);
  CU_ASSERT_STRING_EQUAL(g->outs[1].name, "a");
  CU_ASSERT_STRING_EQUAL(g->outs[2].name, "b");
  const char *names[] = {"a", "b"};
  const double av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20, 30};
  const double *vals[] = {av, bv};
  double *ga = grad_of(g, "a", names, vals, 2), *gb = grad_of(g, "b", names, vals, 2);
  assert_values(ga, (const double[]){10, 20, 30, 10, 20, 30}, 6);
  assert_values(gb, (const double[]){5, 7, 9}, 3);
  free(ga);
  free(gb);
  ir_graph_free(g);
}

/* loss = sum(x*x + x) + 0*unused: fan-out of x three ways, and a param the
   loss does not depend on gets zeros. */
static void test_passes_autodiff_fan_out_and_unused_param(void) {
  IrGraph *g = new_graph();
  IrRef x = par(g, "x", SHAPE(3));
  par(g, "unused", SHAPE(2));
  IrRef y = bin(g, IR_OP_ADD, bin(g, IR_OP_MUL, x, x), x);
  ir_add_output(g, IR_OUT_OUTPUT, "y", y);
  ir_add_output(g, IR_OUT_LOSS, "loss", sum_all(g, y));
  PassCtx cx = ctx();
  CU_ASSERT_TRUE_FATAL(pass_autodiff(&g, &cx));
  CU_ASSERT_TRUE(ir_verify(g, &diag));
  CU_ASSERT_EQUAL_FATAL(g->nouts, 4);
  CU_ASSERT_EQUAL(g->outs[0].kind, IR_OUT_OUTPUT);
  CU_ASSERT_STRING_EQUAL(g->outs[3].name, "unused");
  const IrNode *z = ir_node(g, g->outs[3].ref);
  CU_ASSERT_EQUAL(z->op, IR_OP_EXPAND);
  CU_ASSERT_EQUAL(ir_node(g, z->src[0])->attr.value, 0.0);
  const char *names[] = {"x", "unused"};
  const double xv[] = {1, -2, 0.5}, uv[] = {7, 8};
  const double *vals[] = {xv, uv};
  double *gx = grad_of(g, "x", names, vals, 2), *gu = grad_of(g, "unused", names, vals, 2);
  assert_values(gx, (const double[]){3, -3, 2}, 3);
  assert_values(gu, (const double[]){0, 0}, 2);
  free(gx);
  free(gu);
  ir_graph_free(g);
}

/* relu's gradient reads its mask off relu's result, so nothing in the
   gradient reads the pre-activation (training need not keep it). */
static void test_passes_autodiff_relu_reads_its_result(void) {
  IrGraph *g = new_graph();
  IrRef x = par(g, "x", SHAPE(4));
  IrRef h = bin(g, IR_OP_MUL, x, x);
  IrRef r = ir_unary(g, IR_OP_RELU, h, noloc);
  ir_add_output(g, IR_OUT_LOSS, "loss", sum_all(g, r));
  uint32_t forward = g->nnodes;
  PassCtx cx = ctx();
  CU_ASSERT_TRUE_FATAL(pass_autodiff(&g, &cx));
  int masks = 0;
  for (uint32_t i = forward; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    for (int k = 0; k < n->nsrc; k++)
      CU_ASSERT_NOT_EQUAL(n->src[k], h);
    if (n->op == IR_OP_GT) {
      masks++;
      CU_ASSERT_EQUAL(n->src[0], r);
    }
  }
  CU_ASSERT_EQUAL(masks, 1);
  ir_graph_free(g);
}

/* Max ties share dy; relu'(0) = 0; maximum ties go to the first operand. */
static void test_passes_autodiff_kink_conventions(void) {
  IrGraph *g = new_graph();
  IrRef x = par(g, "x", SHAPE(4)), y = par(g, "y", SHAPE(4));
  IrRef m = ir_reduce(g, IR_OP_MAX, x, 1, false, noloc);
  IrRef r = sum_all(g, un(g, IR_OP_RELU, x));
  IrRef mx = sum_all(g, bin(g, IR_OP_MAXIMUM, x, y));
  ir_add_output(g, IR_OUT_LOSS, "loss", bin(g, IR_OP_ADD, bin(g, IR_OP_ADD, m, r), mx));
  PassCtx cx = ctx();
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&g, "autodiff", &cx));
  const char *names[] = {"x", "y"};
  const double xv[] = {3, 0, 3, -1}, yv[] = {3, 1, 2, 5};
  const double *vals[] = {xv, yv};
  double *gx = grad_of(g, "x", names, vals, 2), *gy = grad_of(g, "y", names, vals, 2);
  /* max: 0.5 to each 3; relu: 1 where x > 0; maximum: x wins at 3 >= 3 and 3 > 2 */
  assert_values(gx, (const double[]){0.5 + 1 + 1, 0, 0.5 + 1 + 1, 0}, 4);
  assert_values(gy, (const double[]){0, 1, 0, 1}, 4);
  free(gx);
  free(gy);
  ir_graph_free(g);
}

/* Integer inputs never get gradients; float inputs do with grad_inputs. */
static void test_passes_autodiff_inputs(void) {
  IrGraph *g = new_graph();
  IrShape s2 = SHAPE(2);
  IrRef x = in(g, "x", SHAPE(3));
  IrRef idx = ir_input(g, "idx", IR_I32, &s2, noloc);
  IrRef w = par(g, "w", SHAPE(3));
  IrRef rows = ir_gather(g, bin(g, IR_OP_MUL, x, w), idx, noloc);
  ir_add_output(g, IR_OUT_LOSS, "loss", sum_all(g, rows));
  PassCtx cx = ctx();
  cx.grad_inputs = true;
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&g, "autodiff,simplify,cse,dce", &cx));
  CU_ASSERT_EQUAL_FATAL(g->nouts, 3);
  CU_ASSERT_STRING_EQUAL(g->outs[1].name, "w");
  CU_ASSERT_STRING_EQUAL(g->outs[2].name, "x");
  CU_ASSERT_PTR_NULL(ir_find_output(g, IR_OUT_GRAD, "idx"));
  const char *names[] = {"x", "idx", "w"};
  const double xv[] = {1, 2, 3}, iv[] = {2, 2}, wv[] = {4, 5, 6};
  const double *vals[] = {xv, iv, wv};
  double *gw = grad_of(g, "w", names, vals, 3), *gx = grad_of(g, "x", names, vals, 3);
  assert_values(gw, (const double[]){0, 0, 6}, 3);
  assert_values(gx, (const double[]){0, 0, 12}, 3);
  free(gw);
  free(gx);
  ir_graph_free(g);
}

static void test_passes_autodiff_needs_a_loss(void) {
  IrGraph *g = new_graph();
  IrRef x = par(g, "x", SHAPE(3));
  ir_add_output(g, IR_OUT_OUTPUT, "y", un(g, IR_OP_EXP, x));
  IrGraph *before = g;
  PassCtx cx = ctx();
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "autodiff", &cx));
  CU_ASSERT_TRUE(has_text(diag.buf.s,
                          "modelc: error: autodiff: the model has no loss (add `minimize EXPR`)"));
  CU_ASSERT_PTR_EQUAL(g, before);
  ir_graph_free(g);
}

/* Only gradient code on a path from a param to the loss is built. */
static void test_passes_autodiff_builds_no_dead_code(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", SHAPE(3)), w = par(g, "w", SHAPE(3));
  IrRef side = un(g, IR_OP_TANH, un(g, IR_OP_EXP, x));   /* no param: no gradient */
  IrRef y = bin(g, IR_OP_MUL, side, w);
  ir_add_output(g, IR_OUT_OUTPUT, "other", un(g, IR_OP_SIGMOID, w));
  ir_add_output(g, IR_OUT_LOSS, "loss", sum_all(g, y));
  uint32_t before = g->nnodes;
  PassCtx cx = ctx();
  CU_ASSERT_TRUE_FATAL(pass_autodiff(&g, &cx));
  /* seed const + expand, sum's reshape? (rank 0 -> keepdims) + expand, mul by side */
  uint32_t added = g->nnodes - before;
  char *text = print_graph(g);
  CU_ASSERT_TRUE(added <= 5);
  if (added > 5) fprintf(stderr, "\n%s", text);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_TANH), 1);
  CU_ASSERT_EQUAL(count_op(g, IR_OP_SIGMOID), 1);
  CU_ASSERT_FALSE(has_text(text, "sub"));
  free(text);
  ir_graph_free(g);
}

int main(void) {
  static const TestCase cases[] = {
      {"table_lookup", test_passes_table_lookup},
      {"unknown_pass_suggests_and_runs_nothing",
       test_passes_unknown_pass_suggests_and_runs_nothing},
      {"unknown_pass_lists_passes", test_passes_unknown_pass_lists_passes},
      {"empty_pipeline_and_spaces", test_passes_empty_pipeline_and_spaces},
      {"print_after", test_passes_print_after},
      {"verify_each_names_the_pass", test_passes_verify_each_names_the_pass},
      {"dce_keeps_live_nodes_and_signature", test_passes_dce_keeps_live_nodes_and_signature},
      {"cse_merges_identical_nodes", test_passes_cse_merges_identical_nodes},
      {"cse_respects_attributes", test_passes_cse_respects_attributes},
      {"simplify_identities", test_passes_simplify_identities},
      {"simplify_mul_zero_and_broadcast", test_passes_simplify_mul_zero_and_broadcast},
      {"simplify_constant_folding", test_passes_simplify_constant_folding},
      {"simplify_movement_chains", test_passes_simplify_movement_chains},
      {"simplify_keeps_locs_and_names", test_passes_simplify_keeps_locs_and_names},
      {"simplify_merges_batch_sum", test_passes_simplify_merges_batch_sum},
      {"simplify_joins_pads", test_passes_simplify_joins_pads},
      {"simplify_reduces_pool_tiles", test_passes_simplify_reduces_pool_tiles},
      {"simplify_conv_input_grad", test_passes_simplify_conv_input_grad},
      {"autodiff_broadcasting", test_passes_autodiff_broadcasting},
      {"autodiff_fan_out_and_unused_param", test_passes_autodiff_fan_out_and_unused_param},
      {"autodiff_kink_conventions", test_passes_autodiff_kink_conventions},
      {"autodiff_relu_reads_its_result", test_passes_autodiff_relu_reads_its_result},
      {"autodiff_inputs", test_passes_autodiff_inputs},
      {"autodiff_needs_a_loss", test_passes_autodiff_needs_a_loss},
      {"autodiff_builds_no_dead_code", test_passes_autodiff_builds_no_dead_code},
  };
  mc_diag_init(&diag, NULL, NULL);
  int rc = test_main("passes", cases, MC_COUNTOF(cases));
  mc_diag_fini(&diag);
  return rc;
}
