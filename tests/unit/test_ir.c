/* test_ir.c -- the IR core: op table, dims and rebinding, every shape rule
   with every error message, sum_to, clone/copy, the verifier on hand-broken
   graphs, the text format (round trip, parser errors, mutated input), DOT
   output, and the ```mir examples of docs/ir.md. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------------ */

static McDiag diag;
static const McLoc L0 = {0};

static IrGraph *new_graph(void) {
  mc_diag_init(&diag, NULL, NULL);
  diag.max_errors = 0;
  IrGraph *g = ir_graph_new("t", &diag);
  ir_graph_add_sym(g, "B", 64);
  ir_graph_add_sym(g, "T", 10);
  return g;
}

static void end_graph(IrGraph *g) {
  ir_graph_free(g);
  mc_diag_fini(&diag);
}

static void clear_diag(void) {
  diag.buf.len = 0;
  diag.buf.s[0] = 0;
  diag.nerrors = 0;
}

/* The diagnostics since the last check must be exactly `want`. */
static void check_diag(const char *want, int line) {
  if (strcmp(diag.buf.s, want) != 0)
    fprintf(stderr, "\n  line %d: diagnostics\n    got:  %s    want: %s", line, diag.buf.s, want);
  CU_ASSERT_STRING_EQUAL(diag.buf.s, want);
  clear_diag();
}

/* One error without a location. */
#define EXPECT_ERR(msg) check_diag("modelc: error: " msg "\n", __LINE__)
#define EXPECT_NO_DIAG() check_diag("", __LINE__)

/* "B,10" / "2*B,T" / "" -> a shape over g's dims. */
static IrShape sh(IrGraph *g, const char *spec) {
  IrShape s = {0};
  const char *p = spec;
  while (*p) {
    IrDim d = ir_dim_const(1);
    for (;;) {
      IrDim f;
      if (isdigit((unsigned char)*p) || *p == '-') {
        char *end;
        f = ir_dim_const(strtoll(p, &end, 10));
        p = end;
      } else {
        char name[16];
        int n = 0;
        while (isalpha((unsigned char)*p)) name[n++] = *p++;
        name[n] = 0;
        f = ir_dim_sym(g, ir_graph_find_sym(g, name));
      }
      d = ir_dim_mul(g, d, f);
      if (*p != '*') break;
      p++;
    }
    s.d[s.rank++] = d;
    if (*p == ',') p++;
  }
  return s;
}

static IrRef in(IrGraph *g, const char *name, IrDtype t, const char *spec) {
  IrShape s = sh(g, spec);
  return ir_input(g, name, t, &s, L0);
}

static const char *ty(IrGraph *g, IrRef r) {
  if (r == IR_NONE) return "IR_NONE";
  return ir_type_str(g, (IrDtype)g->nodes[r].dtype, &g->nodes[r].shape);
}

static char *print_graph(const IrGraph *g) {
  McStr s;
  mc_str_init(&s);
  ir_print(&s, g);
  return s.s;
}

/* ---- op table and names ----------------------------------------------------------- */

static void test_ir_ops_table_names_round_trip(void) {
  for (int i = 0; i < IR_OP_COUNT; i++) {
    IrOp op;
    CU_ASSERT_PTR_NOT_NULL_FATAL(ir_ops[i].name);
    CU_ASSERT_TRUE(ir_op_from_name(ir_ops[i].name, &op));
    CU_ASSERT_EQUAL(op, i);
    CU_ASSERT_PTR_NOT_NULL(ir_ops[i].shape);
    CU_ASSERT_PTR_NOT_NULL(ir_ops[i].grad);
  }
  IrOp op;
  CU_ASSERT_FALSE(ir_op_from_name("frobnicate", &op));
  CU_ASSERT_EQUAL(ir_ops[IR_OP_CONCAT].arity, -1);
  CU_ASSERT_EQUAL(ir_ops[IR_OP_WHERE].arity, 3);
  CU_ASSERT_EQUAL(ir_ops[IR_OP_MATMUL].cls, IR_CLASS_CONTRACT);
  CU_ASSERT_TRUE(ir_ops[IR_OP_LT].flags & IR_F_CMP);
  CU_ASSERT_STRING_EQUAL(ir_ops[IR_OP_SCATTER_ADD].name, "scatter_add");
}

static void test_ir_dtype_and_init_names(void) {
  const char *dt[] = {"f32", "f64", "i32", "bool"};
  for (int i = 0; i < IR_DTYPE_COUNT; i++) {
    IrDtype t;
    CU_ASSERT_STRING_EQUAL(ir_dtype_name((IrDtype)i), dt[i]);
    CU_ASSERT_TRUE(ir_dtype_from_name(dt[i], &t));
    CU_ASSERT_EQUAL(t, i);
  }
  IrDtype t;
  CU_ASSERT_FALSE(ir_dtype_from_name("f16", &t));
  CU_ASSERT_TRUE(ir_dtype_is_float(IR_F64));
  CU_ASSERT_FALSE(ir_dtype_is_float(IR_I32));
  const char *in[] = {"none", "zeros", "ones", "constant", "normal", "uniform", "xavier_uniform",
                      "xavier_normal", "kaiming_uniform", "kaiming_normal"};
  CU_ASSERT_EQUAL(MC_COUNTOF(in), IR_INIT_COUNT);
  for (int i = 0; i < IR_INIT_COUNT; i++) {
    IrInitKind k;
    CU_ASSERT_STRING_EQUAL(ir_init_name((IrInitKind)i), in[i]);
    CU_ASSERT_TRUE(ir_init_from_name(in[i], &k));
    CU_ASSERT_EQUAL(k, i);
  }
  IrInitKind k;
  CU_ASSERT_FALSE(ir_init_from_name("glorot", &k));
}

/* ---- dims ---------------------------------------------------------------------------- */

static const char *dim_str(IrGraph *g, IrDim d) {
  IrShape s = {.rank = 1, .d = {d}};
  return ir_type_str(g, IR_F32, &s);
}

static void test_ir_dims_products_and_printing(void) {
  IrGraph *g = new_graph();
  IrDim B = ir_dim_sym(g, 0), T = ir_dim_sym(g, 1), two = ir_dim_const(2);
  IrDim bt = ir_dim_mul(g, B, T);
  CU_ASSERT_EQUAL(bt.n, 640);
  CU_ASSERT_STRING_EQUAL(dim_str(g, bt), "f32[B*T]");
  CU_ASSERT_STRING_EQUAL(dim_str(g, ir_dim_mul(g, T, B)), "f32[B*T]");
  CU_ASSERT_STRING_EQUAL(dim_str(g, ir_dim_mul(g, two, B)), "f32[2*B]");
  CU_ASSERT_STRING_EQUAL(dim_str(g, ir_dim_mul(g, B, two)), "f32[2*B]");
  CU_ASSERT_EQUAL(ir_dim_mul(g, B, two).n, 128);
  CU_ASSERT_STRING_EQUAL(dim_str(g, ir_dim_mul(g, B, B)), "f32[4096]");   /* no squares */
  CU_ASSERT_STRING_EQUAL(dim_str(g, ir_dim_mul(g, ir_dim_const(0), B)), "f32[0]");
  CU_ASSERT_STRING_EQUAL(dim_str(g, ir_dim_mul(g, two, ir_dim_const(3))), "f32[6]");
  IrShape s = sh(g, "B,784");
  CU_ASSERT_STRING_EQUAL(ir_type_str(g, IR_F32, &s), "f32[B,784]");
  IrShape scalar = {0};
  CU_ASSERT_STRING_EQUAL(ir_type_str(g, IR_BOOL, &scalar), "bool[]");
  CU_ASSERT_EQUAL(ir_shape_numel(&s), 64 * 784);
  CU_ASSERT_EQUAL(ir_shape_numel(&scalar), 1);
  IrShape c = sh(g, "64,784");
  CU_ASSERT_TRUE(ir_shape_equal(&s, &c));   /* by values */
  IrShape d = sh(g, "784,64");
  CU_ASSERT_FALSE(ir_shape_equal(&s, &d));
  end_graph(g);
}

static void test_ir_dims_division(void) {
  IrGraph *g = new_graph();
  IrDim B = ir_dim_sym(g, 0), T = ir_dim_sym(g, 1), q;
  IrDim bt = ir_dim_mul(g, B, T), twob = ir_dim_mul(g, ir_dim_const(2), B);
  CU_ASSERT_TRUE(ir_dim_div(g, bt, T, &q));
  CU_ASSERT_STRING_EQUAL(dim_str(g, q), "f32[B]");
  CU_ASSERT_TRUE(ir_dim_div(g, bt, B, &q));
  CU_ASSERT_STRING_EQUAL(dim_str(g, q), "f32[T]");
  CU_ASSERT_TRUE(ir_dim_div(g, twob, ir_dim_const(2), &q));
  CU_ASSERT_STRING_EQUAL(dim_str(g, q), "f32[B]");
  CU_ASSERT_TRUE(ir_dim_div(g, bt, bt, &q));
  CU_ASSERT_STRING_EQUAL(dim_str(g, q), "f32[1]");
  CU_ASSERT_TRUE(ir_dim_div(g, B, ir_dim_const(2), &q));    /* B/2 has no form */
  CU_ASSERT_STRING_EQUAL(dim_str(g, q), "f32[32]");
  CU_ASSERT_TRUE(ir_dim_div(g, twob, ir_dim_const(4), &q));
  CU_ASSERT_STRING_EQUAL(dim_str(g, q), "f32[32]");
  CU_ASSERT_TRUE(ir_dim_div(g, ir_dim_const(12), ir_dim_const(4), &q));
  CU_ASSERT_EQUAL(q.n, 3);
  CU_ASSERT_EQUAL(q.syms, 0);
  CU_ASSERT_FALSE(ir_dim_div(g, ir_dim_const(10), ir_dim_const(3), &q));
  CU_ASSERT_FALSE(ir_dim_div(g, B, ir_dim_const(0), &q));
  CU_ASSERT_FALSE(ir_dim_div(g, T, ir_dim_const(3), &q));
  end_graph(g);
}

static void test_ir_syms_add_find(void) {
  IrGraph *g = new_graph();
  CU_ASSERT_EQUAL(ir_graph_find_sym(g, "B"), 0);
  CU_ASSERT_EQUAL(ir_graph_find_sym(g, "T"), 1);
  CU_ASSERT_EQUAL(ir_graph_find_sym(g, "C"), -1);
  CU_ASSERT_EQUAL(ir_graph_add_sym(g, "B", 5), 0);   /* existing: unchanged */
  CU_ASSERT_EQUAL(g->syms[0].value, 64);
  for (int i = 2; i < IR_MAX_SYMS; i++) {
    char name[16];
    snprintf(name, sizeof name, "S%d", i);
    CU_ASSERT_EQUAL(ir_graph_add_sym(g, name, i), i);
  }
  CU_ASSERT_EQUAL(ir_graph_add_sym(g, "Full", 1), -1);
  end_graph(g);
}

static void test_ir_bind_sym_recomputes_every_dim(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,T"), y = in(g, "y", IR_F32, "T");
  IrRef z = ir_binary(g, IR_OP_ADD, x, y, L0);
  IrShape flat = sh(g, "B*T");
  IrRef r = ir_reshape(g, z, &flat, L0);
  IrRef c = ir_concat(g, (IrRef[]){x, x}, 2, 0, L0);
  IrRef s = ir_reduce(g, IR_OP_SUM, r, 1, false, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, c), "f32[2*B,T]");
  CU_ASSERT_TRUE(ir_graph_bind_sym(g, 0, 5));
  CU_ASSERT_EQUAL(g->nodes[x].shape.d[0].n, 5);
  CU_ASSERT_EQUAL(g->nodes[z].shape.d[0].n, 5);
  CU_ASSERT_EQUAL(g->nodes[r].shape.d[0].n, 50);
  CU_ASSERT_EQUAL(g->nodes[c].shape.d[0].n, 10);
  CU_ASSERT_STRING_EQUAL(ty(g, r), "f32[B*T]");
  CU_ASSERT_STRING_EQUAL(ty(g, s), "f32[]");
  EXPECT_NO_DIAG();

  IrShape fixed = sh(g, "50");   /* constant: breaks when B changes */
  IrRef k = ir_reshape(g, x, &fixed, L0);
  CU_ASSERT_NOT_EQUAL(k, IR_NONE);
  CU_ASSERT_FALSE(ir_graph_bind_sym(g, 0, 6));
  EXPECT_ERR("cannot reshape f32[B,T] (60 elements) to f32[50] (50 elements)");
  CU_ASSERT_EQUAL(g->syms[0].value, 5);              /* restored */
  CU_ASSERT_EQUAL(g->nodes[r].shape.d[0].n, 50);
  CU_ASSERT_FALSE(ir_graph_bind_sym(g, 0, -1));
  EXPECT_ERR("dim B must be >= 0, not -1");
  CU_ASSERT_FALSE(ir_graph_bind_sym(g, 7, 1));
  CU_ASSERT_TRUE(ir_verify(g, &diag));
  end_graph(g);
}

/* ---- builder: arity and sources ----------------------------------------------------- */

static void test_ir_build_checks_arity_and_operands(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "3");
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_ADD, &x, 1, NULL, NULL, IR_F32, L0), IR_NONE);
  EXPECT_ERR("add takes 2 operands, not 1");
  IrRef two[2] = {x, x};
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_EXP, two, 2, NULL, NULL, IR_F32, L0), IR_NONE);
  EXPECT_ERR("exp takes 1 operand, not 2");
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_CONCAT, NULL, 0, NULL, NULL, IR_F32, L0), IR_NONE);
  EXPECT_ERR("concat takes at least 1 operand, not 0");
  CU_ASSERT_EQUAL(ir_unary(g, IR_OP_NEG, 99, L0), IR_NONE);
  EXPECT_ERR("operand %99 of neg is not a node of the graph");
  CU_ASSERT_EQUAL(ir_unary(g, IR_OP_NEG, IR_NONE, L0), IR_NONE);   /* silent */
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_ADD, x, IR_NONE, L0), IR_NONE);
  EXPECT_NO_DIAG();
  CU_ASSERT_EQUAL(g->nnodes, 1);
  end_graph(g);
}

static void test_ir_shape_sources(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,784");
  CU_ASSERT_STRING_EQUAL(ty(g, x), "f32[B,784]");
  CU_ASSERT_STRING_EQUAL(g->nodes[x].name, "x");
  IrShape w = sh(g, "512,784");
  IrInit init = {IR_INIT_KAIMING_UNIFORM, 2.0, 0, true};
  IrRef p = ir_param(g, "fc1.weight", IR_F32, &w, init, L0);
  CU_ASSERT_EQUAL(g->nodes[p].attr.init.kind, IR_INIT_KAIMING_UNIFORM);
  CU_ASSERT_TRUE(g->nodes[p].attr.init.fan_out);
  IrRef c = ir_const(g, 2.5, IR_F64, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, c), "f64[]");
  CU_ASSERT_EQUAL(g->nodes[c].attr.value, 2.5);
  IrShape is = sh(g, "17,17");
  IrRef io = ir_iota(g, &is, 1, IR_I32, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, io), "i32[17,17]");
  CU_ASSERT_EQUAL(g->nodes[io].attr.axis, 1);
  EXPECT_NO_DIAG();

  CU_ASSERT_EQUAL(in(g, "", IR_F32, "3"), IR_NONE);
  EXPECT_ERR("cannot input f32[3]: missing name");
  CU_ASSERT_EQUAL(in(g, NULL, IR_F32, "3"), IR_NONE);
  EXPECT_ERR("cannot input f32[3]: missing name");
  CU_ASSERT_EQUAL(in(g, "neg", IR_F32, "-1"), IR_NONE);
  EXPECT_ERR("cannot input f32[-1]: dim 0 is negative");
  CU_ASSERT_EQUAL(in(g, "bad", (IrDtype)9, "3"), IR_NONE);
  EXPECT_ERR("cannot input: unknown dtype");
  IrShape big = {.rank = 9};
  CU_ASSERT_EQUAL(ir_input(g, "big", IR_F32, &big, L0), IR_NONE);
  EXPECT_ERR("cannot input: rank 9 exceeds 8");
  IrShape undeclared = {.rank = 1, .d = {{.n = 4, .k = 1, .syms = 1u << 5}}};
  CU_ASSERT_EQUAL(ir_input(g, "u", IR_F32, &undeclared, L0), IR_NONE);
  EXPECT_ERR("cannot input: dim 0 uses an undeclared named dim");
  IrShape three = sh(g, "3");
  CU_ASSERT_EQUAL(ir_param(g, "w", IR_I32, &three, (IrInit){0}, L0), IR_NONE);
  EXPECT_ERR("cannot param i32[3] \"w\": needs a float dtype");
  CU_ASSERT_EQUAL(ir_param(g, "w", IR_F32, &three, (IrInit){.kind = (IrInitKind)40}, L0), IR_NONE);
  EXPECT_ERR("cannot param f32[3] \"w\": unknown initializer");
  IrAttr a = {0};
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_CONST, NULL, 0, &a, &three, IR_F32, L0), IR_NONE);
  EXPECT_ERR("cannot const f32[3]: rank must be 0");
  CU_ASSERT_EQUAL(ir_iota(g, &three, 0, IR_BOOL, L0), IR_NONE);
  EXPECT_ERR("cannot iota bool[3]: needs an i32 or float dtype");
  CU_ASSERT_EQUAL(ir_iota(g, &is, 2, IR_I32, L0), IR_NONE);
  EXPECT_ERR("cannot iota i32[17,17]: axis 2 out of range for rank 2");
  CU_ASSERT_EQUAL(ir_iota(g, &is, -1, IR_F32, L0), IR_NONE);
  EXPECT_ERR("cannot iota f32[17,17]: axis -1 out of range for rank 2");
  end_graph(g);
}

/* ---- elementwise ---------------------------------------------------------------------- */

static void test_ir_shape_unary(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,10"), i = in(g, "i", IR_I32, "B"), b = in(g, "b", IR_BOOL, "B");
  const IrOp float_only[] = {IR_OP_EXP, IR_OP_LOG, IR_OP_SQRT, IR_OP_RSQRT, IR_OP_TANH,
                             IR_OP_SIGMOID, IR_OP_RELU, IR_OP_GELU, IR_OP_ERF, IR_OP_SIGN};
  for (size_t k = 0; k < MC_COUNTOF(float_only); k++) {
    CU_ASSERT_STRING_EQUAL(ty(g, ir_unary(g, float_only[k], x, L0)), "f32[B,10]");
    CU_ASSERT_EQUAL(ir_unary(g, float_only[k], i, L0), IR_NONE);
    char want[80];
    snprintf(want, sizeof want, "modelc: error: cannot %s i32[B]: needs a float dtype\n",
             ir_ops[float_only[k]].name);
    check_diag(want, __LINE__);
  }
  CU_ASSERT_STRING_EQUAL(ty(g, ir_unary(g, IR_OP_NEG, i, L0)), "i32[B]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_unary(g, IR_OP_ABS, i, L0)), "i32[B]");
  CU_ASSERT_EQUAL(ir_unary(g, IR_OP_NEG, b, L0), IR_NONE);
  EXPECT_ERR("cannot neg bool[B]: needs a numeric dtype");
  CU_ASSERT_EQUAL(ir_unary(g, IR_OP_ABS, b, L0), IR_NONE);
  EXPECT_ERR("cannot abs bool[B]: needs a numeric dtype");
  /* gelu_grad(x, dy): binary, float only */
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_GELU_GRAD, x, x, L0)), "f32[B,10]");
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_GELU_GRAD, i, i, L0), IR_NONE);
  EXPECT_ERR("cannot gelu_grad i32[B] and i32[B]: needs a float dtype");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_cast(g, b, IR_F64, L0)), "f64[B]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_cast(g, x, IR_I32, L0)), "i32[B,10]");
  CU_ASSERT_EQUAL(ir_cast(g, x, (IrDtype)7, L0), IR_NONE);
  EXPECT_ERR("cannot cast f32[B,10]: unknown dtype");
  end_graph(g);
}

static void test_ir_shape_binary_broadcast(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,10"), r = in(g, "r", IR_F32, "10");
  IrRef col = in(g, "col", IR_F32, "B,1"), row = in(g, "row", IR_F32, "1,T");
  IrRef s = ir_const(g, 1, IR_F32, L0), c64 = in(g, "c64", IR_F32, "64");
  IrRef bx = in(g, "bx", IR_F32, "B");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_ADD, x, r, L0)), "f32[B,10]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_SUB, r, x, L0)), "f32[B,10]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_MUL, col, row, L0)), "f32[B,T]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_DIV, s, x, L0)), "f32[B,10]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_POW, x, s, L0)), "f32[B,10]");
  /* equal values: the symbolic form wins, whichever side it is on */
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_MAXIMUM, c64, bx, L0)), "f32[B]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_MINIMUM, bx, c64, L0)), "f32[B]");
  const IrOp cmps[] = {IR_OP_LT, IR_OP_LE, IR_OP_GT, IR_OP_GE, IR_OP_EQ, IR_OP_NE};
  for (size_t k = 0; k < MC_COUNTOF(cmps); k++)
    CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, cmps[k], x, r, L0)), "bool[B,10]");
  EXPECT_NO_DIAG();

  IrRef b20 = in(g, "b20", IR_F32, "20");
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_ADD, x, b20, L0), IR_NONE);
  EXPECT_ERR("cannot add f32[B,10] and f32[20]: dims 10 and 20 do not broadcast");
  IrRef t3 = in(g, "t3", IR_F32, "3,B");
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_MUL, t3, x, L0), IR_NONE);
  EXPECT_ERR("cannot mul f32[3,B] and f32[B,10]: dims 3 and B do not broadcast");
  IrRef xi = in(g, "xi", IR_I32, "B,10");
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_ADD, x, xi, L0), IR_NONE);
  EXPECT_ERR("cannot add f32[B,10] and i32[B,10]: dtypes differ");
  IrRef xd = in(g, "xd", IR_F64, "B,10");
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_ADD, x, xd, L0), IR_NONE);
  EXPECT_ERR("cannot add f32[B,10] and f64[B,10]: dtypes differ");
  end_graph(g);
}

static void test_ir_shape_binary_dtypes(void) {
  IrGraph *g = new_graph();
  IrRef i = in(g, "i", IR_I32, "3"), b = in(g, "b", IR_BOOL, "3");
  const IrOp int_ok[] = {IR_OP_ADD, IR_OP_SUB, IR_OP_MUL, IR_OP_MAXIMUM, IR_OP_MINIMUM};
  for (size_t k = 0; k < MC_COUNTOF(int_ok); k++) {
    CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, int_ok[k], i, i, L0)), "i32[3]");
    CU_ASSERT_EQUAL(ir_binary(g, int_ok[k], b, b, L0), IR_NONE);
    char want[100];
    snprintf(want, sizeof want,
             "modelc: error: cannot %s bool[3] and bool[3]: needs a numeric dtype\n",
             ir_ops[int_ok[k]].name);
    check_diag(want, __LINE__);
  }
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_DIV, i, i, L0), IR_NONE);
  EXPECT_ERR("cannot div i32[3] and i32[3]: needs a float dtype");
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_POW, i, i, L0), IR_NONE);
  EXPECT_ERR("cannot pow i32[3] and i32[3]: needs a float dtype");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_LT, i, i, L0)), "bool[3]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_binary(g, IR_OP_EQ, b, b, L0)), "bool[3]");
  CU_ASSERT_EQUAL(ir_binary(g, IR_OP_LT, i, b, L0), IR_NONE);
  EXPECT_ERR("cannot lt i32[3] and bool[3]: dtypes differ");
  end_graph(g);
}

static void test_ir_shape_where(void) {
  IrGraph *g = new_graph();
  IrRef c = in(g, "c", IR_BOOL, "B,1"), a = in(g, "a", IR_F32, "T"), b = in(g, "b", IR_F32, "");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_where(g, c, a, b, L0)), "f32[B,T]");
  IrRef ia = in(g, "ia", IR_I32, "3");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_where(g, c, ia, ia, L0)), "i32[B,3]");
  EXPECT_NO_DIAG();
  IrRef f3 = in(g, "f3", IR_F32, "3"), b4 = in(g, "b4", IR_BOOL, "4"), b3 = in(g, "b3", IR_BOOL, "3");
  CU_ASSERT_EQUAL(ir_where(g, f3, f3, f3, L0), IR_NONE);
  EXPECT_ERR("cannot where f32[3], f32[3] and f32[3]: condition must be bool");
  CU_ASSERT_EQUAL(ir_where(g, b3, f3, ia, L0), IR_NONE);
  EXPECT_ERR("cannot where bool[3], f32[3] and i32[3]: dtypes differ");
  CU_ASSERT_EQUAL(ir_where(g, b4, f3, f3, L0), IR_NONE);
  EXPECT_ERR("cannot where bool[4], f32[3] and f32[3]: dims 4 and 3 do not broadcast");
  IrRef f5 = in(g, "f5", IR_F32, "5");
  CU_ASSERT_EQUAL(ir_where(g, b3, f3, f5, L0), IR_NONE);
  EXPECT_ERR("cannot where bool[3], f32[3] and f32[5]: dims 3 and 5 do not broadcast");
  end_graph(g);
}

/* ---- reductions and matmul ---------------------------------------------------------------- */

static void test_ir_shape_reduce(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,10,T");
  IrRef s = ir_reduce(g, IR_OP_SUM, x, 1u << 1, false, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, s), "f32[B,T]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_reduce(g, IR_OP_MAX, x, 5, true, L0)), "f32[1,10,1]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_reduce(g, IR_OP_SUM, x, 7, false, L0)), "f32[]");
  IrRef i = in(g, "i", IR_I32, "4");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_reduce(g, IR_OP_SUM, i, 1, false, L0)), "i32[]");
  EXPECT_NO_DIAG();
  IrRef x2 = in(g, "x2", IR_F32, "B,10"), b = in(g, "b", IR_BOOL, "3");
  CU_ASSERT_EQUAL(ir_reduce(g, IR_OP_SUM, x2, 0, false, L0), IR_NONE);
  EXPECT_ERR("cannot sum f32[B,10]: no axes to reduce");
  CU_ASSERT_EQUAL(ir_reduce(g, IR_OP_MAX, x2, 1u << 3 | 1, false, L0), IR_NONE);
  EXPECT_ERR("cannot max f32[B,10]: axis 3 out of range for rank 2");
  CU_ASSERT_EQUAL(ir_reduce(g, IR_OP_SUM, b, 1, false, L0), IR_NONE);
  EXPECT_ERR("cannot sum bool[3]: needs a numeric dtype");
  IrRef sc = ir_const(g, 1, IR_F32, L0);
  CU_ASSERT_EQUAL(ir_reduce(g, IR_OP_SUM, sc, 1, false, L0), IR_NONE);
  EXPECT_ERR("cannot sum f32[]: axis 0 out of range for rank 0");
  end_graph(g);
}

static void test_ir_shape_matmul(void) {
  IrGraph *g = new_graph();
  IrRef a = in(g, "a", IR_F32, "B,10"), w = in(g, "w", IR_F32, "10,T");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_matmul(g, a, w, L0)), "f32[B,T]");
  IrRef ba = in(g, "ba", IR_F32, "2,1,3,4"), bb = in(g, "bb", IR_F32, "5,4,6");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_matmul(g, ba, bb, L0)), "f32[2,5,3,6]");
  EXPECT_NO_DIAG();
  IrRef w2 = in(g, "w2", IR_F32, "20,10");
  CU_ASSERT_EQUAL(ir_matmul(g, a, w2, L0), IR_NONE);
  EXPECT_ERR("cannot matmul f32[B,10] by f32[20,10]: inner dims 10 and 20 differ");
  IrRef v = in(g, "v", IR_F32, "10");
  CU_ASSERT_EQUAL(ir_matmul(g, v, w, L0), IR_NONE);
  EXPECT_ERR("cannot matmul f32[10] by f32[10,T]: operands need rank >= 2");
  IrRef wi = in(g, "wi", IR_I32, "10,T"), ai = in(g, "ai", IR_I32, "B,10");
  CU_ASSERT_EQUAL(ir_matmul(g, a, wi, L0), IR_NONE);
  EXPECT_ERR("cannot matmul f32[B,10] by i32[10,T]: dtypes differ");
  CU_ASSERT_EQUAL(ir_matmul(g, ai, wi, L0), IR_NONE);
  EXPECT_ERR("cannot matmul i32[B,10] by i32[10,T]: needs a float dtype");
  IrRef c1 = in(g, "c1", IR_F32, "2,3,4"), c2 = in(g, "c2", IR_F32, "5,4,6");
  CU_ASSERT_EQUAL(ir_matmul(g, c1, c2, L0), IR_NONE);
  EXPECT_ERR("cannot matmul f32[2,3,4] by f32[5,4,6]: batch dims 2 and 5 do not broadcast");
  end_graph(g);
}

/* ---- movement ---------------------------------------------------------------------------- */

static void test_ir_shape_reshape_permute_expand(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,10");
  IrShape flat = sh(g, "10*B"), bad = sh(g, "3,7"), neg = sh(g, "-640");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_reshape(g, x, &flat, L0)), "f32[10*B]");
  CU_ASSERT_EQUAL(ir_reshape(g, x, &bad, L0), IR_NONE);
  EXPECT_ERR("cannot reshape f32[B,10] (640 elements) to f32[3,7] (21 elements)");
  CU_ASSERT_EQUAL(ir_reshape(g, x, &neg, L0), IR_NONE);
  EXPECT_ERR("cannot reshape f32[-640]: dim 0 is negative");

  IrRef y = in(g, "y", IR_I32, "B,10,T");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_permute(g, y, (uint8_t[]){2, 0, 1}, L0)), "i32[T,B,10]");
  CU_ASSERT_EQUAL(ir_permute(g, x, (uint8_t[]){0, 0}, L0), IR_NONE);
  EXPECT_ERR("cannot permute f32[B,10] by perm=[0,0]: not a permutation of 0..1");
  CU_ASSERT_EQUAL(ir_permute(g, x, (uint8_t[]){2, 0}, L0), IR_NONE);
  EXPECT_ERR("cannot permute f32[B,10] by perm=[2,0]: not a permutation of 0..1");

  IrRef c = in(g, "c", IR_F32, "T,1");
  IrShape to = sh(g, "B,T,4"), small = sh(g, "10"), wide = sh(g, "B,20");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_expand(g, c, &to, L0)), "f32[B,T,4]");
  CU_ASSERT_EQUAL(ir_expand(g, x, &small, L0), IR_NONE);
  EXPECT_ERR("cannot expand f32[B,10] to f32[10]: rank 2 exceeds rank 1");
  CU_ASSERT_EQUAL(ir_expand(g, x, &wide, L0), IR_NONE);
  EXPECT_ERR("cannot expand f32[B,10] to f32[B,20]: dims 10 and 20 do not broadcast");
  end_graph(g);
}

static void test_ir_shape_slice(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,10");
  IrRef s = ir_slice(g, x, (int64_t[]){0, 2}, (int64_t[]){1, 2}, (int64_t[]){64, 3}, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, s), "f32[B,3]");
  CU_ASSERT_EQUAL(g->nodes[s].attr.start[1], 2);
  CU_ASSERT_EQUAL(g->nodes[s].attr.step[1], 2);
  IrRef e = ir_slice(g, x, (int64_t[]){1, 10}, (int64_t[]){3, 1}, (int64_t[]){21, 0}, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, e), "f32[21,0]");
  EXPECT_NO_DIAG();
  CU_ASSERT_EQUAL(ir_slice(g, x, (int64_t[]){0, 0}, (int64_t[]){1, 0}, (int64_t[]){64, 3}, L0),
                  IR_NONE);
  EXPECT_ERR("cannot slice f32[B,10] to f32[B,3]: step 0 on axis 1");
  /* a negative step reads backwards from start: 9, 7, 5 and a whole flip */
  IrRef back = ir_slice(g, x, (int64_t[]){0, 9}, (int64_t[]){1, -2}, (int64_t[]){64, 3}, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, back), "f32[B,3]");
  CU_ASSERT_EQUAL(g->nodes[back].attr.step[1], -2);
  IrRef flip = ir_slice(g, x, (int64_t[]){0, 9}, (int64_t[]){1, -1}, (int64_t[]){64, 10}, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, flip), "f32[B,10]");
  EXPECT_NO_DIAG();
  CU_ASSERT_EQUAL(ir_slice(g, x, (int64_t[]){0, 3}, (int64_t[]){1, -2}, (int64_t[]){64, 3}, L0),
                  IR_NONE);
  EXPECT_ERR("cannot slice f32[B,10] to f32[B,3]: axis 1 (start 3, step -2) runs past dim 10");
  CU_ASSERT_EQUAL(ir_slice(g, x, (int64_t[]){0, 10}, (int64_t[]){1, -1}, (int64_t[]){64, 3}, L0),
                  IR_NONE);
  EXPECT_ERR("cannot slice f32[B,10] to f32[B,3]: axis 1 (start 10, step -1) runs past dim 10");
  CU_ASSERT_EQUAL(ir_slice(g, x, (int64_t[]){0, -1}, (int64_t[]){1, 1}, (int64_t[]){64, 3}, L0),
                  IR_NONE);
  EXPECT_ERR("cannot slice f32[B,10] to f32[B,3]: start -1 on axis 1 is negative");
  CU_ASSERT_EQUAL(ir_slice(g, x, (int64_t[]){0, 5}, (int64_t[]){1, 3}, (int64_t[]){64, 3}, L0),
                  IR_NONE);
  EXPECT_ERR("cannot slice f32[B,10] to f32[B,3]: axis 1 (start 5, step 3) runs past dim 10");
  CU_ASSERT_EQUAL(ir_slice(g, x, (int64_t[]){1, 0}, (int64_t[]){1, 1}, (int64_t[]){64, 3}, L0),
                  IR_NONE);
  EXPECT_ERR("cannot slice f32[B,10] to f32[64,3]: axis 0 (start 1, step 1) runs past dim B");
  CU_ASSERT_EQUAL(ir_slice(g, x, (int64_t[]){0, 0}, (int64_t[]){1, INT64_MAX},
                           (int64_t[]){64, 3}, L0),
                  IR_NONE);   /* overflow is caught, not wrapped */
  clear_diag();
  IrAttr a = {.start = {0}, .step = {1}};
  IrShape r1 = sh(g, "3");
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_SLICE, &x, 1, &a, &r1, IR_F32, L0), IR_NONE);
  EXPECT_ERR("cannot slice f32[B,10] to f32[3]: ranks 2 and 1 differ");
  end_graph(g);
}

static void test_ir_shape_pad(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,3");
  IrRef p = ir_pad(g, x, (int64_t[]){0, 1}, (int64_t[]){0, 4}, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, p), "f32[B,8]");
  CU_ASSERT_EQUAL(g->nodes[p].attr.start[1], 1);
  EXPECT_NO_DIAG();
  CU_ASSERT_EQUAL(ir_pad(g, x, (int64_t[]){0, -1}, (int64_t[]){0, 1}, L0), IR_NONE);
  EXPECT_ERR("cannot pad f32[B,3] to f32[B,3]: start -1 on axis 1 is negative");
  IrAttr a = {.start = {0, 1}};
  IrShape r = sh(g, "B,2"), r1 = sh(g, "8");
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_PAD, &x, 1, &a, &r, IR_F32, L0), IR_NONE);
  EXPECT_ERR("cannot pad f32[B,3] to f32[B,2]: axis 1 needs at least 4 (start 1 + dim 3)");
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_PAD, &x, 1, &a, &r1, IR_F32, L0), IR_NONE);
  EXPECT_ERR("cannot pad f32[B,3] to f32[8]: ranks 2 and 1 differ");
  end_graph(g);
}

static void test_ir_shape_concat(void) {
  IrGraph *g = new_graph();
  IrRef a = in(g, "a", IR_F32, "B,3"), b = in(g, "b", IR_F32, "2,3");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_concat(g, (IrRef[]){a, a}, 2, 1, L0)), "f32[B,6]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_concat(g, (IrRef[]){a, a, a}, 3, 0, L0)), "f32[3*B,3]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_concat(g, (IrRef[]){a, b}, 2, 0, L0)), "f32[66,3]");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_concat(g, &a, 1, 0, L0)), "f32[B,3]");
  EXPECT_NO_DIAG();
  CU_ASSERT_EQUAL(ir_concat(g, (IrRef[]){a, a}, 2, 2, L0), IR_NONE);
  EXPECT_ERR("cannot concat f32[B,3] on axis 2: axis out of range for rank 2");
  CU_ASSERT_EQUAL(ir_concat(g, (IrRef[]){a, a}, 2, -1, L0), IR_NONE);
  EXPECT_ERR("cannot concat f32[B,3] on axis -1: axis out of range for rank 2");
  IrRef i = in(g, "i", IR_I32, "B,3"), v = in(g, "v", IR_F32, "B");
  CU_ASSERT_EQUAL(ir_concat(g, (IrRef[]){a, i}, 2, 0, L0), IR_NONE);
  EXPECT_ERR("cannot concat f32[B,3] and i32[B,3]: dtypes differ");
  CU_ASSERT_EQUAL(ir_concat(g, (IrRef[]){a, v}, 2, 0, L0), IR_NONE);
  EXPECT_ERR("cannot concat f32[B,3] and f32[B]: ranks 2 and 1 differ");
  IrRef c = in(g, "c", IR_F32, "5,3");
  CU_ASSERT_EQUAL(ir_concat(g, (IrRef[]){a, a, c}, 3, 1, L0), IR_NONE);
  EXPECT_ERR("cannot concat f32[B,3] and f32[5,3] on axis 1: dims B and 5 differ");
  end_graph(g);
}

/* ---- indexing ------------------------------------------------------------------------------- */

static void test_ir_shape_gather_scatter(void) {
  IrGraph *g = new_graph();
  IrRef tab = in(g, "tab", IR_F32, "10,4"), idx = in(g, "idx", IR_I32, "B,5");
  IrRef ga = ir_gather(g, tab, idx, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, ga), "f32[B,5,4]");
  IrRef sc = ir_scatter_add(g, ga, idx, ir_dim_const(10), L0);
  CU_ASSERT_STRING_EQUAL(ty(g, sc), "f32[10,4]");
  IrRef i0 = in(g, "i0", IR_I32, "");
  CU_ASSERT_STRING_EQUAL(ty(g, ir_gather(g, tab, i0, L0)), "f32[4]");
  EXPECT_NO_DIAG();

  IrRef fidx = in(g, "fidx", IR_F32, "B"), s0 = ir_const(g, 0, IR_F32, L0);
  CU_ASSERT_EQUAL(ir_gather(g, tab, fidx, L0), IR_NONE);
  EXPECT_ERR("cannot gather f32[10,4] with f32[B]: indices must be i32");
  IrRef ib = in(g, "ib", IR_I32, "B");
  CU_ASSERT_EQUAL(ir_gather(g, s0, ib, L0), IR_NONE);
  EXPECT_ERR("cannot gather f32[] with i32[B]: table needs rank >= 1");
  IrRef t8 = in(g, "t8", IR_F32, "1,1,1,1,1,1,1,1"), i2 = in(g, "i2", IR_I32, "2,2");
  CU_ASSERT_EQUAL(ir_gather(g, t8, i2, L0), IR_NONE);
  EXPECT_ERR("cannot gather f32[1,1,1,1,1,1,1,1] with i32[2,2]: result rank 9 exceeds 8");

  IrRef src = in(g, "src", IR_F32, "B,4"), v4 = in(g, "v4", IR_F32, "4");
  CU_ASSERT_EQUAL(ir_scatter_add(g, src, fidx, ir_dim_const(10), L0), IR_NONE);
  EXPECT_ERR("cannot scatter_add f32[B,4] with f32[B]: indices must be i32");
  CU_ASSERT_EQUAL(ir_scatter_add(g, v4, i2, ir_dim_const(10), L0), IR_NONE);
  EXPECT_ERR("cannot scatter_add f32[4] with i32[2,2]: index rank 2 exceeds source rank 1");
  IrRef i3 = in(g, "i3", IR_I32, "3");
  CU_ASSERT_EQUAL(ir_scatter_add(g, src, i3, ir_dim_const(10), L0), IR_NONE);
  EXPECT_ERR("cannot scatter_add f32[B,4] with i32[3]: dims B and 3 differ");
  IrRef ops[2] = {src, ib};
  IrShape r1 = sh(g, "10"), r2 = sh(g, "10,5");
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_SCATTER_ADD, ops, 2, NULL, &r1, IR_F32, L0), IR_NONE);
  EXPECT_ERR("cannot scatter_add f32[B,4] with i32[B] to f32[10]: result rank must be 2");
  CU_ASSERT_EQUAL(ir_build(g, IR_OP_SCATTER_ADD, ops, 2, NULL, &r2, IR_F32, L0), IR_NONE);
  EXPECT_ERR("cannot scatter_add f32[B,4] with i32[B] to f32[10,5]: dims 4 and 5 differ");
  end_graph(g);
}

/* ---- sum_to, outputs, clone, copy ---------------------------------------------------------- */

static void test_ir_sum_to_reverses_broadcasting(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,3,4");
  IrShape to = sh(g, "3,1"), same = sh(g, "B,3,4"), lead1 = sh(g, "1,1,4"), bad = sh(g, "5");
  IrRef s = ir_sum_to(g, x, &to, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, s), "f32[3,1]");
  CU_ASSERT_EQUAL(g->nodes[s].op, IR_OP_SUM);
  CU_ASSERT_EQUAL(ir_sum_to(g, x, &same, L0), x);
  IrRef y = in(g, "y", IR_F32, "3,4");
  uint32_t before = g->nnodes;
  IrRef r = ir_sum_to(g, y, &lead1, L0);
  CU_ASSERT_STRING_EQUAL(ty(g, r), "f32[1,1,4]");
  CU_ASSERT_EQUAL(g->nodes[r].op, IR_OP_RESHAPE);
  CU_ASSERT_EQUAL(g->nnodes, before + 2);
  EXPECT_NO_DIAG();
  CU_ASSERT_EQUAL(ir_sum_to(g, y, &bad, L0), IR_NONE);
  EXPECT_ERR("cannot sum f32[3,4] to f32[5]: dims 4 and 5 do not broadcast");
  IrShape wider = sh(g, "2,3,4");
  CU_ASSERT_EQUAL(ir_sum_to(g, y, &wider, L0), IR_NONE);
  EXPECT_ERR("cannot sum f32[3,4] to f32[2,3,4]: dims 1 and 2 do not broadcast");
  end_graph(g);
}

static void test_ir_outputs_and_lookup(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "3");
  IrShape s = sh(g, "3");
  IrRef w = ir_param(g, "layer.w", IR_F32, &s, (IrInit){IR_INIT_ONES, 0, 0, false}, L0);
  IrRef y = ir_binary(g, IR_OP_MUL, x, w, L0);
  IrRef l = ir_reduce(g, IR_OP_SUM, y, 1, false, L0);
  ir_add_output(g, IR_OUT_OUTPUT, "y", y);
  ir_add_output(g, IR_OUT_LOSS, "loss", l);
  CU_ASSERT_EQUAL(ir_find_param(g, "layer.w"), w);
  CU_ASSERT_EQUAL(ir_find_param(g, "x"), IR_NONE);
  CU_ASSERT_EQUAL(ir_find_input(g, "x"), x);
  CU_ASSERT_EQUAL(ir_find_input(g, "layer.w"), IR_NONE);
  CU_ASSERT_EQUAL(ir_find_output(g, IR_OUT_OUTPUT, "y")->ref, y);
  CU_ASSERT_EQUAL(ir_find_output(g, IR_OUT_LOSS, NULL)->ref, l);
  CU_ASSERT_PTR_NULL(ir_find_output(g, IR_OUT_GRAD, NULL));
  CU_ASSERT_PTR_NULL(ir_find_output(g, IR_OUT_OUTPUT, "loss"));
  CU_ASSERT_TRUE(ir_verify(g, &diag));
  EXPECT_NO_DIAG();
  end_graph(g);
}

static void test_ir_clone_and_copy_node(void) {
  IrGraph *g = new_graph();
  IrRef x = in(g, "x", IR_F32, "B,T");
  IrRef e = ir_unary(g, IR_OP_EXP, x, (McLoc){1, 2, 3, 1});
  IrRef s = ir_reduce(g, IR_OP_SUM, e, 2, true, L0);
  ir_add_output(g, IR_OUT_OUTPUT, "s", s);
  IrGraph *c = ir_graph_clone(g);
  char *a = print_graph(g), *b = print_graph(c);
  CU_ASSERT_STRING_EQUAL(a, b);
  CU_ASSERT_PTR_NOT_EQUAL(c->nodes[e].src, g->nodes[e].src);
  free(b);
  ir_graph_free(c);

  /* copy_node rebuilds through the builder, with operands remapped */
  IrGraph *h = ir_graph_new("t", &diag);
  IrRef map[3];
  for (IrRef i = 0; i < g->nnodes; i++) map[i] = ir_copy_node(h, g, i, map);
  ir_add_output(h, IR_OUT_OUTPUT, "s", map[s]);
  b = print_graph(h);
  CU_ASSERT_STRING_EQUAL(a, b);
  CU_ASSERT_EQUAL(h->nodes[map[e]].loc.line, 2);
  CU_ASSERT_EQUAL(h->nsyms, 2);
  IrRef dropped[3] = {IR_NONE, IR_NONE, IR_NONE};
  CU_ASSERT_EQUAL(ir_copy_node(h, g, e, dropped), IR_NONE);
  EXPECT_NO_DIAG();
  free(a);
  free(b);
  ir_graph_free(h);
  end_graph(g);
}

/* ---- verifier ---------------------------------------------------------------------------- */

/* x f32[3,4], w f32[4,2], m = x @ w, s = sum(m); output y = m, loss = s. */
static IrGraph *small_graph(void) {
  mc_diag_init(&diag, NULL, NULL);
  IrGraph *g = ir_graph_new("small", &diag);
  IrRef x = in(g, "x", IR_F32, "3,4");
  IrShape ws = sh(g, "4,2");
  IrRef w = ir_param(g, "w", IR_F32, &ws, (IrInit){IR_INIT_ZEROS, 0, 0, false}, L0);
  IrRef m = ir_matmul(g, x, w, L0);
  IrRef s = ir_reduce(g, IR_OP_SUM, m, 3, false, L0);
  ir_add_output(g, IR_OUT_OUTPUT, "y", m);
  ir_add_output(g, IR_OUT_LOSS, "loss", s);
  return g;
}

static void test_ir_verify_accepts_valid_graph(void) {
  IrGraph *g = small_graph();
  CU_ASSERT_TRUE(ir_verify(g, &diag));
  EXPECT_NO_DIAG();
  end_graph(g);
}

static void test_ir_verify_rejects_broken_nodes(void) {
  IrGraph *g = small_graph();
  g->nodes[2].src[0] = 3;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("%2 (matmul): operand %3 is not defined before it");
  g->nodes[2].src[0] = 0;

  g->nodes[2].shape.d[1] = ir_dim_const(7);
  CU_ASSERT_FALSE(ir_verify(g, &diag));   /* one report: the user %3 is not blamed */
  EXPECT_ERR("%2 (matmul): type f32[3,7] does not match f32[3,2] computed from its operands");
  g->nodes[2].shape.d[1] = ir_dim_const(2);

  g->nodes[2].dtype = IR_F64;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("%2 (matmul): type f64[3,2] does not match f32[3,2] computed from its operands");
  g->nodes[2].dtype = IR_F32;

  g->nodes[2].nsrc = 1;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("%2 (matmul): has 1 operands, expected 2");
  g->nodes[2].nsrc = 2;

  g->nodes[2].op = 200;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("%2: unknown op 200");
  g->nodes[2].op = IR_OP_MATMUL;

  g->nodes[3].shape.d[0].n = -1;
  g->nodes[3].shape.rank = 1;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("%3 (sum): dim 0 is negative");   /* the loss check skips broken nodes */
  g->nodes[3].shape.rank = 0;

  g->nodes[1].name = "x";
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("%1 (param): name \"x\" is already used by %0");
  g->nodes[1].name = "w";

  g->nodes[1].dtype = IR_I32;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  check_diag("modelc: error: cannot param i32[4,2] \"w\": needs a float dtype\n"
             "modelc: note: in %1 (param)\n", __LINE__);
  g->nodes[1].dtype = IR_F32;
  CU_ASSERT_TRUE(ir_verify(g, &diag));
  EXPECT_NO_DIAG();
  end_graph(g);
}

static void test_ir_verify_rejects_bad_attributes(void) {
  IrGraph *g = small_graph();
  IrRef p = ir_permute(g, 0, (uint8_t[]){1, 0}, L0);
  CU_ASSERT_TRUE(ir_verify(g, &diag));
  g->nodes[p].attr.perm[0] = 0;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  check_diag("modelc: error: cannot permute f32[3,4] by perm=[0,0]: not a permutation of 0..1\n"
             "modelc: note: in %4 (permute)\n", __LINE__);
  g->nodes[p].attr.perm[0] = 1;
  g->nodes[3].attr.axes = 1u << 4;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  check_diag("modelc: error: cannot sum f32[3,2]: axis 4 out of range for rank 2\n"
             "modelc: note: in %3 (sum)\n", __LINE__);
  end_graph(g);
}

static void test_ir_verify_rejects_bad_outputs(void) {
  IrGraph *g = small_graph();
  g->outs[1].ref = 2;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("loss \"loss\" must be a float scalar, not f32[3,2]");
  g->outs[1].ref = 3;

  ir_add_output(g, IR_OUT_LOSS, "loss2", 3);
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("graph has more than one loss");
  g->outs[2].kind = IR_OUT_OUTPUT;
  g->outs[2].ref = 9;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("output \"loss2\" refers to %9, which does not exist");
  g->outs[2].name = "y";
  g->outs[2].ref = 2;
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("output \"y\" is declared twice");
  g->nouts = 2;

  ir_add_output(g, IR_OUT_GRAD, "w", 2);
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("grad \"w\" has type f32[3,2], but param \"w\" is f32[4,2]");
  g->outs[2].name = "nope";
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("grad \"nope\" names no param or input");
  g->outs[2].name = "x";
  g->outs[2].ref = 0;
  CU_ASSERT_TRUE(ir_verify(g, &diag));   /* grad w.r.t. an input, same type */
  EXPECT_NO_DIAG();
  end_graph(g);
}

static void test_ir_verify_rejects_stale_dims(void) {
  IrGraph *g = new_graph();
  in(g, "x", IR_F32, "B");
  g->syms[0].value = 5;   /* changed behind ir_graph_bind_sym's back */
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("%0 (input): dim 0 has value 64, but its named dims give 5");
  g->syms[0].value = 64;
  g->syms[1].name = "B";
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  EXPECT_ERR("dim B is declared twice");
  end_graph(g);
}

/* ---- text format ------------------------------------------------------------------------------ */

/* A graph that uses every op, every attribute, every initializer, special
   floats, locations, names that need escaping and symbolic dims. */
static IrGraph *every_op_graph(void) {
  mc_diag_init(&diag, NULL, NULL);
  IrGraph *g = ir_graph_new("every-op", &diag);
  ir_graph_add_sym(g, "B", 4);
  ir_graph_add_sym(g, "T", 3);
  IrRef x = in(g, "x", IR_F32, "B,T");
  g->nodes[x].loc = (McLoc){1, 3, 5, 1};
  IrRef y = in(g, "lab\"el\\s\n", IR_I32, "B");
  IrShape ws = sh(g, "T,5"), vs = sh(g, "5");
  const IrInit inits[] = {
      {IR_INIT_KAIMING_UNIFORM, 2.2360679774997898, 0, true},
      {IR_INIT_ZEROS, 0, 0, false},
      {IR_INIT_ONES, 0, 0, false},
      {IR_INIT_CONSTANT, 0.5, 0, false},
      {IR_INIT_NORMAL, 0, 0.02, false},
      {IR_INIT_UNIFORM, -0.035714285714285712, 0.035714285714285712, false},
      {IR_INIT_XAVIER_UNIFORM, 1, 0, false},
      {IR_INIT_XAVIER_NORMAL, 1.4142135623730951, 0, false},
      {IR_INIT_KAIMING_NORMAL, 0, 0, false},
      {IR_INIT_NONE, 0, 0, false},
  };
  IrRef w = ir_param(g, "fc1.weight", IR_F32, &ws, inits[0], (McLoc){2, 7, 1, 1});
  for (size_t i = 1; i < MC_COUNTOF(inits); i++) {
    char name[32];
    snprintf(name, sizeof name, "p%zu.bias", i);
    ir_param(g, name, i % 2 ? IR_F32 : IR_F64, &vs, inits[i], L0);
  }
  const double consts[] = {0, 0.1, -2.5e-300, INFINITY, -INFINITY, NAN, 1e300};
  for (size_t i = 0; i < MC_COUNTOF(consts); i++) ir_const(g, consts[i], IR_F32, L0);
  ir_const(g, 3, IR_I32, L0);
  IrShape is = sh(g, "B,T");
  IrRef io = ir_iota(g, &is, 1, IR_I32, L0);
  ir_iota(g, &is, 0, IR_F64, L0);
  const IrOp unary[] = {IR_OP_NEG, IR_OP_EXP, IR_OP_LOG, IR_OP_SQRT, IR_OP_RSQRT, IR_OP_TANH,
                        IR_OP_SIGMOID, IR_OP_RELU, IR_OP_GELU, IR_OP_ERF, IR_OP_ABS,
                        IR_OP_SIGN};
  for (size_t i = 0; i < MC_COUNTOF(unary); i++) ir_unary(g, unary[i], x, L0);
  ir_cast(g, x, IR_F64, L0);
  ir_cast(g, y, IR_F32, L0);
  ir_unary(g, IR_OP_PART_SUM, x, L0);
  IrShape ts = sh(g, "T");
  IrRef r = ir_input(g, "r", IR_F32, &ts, L0);
  IrRef lt = IR_NONE;
  for (int op = IR_OP_ADD; op <= IR_OP_NE; op++) {
    IrRef v = ir_binary(g, (IrOp)op, x, r, L0);
    if (op == IR_OP_LT) lt = v;
  }
  ir_binary(g, IR_OP_EQ, io, io, L0);
  ir_binary(g, IR_OP_HASH, x, r, L0);
  ir_binary(g, IR_OP_GELU_GRAD, x, r, L0);
  IrRef wh = ir_where(g, lt, x, r, L0);
  ir_reduce(g, IR_OP_MAX, wh, 2, true, L0);
  IrRef mm = ir_matmul(g, x, w, L0);
  IrShape flat = sh(g, "B*T");
  ir_reshape(g, x, &flat, L0);
  ir_permute(g, x, (uint8_t[]){1, 0}, L0);
  IrShape es = sh(g, "2,B,T");
  ir_expand(g, r, &es, L0);
  ir_slice(g, x, (int64_t[]){1, 0}, (int64_t[]){2, 1}, (int64_t[]){2, 3}, L0);
  ir_pad(g, x, (int64_t[]){0, 1}, (int64_t[]){0, 2}, L0);
  ir_concat(g, (IrRef[]){x, x, x}, 3, 0, L0);
  IrRef uf = ir_unfold(g, x, 1, (int64_t[]){2}, (int64_t[]){1}, (int64_t[]){1}, L0);
  ir_fold(g, uf, 1, &ir_node(g, x)->shape.d[1], (int64_t[]){1}, (int64_t[]){1}, L0);
  IrRef ga = ir_gather(g, w, y, L0);
  IrRef sc = ir_scatter_add(g, ga, y, ir_dim_sym(g, 1), L0);
  IrRef loss = ir_reduce(g, IR_OP_SUM, mm, 3, false, L0);
  ir_add_output(g, IR_OUT_OUTPUT, "logits", mm);
  ir_add_output(g, IR_OUT_LOSS, "loss", loss);
  ir_add_output(g, IR_OUT_GRAD, "fc1.weight", sc);
  return g;
}

static void test_ir_print_parse_round_trip_every_op(void) {
  IrGraph *g = every_op_graph();
  CU_ASSERT_EQUAL_FATAL(diag.nerrors, 0);
  bool seen[IR_OP_COUNT] = {0};
  for (uint32_t i = 0; i < g->nnodes; i++) seen[g->nodes[i].op] = true;
  for (int op = 0; op < IR_OP_COUNT; op++) {
    if (!seen[op]) fprintf(stderr, "\n  op %s is missing from the round-trip graph\n", ir_ops[op].name);
    CU_ASSERT_TRUE(seen[op]);
  }
  CU_ASSERT_TRUE(ir_verify(g, &diag));
  char *a = print_graph(g);
  IrGraph *h = ir_parse(a, 0, &diag);
  if (!h) fprintf(stderr, "\n%s\n%s", diag.buf.s, a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  char *b = print_graph(h);
  CU_ASSERT_STRING_EQUAL(a, b);
  CU_ASSERT_TRUE(ir_verify(h, &diag));
  EXPECT_NO_DIAG();
  /* spot checks on what the text says */
  CU_ASSERT_PTR_NOT_NULL(strstr(a, "graph @every-op {\n  dim B = 4\n  dim T = 3\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, "%1 = input \"lab\\\"el\\\\s\\n\" : i32[B]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " kaiming_uniform(a=2.2360679774997898, fan_out=true) : f32[T,5]"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " uniform(a=-0.035714285714285712, b=0.035714285714285712) : f32[5]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " zeros : f32[5]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " ones : f64[5]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " none : f32[5]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " = const -inf : f32[]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " = const nan : f32[]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " = const 0.10000000000000001 : f32[]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " = iota axis=1 : i32[B,T]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " = max %"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " axes=[1] keepdims=true : f32[B,1]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " axes=[0,1] keepdims=false : f32[]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " perm=[1,0] : f32[T,B]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " start=[1,0] step=[2,1] : f32[2,T]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " start=[0,1] : f32[B,6]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, "%0, %0, %0 axis=0 : f32[3*B,T]\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, " : f32[B*T]\n"));
  const char *line0 = strstr(a, "  %0 = input \"x\" : f32[B,T]   "), *loc = strstr(a, "loc(1:3:5)\n");
  CU_ASSERT_TRUE(line0 && loc && loc - line0 == 63);   /* loc(...) starts in column 64 */
  CU_ASSERT_PTR_NOT_NULL(strstr(a, "  output \"logits\" = %"));
  CU_ASSERT_PTR_NOT_NULL(strstr(a, "  grad \"fc1.weight\" = %"));
  CU_ASSERT_EQUAL(h->nodes[ir_find_param(h, "p4.bias")].attr.init.b, 0.02);
  CU_ASSERT_EQUAL(h->nodes[0].loc.col, 5);
  CU_ASSERT_STRING_EQUAL(h->nodes[1].name, "lab\"el\\s\n");
  free(a);
  free(b);
  ir_graph_free(h);
  end_graph(g);
}

/* The example of the text format in docs/ir.md, with its odd spellings
   (B*2, a loss that is not a scalar): it parses, the verifier objects. */
static void test_ir_parse_reference_example(void) {
  const char *text =
      "# comments start with '#' and run to end of line\n"
      "graph @mlp {\n"
      "  dim B = 128\n"
      "  %0 = input \"x\" : f32[B,784]                                  loc(1:3:3)\n"
      "  %1 = input \"y\" : i32[B]                                      loc(1:4:3)\n"
      "  %2 = param \"fc1.weight\" kaiming_uniform(a=2.2360679774997898) : f32[512,784]   loc(2:3:3)\n"
      "  %3 = param \"fc1.bias\" uniform(a=-0.035714285714285712, b=0.035714285714285712) : f32[512]\n"
      "  %4 = permute %2 perm=[1,0] : f32[784,512]\n"
      "  %5 = matmul %0, %4 : f32[B,512]\n"
      "  %6 = add %5, %3 : f32[B,512]\n"
      "  %7 = const 0 : f32[]\n"
      "  %8 = sum %6 axes=[1] keepdims=true : f32[B,1]\n"
      "  %9 = slice %6 start=[0,2] step=[1,2] : f32[B,3]\n"
      "  %10 = pad %9 start=[0,1] : f32[B,8]\n"
      "  %11 = concat %9, %9 axis=1 : f32[B,6]\n"
      "  %12 = iota axis=0 : i32[17,17]\n"
      "  %13 = cast %1 : f32[B]\n"
      "  %14 = gather %3, %1 : f32[B]\n"
      "  %15 = scatter_add %14, %1 : f32[512]\n"
      "  %16 = reshape %6 : f32[B*2,256]\n"
      "  %17 = expand %7 : f32[B,512]\n"
      "  output \"logits\" = %6\n"
      "  loss \"loss\" = %8\n"
      "  grad \"fc1.weight\" = %5\n"
      "}\n";
  mc_diag_init(&diag, NULL, NULL);
  IrGraph *g = ir_parse(text, 0, &diag);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  EXPECT_NO_DIAG();
  CU_ASSERT_EQUAL(g->nnodes, 18);
  CU_ASSERT_EQUAL(g->nouts, 3);
  CU_ASSERT_STRING_EQUAL(g->name, "mlp");
  CU_ASSERT_STRING_EQUAL(ty(g, 16), "f32[2*B,256]");
  CU_ASSERT_EQUAL(g->nodes[2].loc.line, 3);
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  check_diag("modelc: error: loss \"loss\" must be a float scalar, not f32[B,1]\n"
             "modelc: error: grad \"fc1.weight\" has type f32[B,512], but param \"fc1.weight\" is "
             "f32[512,784]\n", __LINE__);
  char *a = print_graph(g);
  IrGraph *h = ir_parse(a, 0, &diag);
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  char *b = print_graph(h);
  CU_ASSERT_STRING_EQUAL(a, b);
  free(a);
  free(b);
  ir_graph_free(h);
  ir_graph_free(g);
  mc_diag_fini(&diag);
}

static void test_ir_parse_quoted_graph_name_and_comments(void) {
  mc_diag_init(&diag, NULL, NULL);
  IrGraph *g = ir_graph_new("my model", &diag);
  ir_add_output(g, IR_OUT_OUTPUT, "c", ir_const(g, 1, IR_BOOL, L0));
  char *a = print_graph(g);
  CU_ASSERT_STRING_EQUAL(a, "graph @\"my model\" {\n  %0 = const 1 : bool[]\n  output \"c\" = %0\n}\n");
  IrGraph *h = ir_parse("# leading comment\ngraph @\"my model\" { # trailing\n"
                        "%0 = const 1 : bool[] output \"c\" = %0 }", 0, &diag);
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  char *b = print_graph(h);
  CU_ASSERT_STRING_EQUAL(a, b);
  free(a);
  free(b);
  ir_graph_free(h);
  end_graph(g);
}

/* ---- parser errors ---------------------------------------------------------------------------- */

/* Parses text registered as "t.mir" (without its text, so messages are one
   line) and checks that it fails with exactly `want`. */
static void check_parse_error(const char *text, const char *want, int line) {
  McSources src;
  mc_sources_init(&src);
  uint32_t f = mc_sources_add(&src, "t.mir", NULL, 0);
  mc_diag_init(&diag, &src, NULL);
  IrGraph *g = ir_parse(text, f, &diag);
  CU_ASSERT_PTR_NULL(g);
  ir_graph_free(g);
  check_diag(want, line);
  mc_diag_fini(&diag);
  mc_sources_free(&src);
}

#define EXPECT_PARSE_ERR(text, pos, msg) \
  check_parse_error(text, "t.mir:" pos ": error: " msg "\n", __LINE__)

static void test_ir_parse_errors(void) {
  EXPECT_PARSE_ERR("", "1:1", "expected 'graph', found end of input");
  EXPECT_PARSE_ERR("graph g {}", "1:7", "expected a graph name like @model, found 'g'");
  EXPECT_PARSE_ERR("graph @g {", "1:11", "expected a node, dim, output, loss, grad, update or '}', found end of input");
  EXPECT_PARSE_ERR("graph @g {} x", "1:13", "expected end of input, found 'x'");
  EXPECT_PARSE_ERR("graph @g {\n  %0 = frobnicate : f32[]\n}", "2:8", "unknown op 'frobnicate'");
  EXPECT_PARSE_ERR("graph @g {\n  %0 = ad : f32[]\n}", "2:8", "unknown op 'ad' (did you mean 'add'?)");
  EXPECT_PARSE_ERR("graph @g {\n  %1 = const 0 : f32[]\n}", "2:3", "expected node id %0, found %1");
  EXPECT_PARSE_ERR("graph @g {\n  %0 = neg %3 : f32[]\n}", "2:12", "%3 is not defined");
  EXPECT_PARSE_ERR("graph @g { %0 = const 0 : f16[] }", "1:27", "unknown dtype 'f16'");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[T] }", "1:33", "unknown dim 'T'");
  EXPECT_PARSE_ERR("graph @g { dim B = 2\n dim B = 3 }", "2:6", "duplicate dim 'B'");
  EXPECT_PARSE_ERR("graph @g { dim B = 99999999999 }", "1:20",
                   "integer 99999999999 out of range [0, 2147483647]");
  EXPECT_PARSE_ERR("graph @g { %0 = const 0 : f32[]\n %1 = neg %0 axis=1 : f32[] }", "2:14",
                   "unknown attribute 'axis' for neg");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[3]\n %1 = sum %0 : f32[] }", "2:7",
                   "missing attribute 'axes' for sum");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[3]\n %1 = sum %0 axes=[0] axes=[0] : f32[] }",
                   "2:23", "duplicate attribute 'axes'");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[3]\n %1 = sum %0 axes=[0,0] : f32[] }",
                   "2:22", "axis 0 repeated in axes");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[3,4]\n %1 = permute %0 perm=[1,0,2] : f32[4,3] }",
                   "2:7", "perm has 3 entries, but the operand has rank 2");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[3]\n %1 = neg %0 : f32[4] }", "2:16",
                   "type mismatch: %1 = neg computes f32[3], written f32[4]");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[3]\n %1 = lt %0, %0 : f32[3] }", "2:19",
                   "type mismatch: %1 = lt computes bool[3], written f32[3]");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[3]\n %1 = input \"y\" : f32[4]\n"
                   " %2 = add %0, %1 : f32[3] }",
                   "3:7", "cannot add f32[3] and f32[4]: dims 3 and 4 do not broadcast");
  EXPECT_PARSE_ERR("graph @g { %0 = const 0 : f32[]\n %1 = add %0 : f32[] }", "2:7",
                   "add takes 2 operands, not 1");
  EXPECT_PARSE_ERR("graph @g { %0 = const 0 : f32[]\n %1 = add %0, : f32[] }", "2:15",
                   "expected an operand, found ':'");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x : f32[] }", "1:23", "unterminated string");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"\\q\" : f32[] }", "1:24", "unknown escape in string");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"\\x00\" : f32[] }", "1:24", "NUL character in string");
  EXPECT_PARSE_ERR("graph @g { $ }", "1:12", "unexpected character '$'");
  EXPECT_PARSE_ERR("graph @g { \x01 }", "1:12", "unexpected byte 0x01");
  EXPECT_PARSE_ERR("graph @g { %0 = param \"w\" glorot : f32[3] }", "1:27", "unknown initializer 'glorot'");
  EXPECT_PARSE_ERR("graph @g { %0 = param \"w\" uniform(a=0, c=1) : f32[3] }", "1:40",
                   "unknown parameter 'c' for initializer uniform");
  EXPECT_PARSE_ERR("graph @g { %0 = param \"w\" zeros(a=1) : f32[3] }", "1:33",
                   "unknown parameter 'a' for initializer zeros");
  EXPECT_PARSE_ERR("graph @g { %0 = param \"w\" zeros : i32[3] }", "1:17",
                   "cannot param i32[3] \"w\": needs a float dtype");
  EXPECT_PARSE_ERR("graph @g { %0 = const x : f32[] }", "1:23", "expected a number, found 'x'");
  EXPECT_PARSE_ERR("graph @g { %0 = input x : f32[] }", "1:23", "expected a name string, found 'x'");
  EXPECT_PARSE_ERR("graph @g { %0 = const 0 : f32[1,2,3,4,5,6,7,8,9] }", "1:47",
                   "too many dims (rank at most 8)");
  EXPECT_PARSE_ERR("graph @g { %0 = const 0 : f32[] loc(1:2) }", "1:40", "expected ':', found ')'");
  EXPECT_PARSE_ERR("graph @g { %0 = const 0 : f32[]\n output \"o\" = %4 }", "2:15", "%4 is not defined");
  EXPECT_PARSE_ERR("graph @g { output o = %0 }", "1:19", "expected a name string, found 'o'");
  EXPECT_PARSE_ERR("graph @g { %0 = const 0 : f32[] %1 = iota : i32[3] }", "1:38",
                   "missing attribute 'axis' for iota");
  EXPECT_PARSE_ERR("graph @g { %0 = input \"x\" : f32[3] %1 = sum %0 axes=[0] keepdims=maybe : f32[] }",
                   "1:66", "expected true or false, found 'maybe'");
}

/* Every prefix and many one-byte mutations of a valid text: the parser
   either fails with a diagnostic or returns a graph the verifier accepts. */
static void test_ir_parse_survives_mutations(void) {
  IrGraph *g = every_op_graph();
  char *text = print_graph(g);
  end_graph(g);
  size_t n = strlen(text);
  char *buf = malloc(n + 1);
  const char subst[] = {'0', '9', '%', ',', ']', '"', '\\', '*', '-', 'x', ' ', '\n', '#', '{'};
  int parsed = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k <= MC_COUNTOF(subst); k++) {
      memcpy(buf, text, n + 1);
      if (k == MC_COUNTOF(subst)) buf[i] = 0;     /* prefix */
      else if ((i * 7 + k) % 5 != 0) continue;  /* a sample of the substitutions */
      else buf[i] = subst[k];
      mc_diag_init(&diag, NULL, NULL);
      IrGraph *h = ir_parse(buf, 0, &diag);
      if (h) {
        parsed++;
        CU_ASSERT_EQUAL(diag.nerrors, 0);
        bool ok = ir_verify(h, &diag);
        /* a mutation may only break outputs (e.g. a loss now non-scalar) */
        if (!ok) CU_ASSERT_PTR_NOT_NULL(strstr(diag.buf.s, "loss") ? diag.buf.s : strstr(diag.buf.s, "grad"));
        ir_graph_free(h);
      } else {
        failed++;
        CU_ASSERT_EQUAL(diag.nerrors, 1);
      }
      mc_diag_fini(&diag);
    }
  }
  CU_ASSERT_TRUE(parsed > 0 && failed > 0);
  free(buf);
  free(text);
}

/* ---- DOT -------------------------------------------------------------------------------------------- */

static void test_ir_dot_output(void) {
  IrGraph *g = small_graph();
  g->nodes[0].name = "x \"in\"";
  McStr s;
  mc_str_init(&s);
  ir_print_dot(&s, g);
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "digraph \"small\" {\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "  n0 [label=\"%0 input\\nf32[3,4]\\n\\\"x \\\"in\\\"\\\"\", shape=ellipse"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "  n1 [label=\"%1 param\\nf32[4,2]\\n\\\"w\\\"\", shape=box, style=\"rounded,filled\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "  n2 [label=\"%2 matmul\\nf32[3,2]\", shape=box];\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "  n0 -> n2 [label=\"0\"];\n  n1 -> n2 [label=\"1\"];\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "  n2 -> n3;\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "  out1 [label=\"loss \\\"loss\\\"\", shape=doubleoctagon"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "  n3 -> out1;\n"));
  CU_ASSERT_EQUAL(s.s[s.len - 2], '}');
  /* when Graphviz is installed, it must accept the text */
  if (system("command -v dot >/dev/null 2>&1") == 0) {
    FILE *p = popen("dot -Tsvg >/dev/null 2>&1", "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    fputs(s.s, p);
    CU_ASSERT_EQUAL(pclose(p), 0);
  }
  mc_str_free(&s);
  end_graph(g);
}

/* ---- docs/ir.md ------------------------------------------------------------------------------------- */

/* Every ```mir block of the IR reference parses and verifies. */
static void test_ir_docs_examples_parse_and_verify(void) {
  size_t len;
  const char *err;
  char *doc = mc_read_file(MODELC_SOURCE_DIR "/docs/ir.md", &len, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  int blocks = 0;
  for (char *p = strstr(doc, "```mir\n"); p; p = strstr(p, "```mir\n")) {
    char *body = p + 7, *end = strstr(body, "\n```");
    CU_ASSERT_PTR_NOT_NULL_FATAL(end);
    end[1] = 0;
    mc_diag_init(&diag, NULL, NULL);
    IrGraph *g = ir_parse(body, 0, &diag);
    if (g) ir_verify(g, &diag);
    if (diag.nerrors) fprintf(stderr, "\n  docs/ir.md block %d:\n%s", blocks + 1, diag.buf.s);
    CU_ASSERT_PTR_NOT_NULL(g);
    CU_ASSERT_EQUAL(diag.nerrors, 0);
    ir_graph_free(g);
    mc_diag_fini(&diag);
    blocks++;
    p = end + 2;
  }
  CU_ASSERT_TRUE(blocks >= 3);
  free(doc);
}

int main(void) {
  static const TestCase cases[] = {
      {"ops_table_names_round_trip", test_ir_ops_table_names_round_trip},
      {"dtype_and_init_names", test_ir_dtype_and_init_names},
      {"dims_products_and_printing", test_ir_dims_products_and_printing},
      {"dims_division", test_ir_dims_division},
      {"syms_add_find", test_ir_syms_add_find},
      {"bind_sym_recomputes_every_dim", test_ir_bind_sym_recomputes_every_dim},
      {"build_checks_arity_and_operands", test_ir_build_checks_arity_and_operands},
      {"shape_sources", test_ir_shape_sources},
      {"shape_unary", test_ir_shape_unary},
      {"shape_binary_broadcast", test_ir_shape_binary_broadcast},
      {"shape_binary_dtypes", test_ir_shape_binary_dtypes},
      {"shape_where", test_ir_shape_where},
      {"shape_reduce", test_ir_shape_reduce},
      {"shape_matmul", test_ir_shape_matmul},
      {"shape_reshape_permute_expand", test_ir_shape_reshape_permute_expand},
      {"shape_slice", test_ir_shape_slice},
      {"shape_pad", test_ir_shape_pad},
      {"shape_concat", test_ir_shape_concat},
      {"shape_gather_scatter", test_ir_shape_gather_scatter},
      {"sum_to_reverses_broadcasting", test_ir_sum_to_reverses_broadcasting},
      {"outputs_and_lookup", test_ir_outputs_and_lookup},
      {"clone_and_copy_node", test_ir_clone_and_copy_node},
      {"verify_accepts_valid_graph", test_ir_verify_accepts_valid_graph},
      {"verify_rejects_broken_nodes", test_ir_verify_rejects_broken_nodes},
      {"verify_rejects_bad_attributes", test_ir_verify_rejects_bad_attributes},
      {"verify_rejects_bad_outputs", test_ir_verify_rejects_bad_outputs},
      {"verify_rejects_stale_dims", test_ir_verify_rejects_stale_dims},
      {"print_parse_round_trip_every_op", test_ir_print_parse_round_trip_every_op},
      {"parse_reference_example", test_ir_parse_reference_example},
      {"parse_quoted_graph_name_and_comments", test_ir_parse_quoted_graph_name_and_comments},
      {"parse_errors", test_ir_parse_errors},
      {"parse_survives_mutations", test_ir_parse_survives_mutations},
      {"dot_output", test_ir_dot_output},
      {"docs_examples_parse_and_verify", test_ir_docs_examples_parse_and_verify},
  };
  return test_main("ir", cases, MC_COUNTOF(cases));
}
