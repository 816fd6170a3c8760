/* test_diagnostics.c -- every class of front-end diagnostic with its exact
   text: location, message, source line and caret, plus notes. Sources are
   compiled as "t.model"; several errors per run where the front end can
   keep going, and one error only where a poisoned value would cascade. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fe.h"
#include "test_util.h"

/* Compiles src with -D defines and max_errors (0 = the default); the
   diagnostics must equal `want` exactly and no graph may come back. */
static void expect_diag_opts(const char *src, const FeDefine *defs, int ndefs, int max_errors,
                             const char *want) {
  McSources s;
  McDiag d;
  mc_sources_init(&s);
  mc_diag_init(&d, &s, NULL);
  if (max_errors) d.max_errors = max_errors;
  FeOptions o = {.defines = defs, .ndefines = ndefs};
  IrGraph *g = fe_compile_string("t.model", src, &o, &s, &d);
  CU_ASSERT_PTR_NULL(g);
  if (strcmp(d.buf.s, want) != 0) fprintf(stderr, "\n--- got:\n%s--- want:\n%s---\n", d.buf.s, want);
  CU_ASSERT_STRING_EQUAL(d.buf.s, want);
  ir_graph_free(g);
  mc_diag_fini(&d);
  mc_sources_free(&s);
}

static void expect_diag(const char *src, const char *want) {
  expect_diag_opts(src, NULL, 0, 0, want);
}

/* Convolutions and pools: a kernel larger than its padded input, channels
   that groups does not divide, a pool that leaves no output, a weight of
   the wrong channel count; each names both shapes (or the counts). */
static void test_diagnostics_conv_shapes(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 3, 4, 4]\n"
      "  param w: f32[8, 3, 5, 5]\n"
      "  output y = conv2d(x, w, padding = 0)\n"
      "}\n",
      "t.model:4:14: error: conv2d: kernel 5x5 is larger than input f32[2,3,4,4]\n"
      "    output y = conv2d(x, w, padding = 0)\n"
      "               ^~~~~~\n");
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 3, 8, 8]\n"
      "  conv = conv2d(3, 8, 3, groups = 2)\n"
      "  output y = conv(x)\n"
      "}\n",
      "std/nn.model:77:35: error: groups 2 must divide in_channels 3 and out_channels 8\n"
      "    param weight: f32[out_channels, conv_group_channels(in_channels, out_channels, groups),\n"
      "                                    ^~~~~~~~~~~~~~~~~~~\n"
      "t.model:3:10: note: in 'conv' (conv2d) created here\n"
      "    conv = conv2d(3, 8, 3, groups = 2)\n"
      "           ^~~~~~\n");
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 3, 2, 2]\n"
      "  output y = max_pool2d(x, 3)\n"
      "}\n",
      "t.model:3:14: error: max_pool2d: kernel 3x3 is larger than input f32[2,3,2,2] (no output)\n"
      "    output y = max_pool2d(x, 3)\n"
      "               ^~~~~~~~~~\n");
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 3, 6, 6]\n"
      "  param w: f32[4, 2, 3, 3]\n"
      "  output y = avg_pool2d(x, 3, padding = 1, stride = 2)\n"
      "  output z = conv2d(x, w)\n"
      "}\n",
      "t.model:5:24: error: conv2d: weight f32[4,2,3,3] takes 2 input channels per group, but "
      "input f32[2,3,6,6] has 3 channels in 1 group\n"
      "    output z = conv2d(x, w)\n"
      "                         ^\n");
}

static void test_diagnostics_syntax_expected_tokens(void) {
  expect_diag(
      "model m {\n"
      "  y = f(1, 2 x)\n"
      "}\n",
      "t.model:2:14: error: expected ')' or ',' before 'x'\n"
      "    y = f(1, 2 x)\n"
      "               ^\n");
}

static void test_diagnostics_syntax_several_errors(void) {
  expect_diag(
      "model m {\n"
      "  x = (1 +\n"
      "  y = 2\n"
      "  z = [1, 2\n"
      "  w = 3 3\n"
      "  minimize\n"
      "}\n",
      "t.model:3:5: error: expected ')' before '='\n"
      "    y = 2\n"
      "      ^\n"
      "t.model:2:7: note: to match this '('\n"
      "    x = (1 +\n"
      "        ^\n"
      "t.model:4:12: error: expected ',' or ']' before end of line\n"
      "    z = [1, 2\n"
      "             ^\n"
      "t.model:4:7: note: to match this '['\n"
      "    z = [1, 2\n"
      "        ^\n"
      "t.model:6:11: error: expected an expression before end of line\n"
      "    minimize\n"
      "            ^\n");
}

static void test_diagnostics_syntax_missing_brace(void) {
  expect_diag(
      "model m {\n"
      "  x = 1\n",
      "t.model:2:8: error: expected a statement or '}' before end of file\n"
      "    x = 1\n"
      "         ^\n");
}

static void test_diagnostics_unknown_name_suggestion(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  minimize sum(rleu(x))\n"
      "}\n",
      "t.model:3:16: error: unknown name 'rleu'; did you mean 'relu'?\n"
      "    minimize sum(rleu(x))\n"
      "                 ^~~~\n");
}

static void test_diagnostics_unknown_name_plain(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  minimize sum(x * scale_factor)\n"
      "}\n",
      "t.model:3:20: error: unknown name 'scale_factor'\n"
      "    minimize sum(x * scale_factor)\n"
      "                     ^~~~~~~~~~~~\n");
}

static void test_diagnostics_member_suggestion(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  fc = linear(4, 2)\n"
      "  minimize sum(fc.wieght)\n"
      "}\n",
      "t.model:4:19: error: 'fc' (linear) has no member 'wieght'; did you mean 'weight'?\n"
      "    minimize sum(fc.wieght)\n"
      "                    ^~~~~~\n");
}

/* `w = param f32[5, 4] = normal()` (torch's nn.Parameter habit): one error
   that spells the statement meant, and the next line is not blamed. */
static void test_diagnostics_param_as_expression(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 4]\n"
      "  w = param f32[5, 4] = normal()  # a weight\n"
      "  y = x @ transpose(w)\n"
      "  b = param(f32[5])\n"
      "  v = input f32[2, 4]\n"
      "  output y\n"
      "}\n",
      "t.model:3:7: error: 'param' starts a statement of its own, not an expression: write "
      "`param w: f32[5, 4] = normal()`\n"
      "    w = param f32[5, 4] = normal()  # a weight\n"
      "        ^~~~~\n"
      "t.model:5:7: error: 'param' starts a statement of its own, not an expression: write "
      "`param b: f32[5] = INIT`\n"
      "    b = param(f32[5])\n"
      "        ^~~~~\n"
      "t.model:6:7: error: 'input' starts a statement of its own, not an expression: write "
      "`input v: f32[2, 4]`\n"
      "    v = input f32[2, 4]\n"
      "        ^~~~~\n");
}

/* A call left open: the error is at the end of its line, not at the next
   (correct) line, and a note shows the bracket; the next line is skipped
   with the statement, not reported. */
static void test_diagnostics_unclosed_call(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 4]\n"
      "  y = relu(x\n"
      "  z = y\n"
      "  output x\n"
      "}\n",
      "t.model:3:13: error: expected ')' or ',' before end of line\n"
      "    y = relu(x\n"
      "              ^\n"
      "t.model:3:11: note: to match this '('\n"
      "    y = relu(x\n"
      "            ^\n");
}

/* Tensor methods and attributes from PyTorch name the builtin that does it
   (or the static type). */
static void test_diagnostics_tensor_members(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 4]\n"
      "  fc = linear(4, 5)\n"
      "  a = x @ fc.weight.T\n"
      "  b = x.shape\n"
      "  c = x.view(8)\n"
      "  d = (x + 1).sum()\n"
      "  output x\n"
      "}\n",
      "t.model:4:21: error: a tensor has no member 'T': tensors have no methods; write "
      "transpose(fc.weight)\n"
      "    a = x @ fc.weight.T\n"
      "                      ^\n"
      "t.model:5:9: error: a tensor has no member 'shape': types are static, x is f32[2,4] "
      "(name a dim to use it, as B in f32[B, 10])\n"
      "    b = x.shape\n"
      "          ^~~~~\n"
      "t.model:6:9: error: a tensor has no member 'view': tensors have no methods; write "
      "reshape(x, [d...])\n"
      "    c = x.view(8)\n"
      "          ^~~~\n"
      "t.model:7:15: error: a tensor has no member 'sum': tensors have no methods; write "
      "sum(x, axis = a)\n"
      "    d = (x + 1).sum()\n"
      "                ^~~\n");
}

/* Names from PyTorch: modules, torch's class names (case and underscores
   aside), functions spelled otherwise here. */
static void test_diagnostics_foreign_names(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 4]\n"
      "  a = torch.relu(x)\n"
      "  b = matmul(x, x)\n"
      "  n = LayerNorm(4)\n"
      "  c = cat([x, x])\n"
      "  output x\n"
      "}\n",
      "t.model:3:7: error: unknown name 'torch'; there are no modules: builtins and std blocks "
      "are called by name, as relu(x) or linear(784, 512)\n"
      "    a = torch.relu(x)\n"
      "        ^~~~~\n"
      "t.model:4:7: error: unknown name 'matmul'; use the '@' operator: a @ b\n"
      "    b = matmul(x, x)\n"
      "        ^~~~~~\n"
      "t.model:5:7: error: unknown name 'LayerNorm'; did you mean 'layer_norm'?\n"
      "    n = LayerNorm(4)\n"
      "        ^~~~~~~~~\n"
      "t.model:6:7: error: unknown name 'cat'; did you mean 'concat'?\n"
      "    c = cat([x, x])\n"
      "        ^~~\n");
}

/* An expression compiled into the model as one more output (the REPL's
   `print EXPR`): its errors point into its own source, at its line and
   column there, and a number becomes a scalar tensor. */
static void test_diagnostics_extra_expression(void) {
  const char *model = "model m {\n  input x: f32[2, 4]\n  output x\n}\n";
  McSources s;
  McDiag d;
  mc_sources_init(&s);
  mc_diag_init(&d, &s, NULL);
  uint32_t line = mc_sources_add_at(&s, "<repl>", "print x @ 3", 11, 7);
  FeOptions o = {.extra_output = "value", .extra_file = line, .extra_offset = 6};
  IrGraph *g = fe_compile_string("t.model", model, &o, &s, &d);
  CU_ASSERT_PTR_NULL(g);
  CU_ASSERT_STRING_EQUAL(d.buf.s, "<repl>:7:9: error: '@' needs two tensors, got a number\n"
                                  "  print x @ 3\n"
                                  "          ^\n");
  line = mc_sources_add_at(&s, "<repl>", "print (x +", 10, 8);
  o.extra_file = line;
  g = fe_compile_string("t.model", model, &o, &s, &d);
  CU_ASSERT_PTR_NULL(g);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.buf.s, "<repl>:8:11: error: expected an expression before end of line\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d.buf.s, "<repl>:8:7: note: to match this '('\n"));
  int errors = d.nerrors;
  line = mc_sources_add_at(&s, "<repl>", "print 2 * 3", 11, 9);
  o.extra_file = line;
  g = fe_compile_string("t.model", model, &o, &s, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_EQUAL(d.nerrors, errors);
  const IrOutput *out = ir_find_output(g, IR_OUT_OUTPUT, "value");
  CU_ASSERT_PTR_NOT_NULL(out);
  if (out) CU_ASSERT_EQUAL(ir_node(g, out->ref)->shape.rank, 0);
  ir_graph_free(g);
  mc_diag_fini(&d);
  mc_sources_free(&s);
}

static void test_diagnostics_builtin_arg_count(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  minimize sum(relu(x, x))\n"
      "}\n",
      "t.model:3:16: error: relu expects 1 argument, got 2\n"
      "    minimize sum(relu(x, x))\n"
      "                 ^~~~\n");
}

static void test_diagnostics_block_arg_kind(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  fc = linear(x, 3)\n"
      "  minimize sum(fc(x))\n"
      "}\n",
      "t.model:3:15: error: linear expects a number for 'in_features', got a tensor\n"
      "    fc = linear(x, 3)\n"
      "                ^\n");
}

static void test_diagnostics_block_arg_count(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  fc = linear(4)\n"
      "  minimize sum(fc(x))\n"
      "}\n",
      "t.model:3:8: error: linear expects 2 to 3 arguments, got 1\n"
      "    fc = linear(4)\n"
      "         ^~~~~~\n");
}

static void test_diagnostics_unknown_keyword(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4, 2]\n"
      "  minimize sum(x, axes = 0)\n"
      "}\n",
      "t.model:3:26: error: sum has no argument 'axes'; did you mean 'axis'?\n"
      "    minimize sum(x, axes = 0)\n"
      "                           ^\n");
}

static void test_diagnostics_redefinition(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  y = relu(x)\n"
      "  y = exp(x)\n"
      "  minimize sum(y)\n"
      "}\n",
      "t.model:4:3: error: 'y' is already defined\n"
      "    y = exp(x)\n"
      "    ^\n"
      "t.model:3:3: note: previous definition of 'y' is here\n"
      "    y = relu(x)\n"
      "    ^\n");
}

static void test_diagnostics_block_redefinition(void) {
  expect_diag(
      "block twice(n) { }\n"
      "block twice(n) { }\n"
      "model m {\n"
      "  input x: f32[4]\n"
      "  minimize sum(x)\n"
      "}\n",
      "t.model:2:7: error: block 'twice' is already defined\n"
      "  block twice(n) { }\n"
      "        ^~~~~\n"
      "t.model:1:7: note: previous definition of 'twice' is here\n"
      "  block twice(n) { }\n"
      "        ^~~~~\n");
}

static void test_diagnostics_missing_minimize(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  y = relu(x)\n"
      "}\n",
      "t.model:1:7: error: model 'm' computes nothing: add 'output NAME' or 'minimize EXPR'\n"
      "  model m {\n"
      "        ^\n");
}

static void test_diagnostics_duplicate_minimize(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  minimize sum(x)\n"
      "  minimize mean(x)\n"
      "}\n",
      "t.model:4:3: error: a model has one loss: 'minimize' appears twice\n"
      "    minimize mean(x)\n"
      "    ^~~~~~~~\n"
      "t.model:3:3: note: the first 'minimize' is here\n"
      "    minimize sum(x)\n"
      "    ^~~~~~~~\n");
}

static void test_diagnostics_int_float_misuse(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  input idx: i32[4]\n"
      "  a = exp(idx)\n"
      "  b = idx + 0.5\n"
      "  c = x * idx\n"
      "  minimize sum(x)\n"
      "}\n",
      "t.model:4:11: error: exp expects a float tensor for 'x', got i32[4]; convert it with float(...)\n"
      "    a = exp(idx)\n"
      "            ^~~\n"
      "t.model:5:11: error: cannot combine i32[4] with the float 0.5; convert it with float(...)\n"
      "    b = idx + 0.5\n"
      "            ^\n"
      "t.model:6:9: error: operands of '*' have different types f32[4] and i32[4]; convert with float(...)\n"
      "    c = x * idx\n"
      "          ^\n");
}

static void test_diagnostics_shape_error_in_std(void) {
  expect_diag(
      "model m {\n"
      "  B = 8\n"
      "  input x: f32[B, 10]\n"
      "  fc1 = linear(20, 10)\n"
      "  minimize mean(fc1(x))\n"
      "}\n",
      "std/nn.model:13:18: error: cannot matmul f32[B,10] by f32[20,10]: inner dims 10 and 20 differ\n"
      "    forward(x) = x @ transpose(weight) + bias\n"
      "                   ^\n"
      "t.model:5:17: note: in 'fc1' (linear) called here\n"
      "    minimize mean(fc1(x))\n"
      "                  ^~~\n");
}

static void test_diagnostics_shape_error_user(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4, 3]\n"
      "  input y: f32[3, 4]\n"
      "  minimize sum(x + y)\n"
      "}\n",
      "t.model:4:18: error: cannot add f32[4,3] and f32[3,4]: dims 4 and 3 do not broadcast\n"
      "    minimize sum(x + y)\n"
      "                   ^\n");
}

static void test_diagnostics_loss_not_scalar(void) {
  expect_diag(
      "model m {\n"
      "  B = 8\n"
      "  input x: f32[B, 10]\n"
      "  minimize x * 2\n"
      "}\n",
      "t.model:4:14: error: the loss must be a scalar, got f32[B,10]; reduce it with mean(...)\n"
      "    minimize x * 2\n"
      "               ^\n");
}

static void test_diagnostics_poison_suppresses_cascades(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  h = rleu(x)\n"
      "  y = h * 2 + sum(h)\n"
      "  z = linear(4, 2)\n"
      "  minimize sum(z(y))\n"
      "}\n",
      "t.model:3:7: error: unknown name 'rleu'; did you mean 'relu'?\n"
      "    h = rleu(x)\n"
      "        ^~~~\n");
}

static void test_diagnostics_misplaced_statements(void) {
  expect_diag(
      "block b(n) {\n"
      "  input x: f32[n]\n"
      "  forward(x) {\n"
      "    param w: f32[n]\n"
      "    return x\n"
      "  }\n"
      "}\n"
      "model m {\n"
      "  input x: f32[4]\n"
      "  return x\n"
      "  minimize sum(x)\n"
      "}\n",
      "t.model:2:9: error: 'input' is only allowed in a model, not in a block body\n"
      "    input x: f32[n]\n"
      "          ^\n"
      "t.model:4:11: error: 'param' is only allowed in a model or a block body, not in a forward body\n"
      "      param w: f32[n]\n"
      "            ^\n"
      "t.model:10:3: error: 'return' is only allowed in a forward body, not in a model\n"
      "    return x\n"
      "    ^~~~~~\n");
}

static void test_diagnostics_unbound_instance(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  minimize sum(linear(4, 2)(x))\n"
      "}\n",
      "t.model:3:16: error: an instance of 'linear' must be bound to a name: write 'name = linear(...)'\n"
      "    minimize sum(linear(4, 2)(x))\n"
      "                 ^~~~~~\n");
}

static void test_diagnostics_unpack_count(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4, 6]\n"
      "  a, b = split(x, 3)\n"
      "  minimize sum(a)\n"
      "}\n",
      "t.model:3:8: error: cannot unpack 3 values into 2 names\n"
      "    a, b = split(x, 3)\n"
      "         ^\n");
}

static void test_diagnostics_bad_dims(void) {
  expect_diag(
      "model m {\n"
      "  input x: f16[4]\n"
      "  input y: f32[0, 2.5]\n"
      "  minimize sum(y)\n"
      "}\n",
      "t.model:2:12: error: unknown type 'f16' (types are f32, f64 and i32)\n"
      "    input x: f16[4]\n"
      "             ^~~\n"
      "t.model:3:16: error: a dim must be a positive integer, got 0\n"
      "    input y: f32[0, 2.5]\n"
      "                 ^\n"
      "t.model:3:19: error: a dim must be a positive integer, got 2.5\n"
      "    input y: f32[0, 2.5]\n"
      "                    ^~~\n");
}

static void test_diagnostics_index_out_of_range(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4, 3]\n"
      "  minimize sum(x[1, 3])\n"
      "}\n",
      "t.model:3:21: error: index 3 is out of range for axis 1 of size 3\n"
      "    minimize sum(x[1, 3])\n"
      "                      ^\n");
}

static void test_diagnostics_recursive_block(void) {
  expect_diag(
      "block loop(n) {\n"
      "  again = loop(n)\n"
      "}\n"
      "model m {\n"
      "  input x: f32[4]\n"
      "  l = loop(1)\n"
      "  minimize sum(x)\n"
      "}\n",
      "t.model:2:11: error: blocks nested more than 32 deep (does 'loop' use itself?)\n"
      "    again = loop(n)\n"
      "            ^~~~\n");
}

static void test_diagnostics_no_forward_return(void) {
  expect_diag(
      "block b(n) {\n"
      "  forward(x) {\n"
      "    y = x\n"
      "  }\n"
      "}\n"
      "model m {\n"
      "  input x: f32[4]\n"
      "  k = b(1)\n"
      "  minimize sum(k(x))\n"
      "}\n",
      "t.model:2:3: error: forward of 'b' ends without 'return'\n"
      "    forward(x) {\n"
      "    ^~~~~~~\n");
}

static void test_diagnostics_if_condition_tensor(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[4]\n"
      "  if x { y = x }\n"
      "  minimize sum(x)\n"
      "}\n",
      "t.model:3:6: error: 'if' needs a compile-time number as its condition, got a tensor\n"
      "    if x { y = x }\n"
      "       ^\n");
}

/* An error while building a standard library block points back at the
   user's call with a note. */
static void test_diagnostics_construction_error_in_std(void) {
  expect_diag(
      "model m {\n"
      "  input x: f32[2, 10]\n"
      "  fc = linear(10, 0)\n"
      "  minimize sum(fc(x))\n"
      "}\n",
      "std/nn.model:9:21: error: a dim must be a positive integer, got 0\n"
      "    param weight: f32[out_features, in_features] = kaiming_uniform(a = sqrt(5))\n"
      "                      ^~~~~~~~~~~~\n"
      "std/nn.model:11:21: error: a dim must be a positive integer, got 0\n"
      "      param bias: f32[out_features] = uniform(-1 / sqrt(in_features), 1 / sqrt(in_features))\n"
      "                      ^~~~~~~~~~~~\n"
      "t.model:3:8: note: in 'fc' (linear) created here\n"
      "    fc = linear(10, 0)\n"
      "         ^~~~~~\n");
}

/* -D of a name that is not a dim of the model: no location. */
static void test_diagnostics_define_unknown_dim(void) {
  FeDefine defs[] = {{"X", 1}, {"B", 2}};
  expect_diag_opts(
      "model m {\n"
      "  B = 4\n"
      "  input x: f32[B]\n"
      "  minimize sum(x)\n"
      "}\n",
      defs, 2, 0,
      "modelc: error: -D X=1: the model has no dim 'X'\n");
}

static void test_diagnostics_import_not_found(void) {
  expect_diag(
      "import \"no_such_file.model\"\n"
      "model m {\n"
      "  input x: f32[4]\n"
      "  minimize sum(x)\n"
      "}\n",
      "t.model:1:8: error: cannot import 'no_such_file.model': No such file or directory\n"
      "  import \"no_such_file.model\"\n"
      "         ^~~~~~~~~~~~~~~~~~~~\n");
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

/* main.model imports a.model imports b.model imports a.model. */
static void test_diagnostics_import_cycle(void) {
  char dir[] = "/tmp/test_diagnostics_XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  char a[600], b[600], m[600], want[4096];
  snprintf(a, sizeof a, "%s/a.model", dir);
  snprintf(b, sizeof b, "%s/b.model", dir);
  snprintf(m, sizeof m, "%s/main.model", dir);
  write_file(a, "import \"b.model\"\n");
  write_file(b, "# b\nimport \"a.model\"\n");
  write_file(m, "import \"a.model\"\nmodel m {\n  input x: f32[4]\n  minimize sum(x)\n}\n");
  snprintf(want, sizeof want,
           "%s:2:8: error: import cycle: %s -> %s -> %s\n"
           "  import \"a.model\"\n"
           "         ^~~~~~~~~\n",
           b, a, b, a);
  McSources s;
  McDiag d;
  mc_sources_init(&s);
  mc_diag_init(&d, &s, NULL);
  IrGraph *g = fe_compile_file(m, NULL, &s, &d);
  CU_ASSERT_PTR_NULL(g);
  if (strcmp(d.buf.s, want) != 0) fprintf(stderr, "\n--- got:\n%s--- want:\n%s---\n", d.buf.s, want);
  CU_ASSERT_STRING_EQUAL(d.buf.s, want);
  mc_diag_fini(&d);
  mc_sources_free(&s);
  unlink(a);
  unlink(b);
  unlink(m);
  rmdir(dir);
}

/* Reporting stops at McDiag.max_errors. */
static void test_diagnostics_error_limit(void) {
  expect_diag_opts(
      "model m {\n"
      "  a = u1\n"
      "  b = u2\n"
      "  c = u3\n"
      "  d = u4\n"
      "}\n",
      NULL, 0, 2,
      "t.model:2:7: error: unknown name 'u1'\n"
      "    a = u1\n"
      "        ^~\n"
      "t.model:3:7: error: unknown name 'u2'\n"
      "    b = u2\n"
      "        ^~\n"
      "modelc: error: too many errors, stopping\n");
}

/* A file that cannot be read at all. */
static void test_diagnostics_missing_file(void) {
  McSources s;
  McDiag d;
  mc_sources_init(&s);
  mc_diag_init(&d, &s, NULL);
  IrGraph *g = fe_compile_file("/nonexistent/x.model", NULL, &s, &d);
  CU_ASSERT_PTR_NULL(g);
  CU_ASSERT_STRING_EQUAL(d.buf.s,
                         "modelc: error: cannot read '/nonexistent/x.model': No such file or directory\n");
  mc_diag_fini(&d);
  mc_sources_free(&s);
}

/* Of a source line longer than 120 columns only the 120 around the error
   are shown, "..." where it is cut, the caret under the same character. */
static void test_diagnostics_long_line_window(void) {
  char src[1200], want[1200];
  McStr xs, tail;
  mc_str_init(&xs);
  mc_str_init(&tail);
  for (int i = 0; i < 60; i++) mc_str_puts(&xs, "x + "), mc_str_puts(&tail, " + x");
  snprintf(src, sizeof src, "model m {\n  input x: f32[2]\n  output y = %sz%s\n}\n", xs.s,
           tail.s);
  /* line 3: "  output y = " (13 columns), 240 of "x + ", then 'z' at column 254 */
  const char *line = strstr(src, "  output");
  snprintf(want, sizeof want,
           "t.model:3:254: error: unknown name 'z'\n"
           "  ...%.120s...\n"
           "     %*s^\n", line + 253 - 60, 60, "");
  expect_diag(src, want);
  mc_str_free(&xs);
  mc_str_free(&tail);
}

int main(void) {
  static const TestCase cases[] = {
      {"syntax_expected_tokens", test_diagnostics_syntax_expected_tokens},
      {"long_line_window", test_diagnostics_long_line_window},
      {"conv_shapes", test_diagnostics_conv_shapes},
      {"syntax_several_errors", test_diagnostics_syntax_several_errors},
      {"syntax_missing_brace", test_diagnostics_syntax_missing_brace},
      {"unknown_name_suggestion", test_diagnostics_unknown_name_suggestion},
      {"unknown_name_plain", test_diagnostics_unknown_name_plain},
      {"member_suggestion", test_diagnostics_member_suggestion},
      {"param_as_expression", test_diagnostics_param_as_expression},
      {"unclosed_call", test_diagnostics_unclosed_call},
      {"tensor_members", test_diagnostics_tensor_members},
      {"foreign_names", test_diagnostics_foreign_names},
      {"extra_expression", test_diagnostics_extra_expression},
      {"builtin_arg_count", test_diagnostics_builtin_arg_count},
      {"block_arg_kind", test_diagnostics_block_arg_kind},
      {"block_arg_count", test_diagnostics_block_arg_count},
      {"unknown_keyword", test_diagnostics_unknown_keyword},
      {"redefinition", test_diagnostics_redefinition},
      {"block_redefinition", test_diagnostics_block_redefinition},
      {"missing_minimize", test_diagnostics_missing_minimize},
      {"duplicate_minimize", test_diagnostics_duplicate_minimize},
      {"int_float_misuse", test_diagnostics_int_float_misuse},
      {"shape_error_in_std", test_diagnostics_shape_error_in_std},
      {"shape_error_user", test_diagnostics_shape_error_user},
      {"loss_not_scalar", test_diagnostics_loss_not_scalar},
      {"poison_suppresses_cascades", test_diagnostics_poison_suppresses_cascades},
      {"misplaced_statements", test_diagnostics_misplaced_statements},
      {"unbound_instance", test_diagnostics_unbound_instance},
      {"unpack_count", test_diagnostics_unpack_count},
      {"bad_dims", test_diagnostics_bad_dims},
      {"index_out_of_range", test_diagnostics_index_out_of_range},
      {"recursive_block", test_diagnostics_recursive_block},
      {"no_forward_return", test_diagnostics_no_forward_return},
      {"if_condition_tensor", test_diagnostics_if_condition_tensor},
      {"construction_error_in_std", test_diagnostics_construction_error_in_std},
      {"define_unknown_dim", test_diagnostics_define_unknown_dim},
      {"import_not_found", test_diagnostics_import_not_found},
      {"import_cycle", test_diagnostics_import_cycle},
      {"error_limit", test_diagnostics_error_limit},
      {"missing_file", test_diagnostics_missing_file},
  };
  return test_main("diagnostics", cases, MC_COUNTOF(cases));
}
