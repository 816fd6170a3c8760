/* test_frontend.c -- the .model front end: scanner tokens and locations,
   the parser on every construct, and lowering: the examples' params and
   types, -D overrides, blocks, repeat, conditional params, imports,
   destructuring, slicing, every builtin's shape, composite numerics against
   hand computation, and robustness under random mutations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fe.h"
#include "test_util.h"

/* ---- fixture ---------------------------------------------------------------- */

typedef struct Fx {
  McSources src;
  McDiag d;
  McArena a;
  IrGraph *g;
} Fx;

static void fx_init(Fx *f) {
  mc_sources_init(&f->src);
  mc_diag_init(&f->d, &f->src, NULL);
  mc_arena_init(&f->a);
  f->g = NULL;
}

static void fx_fini(Fx *f) {
  ir_graph_free(f->g);
  mc_arena_free(&f->a);
  mc_diag_fini(&f->d);
  mc_sources_free(&f->src);
}

/* Compiles text as "t.model"; prints the diagnostics when it fails. */
static IrGraph *compile_defs(Fx *f, const char *text, const FeDefine *defs, int n) {
  FeOptions o = {.defines = defs, .ndefines = n};
  f->g = fe_compile_string("t.model", text, &o, &f->src, &f->d);
  if (!f->g) fprintf(stderr, "\n%s", f->d.buf.s);
  return f->g;
}

static IrGraph *compile(Fx *f, const char *text) { return compile_defs(f, text, NULL, 0); }

static const char *type_of(const IrGraph *g, IrRef r) {
  const IrNode *n = ir_node(g, r);
  return ir_type_str(g, (IrDtype)n->dtype, &n->shape);
}

static void expect_param(const IrGraph *g, const char *name, const char *type) {
  IrRef r = ir_find_param(g, name);
  CU_ASSERT_NOT_EQUAL(r, IR_NONE);
  if (r == IR_NONE) {
    fprintf(stderr, "\nmissing param %s\n", name);
    return;
  }
  CU_ASSERT_STRING_EQUAL(type_of(g, r), type);
}

static void expect_output(const IrGraph *g, IrOutKind kind, const char *name, const char *type) {
  const IrOutput *o = ir_find_output(g, kind, name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(o);
  CU_ASSERT_STRING_EQUAL(type_of(g, o->ref), type);
}

/* The params' names in graph order, joined by spaces. */
static char *param_names(const IrGraph *g) {
  McStr s;
  mc_str_init(&s);
  for (uint32_t i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == IR_OP_PARAM) mc_str_printf(&s, "%s%s", s.len ? " " : "", g->nodes[i].name);
  return s.s;
}

static int count_params(const IrGraph *g) {
  int n = 0;
  for (uint32_t i = 0; i < g->nnodes; i++) n += g->nodes[i].op == IR_OP_PARAM;
  return n;
}

#define HEADER "model m {\n  B = 2\n  T = 3\n  C = 4\n"

/* ---- scanner ---------------------------------------------------------------------- */

static void test_frontend_lex_tokens_and_locations(void) {
  Fx f;
  fx_init(&f);
  const char *src = "model m {\n  x = f(1,\n    2.5e-1) ** -y # note\n}";
  FeTok *t;
  int n = fe_lex(&f.a, src, strlen(src), 1, &f.d, &t);
  static const char *const kinds[] = {
      "'model'", "identifier", "'{'", "end of line", "identifier", "'='", "identifier", "'('",
      "integer", "','", "number", "')'", "'**'", "'-'", "identifier", "end of line", "'}'",
      "end of line", "end of file"};
  CU_ASSERT_EQUAL_FATAL(n, (int)MC_COUNTOF(kinds));
  for (int i = 0; i < n; i++) CU_ASSERT_STRING_EQUAL(t[i].kind, kinds[i]);
  CU_ASSERT_STRING_EQUAL(t[1].text, "m");
  CU_ASSERT_STRING_EQUAL(t[10].text, "2.5e-1");
  /* 'model' at 1:1 len 5; '2.5e-1' on line 3 col 5 (the newline after ','
     is inside parentheses and therefore not a token); '**' at 3:13. */
  CU_ASSERT_EQUAL(t[0].loc.line, 1);
  CU_ASSERT_EQUAL(t[0].loc.col, 1);
  CU_ASSERT_EQUAL(t[0].loc.len, 5);
  CU_ASSERT_EQUAL(t[10].loc.line, 3);
  CU_ASSERT_EQUAL(t[10].loc.col, 5);
  CU_ASSERT_EQUAL(t[10].loc.len, 6);
  CU_ASSERT_EQUAL(t[12].loc.line, 3);
  CU_ASSERT_EQUAL(t[12].loc.col, 13);
  CU_ASSERT_EQUAL(t[12].loc.len, 2);
  CU_ASSERT_EQUAL(t[16].loc.line, 4);
  CU_ASSERT_EQUAL(f.d.nerrors, 0);
  fx_fini(&f);
}

static void test_frontend_lex_keywords_strings_and_operators(void) {
  Fx f;
  fx_init(&f);
  const char *src = "import \"a/b.model\"; block param input output minimize forward return "
                    "if else <= >= == != < > @ / : . [ ] 7 .5 3e2";
  FeTok *t;
  int n = fe_lex(&f.a, src, strlen(src), 1, &f.d, &t);
  static const char *const kinds[] = {
      "'import'", "string", "';'", "'block'", "'param'", "'input'", "'output'", "'minimize'",
      "'forward'", "'return'", "'if'", "'else'", "'<='", "'>='", "'=='", "'!='", "'<'", "'>'",
      "'@'", "'/'", "':'", "'.'", "'['", "']'", "integer", "number", "number", "end of line",
      "end of file"};
  CU_ASSERT_EQUAL_FATAL(n, (int)MC_COUNTOF(kinds));
  for (int i = 0; i < n; i++) CU_ASSERT_STRING_EQUAL(t[i].kind, kinds[i]);
  CU_ASSERT_STRING_EQUAL(t[1].text, "\"a/b.model\"");
  CU_ASSERT_EQUAL(f.d.nerrors, 0);
  fx_fini(&f);
}

static void test_frontend_lex_errors(void) {
  Fx f;
  fx_init(&f);
  const char *src = "x $ 99999999999999999999 \"open\n\x01";
  FeTok *t;
  int n = fe_lex(&f.a, src, strlen(src), 0, &f.d, &t);
  CU_ASSERT_EQUAL(f.d.nerrors, 4);
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "unexpected character '$'"));
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "integer literal is too large"));
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "unterminated string"));
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "unexpected byte 0x01"));
  CU_ASSERT_STRING_EQUAL(t[n - 1].kind, "end of file");
  fx_fini(&f);
}

/* ---- parser -------------------------------------------------------------------------- */

/* Parses src and returns its tree printed (arena-owned). */
static const char *parse_print(Fx *f, const char *src) {
  FeNode *root = fe_parse(&f->a, src, strlen(src), 0, &f->d);
  McStr s;
  mc_str_init(&s);
  fe_ast_print(&s, root);
  const char *r = mc_arena_strdup(&f->a, s.s);
  mc_str_free(&s);
  return r;
}

static void expect_parse(const char *src, const char *tree) {
  Fx f;
  fx_init(&f);
  const char *got = parse_print(&f, src);
  if (strcmp(got, tree) != 0) fprintf(stderr, "\n  source: %s\n  got:    %s\n  want:   %s\n", src, got, tree);
  CU_ASSERT_STRING_EQUAL(got, tree);
  if (f.d.nerrors) fprintf(stderr, "%s", f.d.buf.s);
  CU_ASSERT_EQUAL(f.d.nerrors, 0);
  fx_fini(&f);
}

static void test_frontend_parse_precedence(void) {
  expect_parse("model m { x = -a ** 2 + b * c @ d - e / f }",
               "(file (model m (bind x (- (+ (neg (** a 2)) (@ (* b c) d)) (/ e f)))))");
  expect_parse("model m { x = a ** b ** -c }", "(file (model m (bind x (** a (** b (neg c))))))");
  expect_parse("model m { x = a + 1 < b * 2; y = a == b; z = (a != b) }",
               "(file (model m (bind x (< (+ a 1) (* b 2))) (bind y (== a b)) (bind z (!= a b))))");
  expect_parse("model m { x = a <= b\n y = a >= b\n z = a > -b }",
               "(file (model m (bind x (<= a b)) (bind y (>= a b)) (bind z (> a (neg b)))))");
}

static void test_frontend_parse_postfix(void) {
  expect_parse("model m { y = f(x, 2, axis = -1, keepdims = 1)(z) }",
               "(file (model m (bind y (call (call f x 2 (kwarg axis (neg 1)) (kwarg keepdims 1)) z))))");
  expect_parse("model m { y = x[1:, :-1, ::2, 0, a:b:c, :] }",
               "(file (model m (bind y (index x (slice 1 _ _) (slice _ (neg 1) _) (slice _ _ 2) 0 "
               "(slice a b c) (slice _ _ _)))))");
  expect_parse("model m { y = layers[0].attn.c_attn.weight }",
               "(file (model m (bind y (. (. (. (index layers 0) attn) c_attn) weight))))");
  expect_parse("model m { y = [1, 2.5, \"s\", [a, -1],] }",
               "(file (model m (bind y [1 2.5 \"s\" [a (neg 1)]])))");
  expect_parse("model m { y = f(\n  a,\n  b,\n) }", "(file (model m (bind y (call f a b))))");
}

static void test_frontend_parse_statements(void) {
  expect_parse("model m {\n  B = 16\n  input x: f32[B, 3 * C]\n  param w: f32[] = normal(0, std = 0.02)\n"
               "  param v: f64[2]\n  q, k, v = split(x, 3)\n  output y\n  output z = x\n"
               "  minimize sum(x)\n}",
               "(file (model m (bind B 16) (input x (type f32 B (* 3 C))) "
               "(param w (type f32) (call normal 0 (kwarg std 0.02))) (param v (type f64 2)) "
               "(unpack (q k v) (call split x 3)) (output y) (output z x) (minimize (call sum x))))");
  expect_parse("block lin(i, o, bias = 1,) {\n  if bias { param b: f32[o] }\n"
               "  forward(x) = x + b\n}\n",
               "(file (block lin (arg i) (arg o) (arg bias 1) (if bias (then (param b (type f32 o))) "
               "(else)) (forward ((arg x)) (+ x b))))");
  expect_parse("block b() {\n  forward(x, s = 2) {\n    if s > 1 { y = x } else if s { y = -x } "
               "else { return x }\n    return y\n  }\n}",
               "(file (block b (forward ((arg x) (arg s 2)) (if (> s 1) (then (bind y x)) (else "
               "(if s (then (bind y (neg x))) (else (return x))))) (return y))))");
  expect_parse("import \"std/nn.model\"\n\n# comment\nimport \"x.model\";\nmodel m { }",
               "(file (import \"std/nn.model\") (import \"x.model\") (model m))");
}

/* A syntax error in one statement does not hide the next statement's. */
static void test_frontend_parse_recovers_per_statement(void) {
  Fx f;
  fx_init(&f);
  const char *got = parse_print(&f, "model m {\n  x = (1 +\n  y = 2\n  z = f(1 2)\n  w = 3\n}\n"
                                     "block b( { }\nmodel n { v = 1 }");
  CU_ASSERT_EQUAL(f.d.nerrors, 3);
  CU_ASSERT_STRING_EQUAL(got, "(file (model m (bind w 3)) (model n (bind v 1)))");
  fx_fini(&f);
}

static void test_frontend_parse_depth_is_bounded(void) {
  Fx f;
  fx_init(&f);
  McStr s;
  mc_str_init(&s);
  mc_str_puts(&s, "model m { x = 1");
  for (int i = 0; i < 5000; i++) mc_str_puts(&s, " + 1");
  mc_str_puts(&s, " }");
  fe_parse(&f.a, s.s, s.len, 0, &f.d);
  CU_ASSERT_EQUAL(f.d.nerrors, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "nested too deeply"));
  s.len = 0;
  mc_str_puts(&s, "model m { x = ");
  for (int i = 0; i < 20000; i++) mc_str_puts(&s, "(");
  fe_parse(&f.a, s.s, s.len, 0, &f.d);
  CU_ASSERT(f.d.nerrors >= 2);
  mc_str_free(&s);
  fx_fini(&f);
}

/* ---- the examples ------------------------------------------------------------------- */

static IrGraph *compile_example(Fx *f, const char *name, const FeDefine *defs, int n) {
  char path[512];
  snprintf(path, sizeof path, "%s/examples/%s", MODELC_SOURCE_DIR, name);
  FeOptions o = {.defines = defs, .ndefines = n};
  f->g = fe_compile_file(path, &o, &f->src, &f->d);
  if (!f->g) fprintf(stderr, "\n%s", f->d.buf.s);
  return f->g;
}

/* Every node carries a location inside a registered source. */
static void expect_locations(const Fx *f) {
  for (uint32_t i = 0; i < f->g->nnodes; i++) {
    McLoc l = f->g->nodes[i].loc;
    const McSourceFile *s = mc_sources_get(&f->src, l.file);
    CU_ASSERT_PTR_NOT_NULL(s);
    CU_ASSERT(l.line >= 1 && l.col >= 1);
  }
}

static void test_frontend_example_seed_net(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile_example(&f, "seed_net.model", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_STRING_EQUAL(g->name, "seed_net");
  char *names = param_names(g);
  CU_ASSERT_STRING_EQUAL(names, "fc1.weight fc1.bias fc2.weight fc2.bias");
  free(names);
  expect_param(g, "fc1.weight", "f32[20,10]");
  expect_param(g, "fc1.bias", "f32[20]");
  expect_param(g, "fc2.weight", "f32[10,20]");
  expect_param(g, "fc2.bias", "f32[10]");
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "x")), "f32[B,10]");
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "target")), "f32[B,10]");
  expect_output(g, IR_OUT_OUTPUT, "out", "f32[B,10]");
  expect_output(g, IR_OUT_LOSS, "loss", "f32[]");
  CU_ASSERT_EQUAL(g->nsyms, 1);
  CU_ASSERT_EQUAL(g->syms[0].value, 64);
  const IrNode *w = ir_node(g, ir_find_param(g, "fc1.weight"));
  CU_ASSERT_EQUAL(w->attr.init.kind, IR_INIT_KAIMING_UNIFORM);
  CU_ASSERT_DOUBLE_EQUAL(w->attr.init.a, sqrt(5), 1e-12);
  const IrNode *b = ir_node(g, ir_find_param(g, "fc1.bias"));
  CU_ASSERT_EQUAL(b->attr.init.kind, IR_INIT_UNIFORM);
  CU_ASSERT_DOUBLE_EQUAL(b->attr.init.b, 1 / sqrt(10), 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(b->attr.init.a, -1 / sqrt(10), 1e-12);
  expect_locations(&f);
  CU_ASSERT(ir_verify(g, &f.d));
  fx_fini(&f);
}

static void test_frontend_example_mlp(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile_example(&f, "mlp.model", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  char *names = param_names(g);
  CU_ASSERT_STRING_EQUAL(names, "fc1.weight fc1.bias fc2.weight fc2.bias fc3.weight fc3.bias");
  free(names);
  expect_param(g, "fc1.weight", "f32[512,784]");
  expect_param(g, "fc2.weight", "f32[256,512]");
  expect_param(g, "fc3.weight", "f32[10,256]");
  expect_param(g, "fc3.bias", "f32[10]");
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "x")), "f32[B,784]");
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "y")), "i32[B]");
  expect_output(g, IR_OUT_OUTPUT, "logits", "f32[B,10]");
  expect_output(g, IR_OUT_LOSS, "loss", "f32[]");
  CU_ASSERT_EQUAL(g->syms[0].value, 128);
  expect_locations(&f);
  CU_ASSERT(ir_verify(g, &f.d));
  fx_fini(&f);
}

static void test_frontend_example_gpt(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile_example(&f, "gpt.model", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_EQUAL(count_params(g), 2 + 12 * 4 + 3);
  McStr want;
  mc_str_init(&want);
  mc_str_puts(&want, "wte.weight wpe.weight");
  for (int i = 0; i < 4; i++)
    mc_str_printf(&want,
                  " layers.%d.ln_1.weight layers.%d.ln_1.bias layers.%d.attn.c_attn.weight "
                  "layers.%d.attn.c_attn.bias layers.%d.attn.c_proj.weight layers.%d.attn.c_proj.bias "
                  "layers.%d.ln_2.weight layers.%d.ln_2.bias layers.%d.mlp.c_fc.weight "
                  "layers.%d.mlp.c_fc.bias layers.%d.mlp.c_proj.weight layers.%d.mlp.c_proj.bias",
                  i, i, i, i, i, i, i, i, i, i, i, i);
  mc_str_puts(&want, " ln_f.weight ln_f.bias lm_head.weight");
  char *names = param_names(g);
  CU_ASSERT_STRING_EQUAL(names, want.s);
  free(names);
  mc_str_free(&want);
  expect_param(g, "wte.weight", "f32[V,C]");
  expect_param(g, "wpe.weight", "f32[T,C]");
  expect_param(g, "layers.3.attn.c_attn.weight", "f32[3*C,C]");
  expect_param(g, "layers.3.attn.c_attn.bias", "f32[3*C]");
  expect_param(g, "layers.0.mlp.c_fc.weight", "f32[4*C,C]");
  expect_param(g, "layers.0.mlp.c_proj.weight", "f32[C,4*C]");
  expect_param(g, "layers.2.ln_2.bias", "f32[C]");
  expect_param(g, "lm_head.weight", "f32[V,C]");
  CU_ASSERT_EQUAL(ir_find_param(g, "lm_head.bias"), IR_NONE);
  CU_ASSERT_EQUAL(ir_node(g, ir_find_param(g, "wte.weight"))->attr.init.kind, IR_INIT_NORMAL);
  CU_ASSERT_EQUAL(ir_node(g, ir_find_param(g, "ln_f.weight"))->attr.init.kind, IR_INIT_ONES);
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "idx")), "i32[B,T]");
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "targets")), "i32[B,T]");
  expect_output(g, IR_OUT_OUTPUT, "logits", "f32[B,T,V]");
  expect_output(g, IR_OUT_LOSS, "loss", "f32[]");
  static const char *const dims[] = {"B", "T", "V", "C", "H", "L"};
  static const int64_t values[] = {16, 64, 96, 128, 4, 4};
  CU_ASSERT_EQUAL_FATAL(g->nsyms, 6);
  for (int i = 0; i < 6; i++) {
    CU_ASSERT_STRING_EQUAL(g->syms[i].name, dims[i]);
    CU_ASSERT_EQUAL(g->syms[i].value, values[i]);
  }
  expect_locations(&f);
  CU_ASSERT(ir_verify(g, &f.d));
  fx_fini(&f);
}

/* -D overrides named dims: shapes, repeat counts and derived dims follow. */
static void test_frontend_define_overrides_dims(void) {
  Fx f;
  fx_init(&f);
  FeDefine defs[] = {{"B", 2}, {"T", 8}, {"C", 16}, {"L", 2}};
  IrGraph *g = compile_example(&f, "gpt.model", defs, 4);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_EQUAL(count_params(g), 2 + 12 * 2 + 3);
  const IrNode *idx = ir_node(g, ir_find_input(g, "idx"));
  CU_ASSERT_EQUAL(idx->shape.d[0].n, 2);
  CU_ASSERT_EQUAL(idx->shape.d[1].n, 8);
  const IrNode *w = ir_node(g, ir_find_param(g, "layers.1.attn.c_attn.weight"));
  CU_ASSERT_EQUAL(w->shape.d[0].n, 48);
  CU_ASSERT_EQUAL(w->shape.d[1].n, 16);
  const IrOutput *o = ir_find_output(g, IR_OUT_OUTPUT, "logits");
  CU_ASSERT_EQUAL(ir_node(g, o->ref)->shape.d[0].n, 2);
  CU_ASSERT_EQUAL(ir_node(g, o->ref)->shape.d[1].n, 8);
  CU_ASSERT_EQUAL(ir_node(g, o->ref)->shape.d[2].n, 96);
  fx_fini(&f);
}

/* ---- blocks ------------------------------------------------------------------------------ */

static void test_frontend_block_defaults_and_keywords(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f,
      "block proj(n_in, n_out = 2 * n_in, scale = 0.5) {\n"
      "  param w: f32[n_out, n_in] = normal(std = scale)\n"
      "  forward(x, gain = 1) = (x @ transpose(w)) * gain\n"
      "}\n" HEADER
      "  input x: f32[B, C]\n"
      "  a = proj(C)\n"
      "  b = proj(C, scale = 2)\n"
      "  c = proj(n_out = 3, n_in = C)\n"
      "  output ya = a(x)\n"
      "  output yb = b(x, gain = 3)\n"
      "  output yc = c(x)\n"
      "  minimize sum(ya)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  expect_param(g, "a.w", "f32[2*C,C]");
  expect_param(g, "b.w", "f32[2*C,C]");
  expect_param(g, "c.w", "f32[3,C]");
  CU_ASSERT_DOUBLE_EQUAL(ir_node(g, ir_find_param(g, "a.w"))->attr.init.b, 0.5, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(ir_node(g, ir_find_param(g, "b.w"))->attr.init.b, 2, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(ir_node(g, ir_find_param(g, "b.w"))->attr.init.a, 0, 1e-12);
  expect_output(g, IR_OUT_OUTPUT, "ya", "f32[B,2*C]");
  expect_output(g, IR_OUT_OUTPUT, "yc", "f32[B,3]");
  /* gain = 3 multiplies by a constant; gain = 1 (the default) as well. */
  const IrNode *yb = ir_node(g, ir_find_output(g, IR_OUT_OUTPUT, "yb")->ref);
  CU_ASSERT_EQUAL(yb->op, IR_OP_MUL);
  CU_ASSERT_DOUBLE_EQUAL(ir_node(g, yb->src[1])->attr.value, 3, 0);
  fx_fini(&f);
}

static void test_frontend_repeat_names_layers(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f,
      "block step(C) {\n  fc = linear(C, C)\n  forward(x) = relu(fc(x))\n}\n" HEADER
      "  input x: f32[B, C]\n"
      "  layers = repeat(3, step(C))\n"
      "  output all = layers(x)\n"
      "  output one = layers[1](x)\n"
      "  output last = layers[-1].fc(x)\n"
      "  minimize sum(all)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  char *names = param_names(g);
  CU_ASSERT_STRING_EQUAL(names, "layers.0.fc.weight layers.0.fc.bias layers.1.fc.weight "
                                "layers.1.fc.bias layers.2.fc.weight layers.2.fc.bias");
  free(names);
  expect_output(g, IR_OUT_OUTPUT, "all", "f32[B,C]");
  /* layers(x) chains three relu(linear) steps: its result is a relu whose
     input's matmul uses layers.2's weight. */
  const IrNode *all = ir_node(g, ir_find_output(g, IR_OUT_OUTPUT, "all")->ref);
  CU_ASSERT_EQUAL(all->op, IR_OP_RELU);
  const IrNode *last = ir_node(g, ir_find_output(g, IR_OUT_OUTPUT, "last")->ref);
  CU_ASSERT_EQUAL(last->op, IR_OP_ADD);
  CU_ASSERT_EQUAL(last->src[1], ir_find_param(g, "layers.2.fc.bias"));
  fx_fini(&f);
}

static void test_frontend_conditional_bias(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f, HEADER "  input x: f32[B, C]\n  with = linear(C, 5)\n"
                                   "  without = linear(C, 5, bias = 0)\n"
                                   "  output y = with(x) + without(x)\n  minimize sum(y)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  expect_param(g, "with.bias", "f32[5]");
  CU_ASSERT_EQUAL(ir_find_param(g, "without.bias"), IR_NONE);
  CU_ASSERT_EQUAL(count_params(g), 3);
  /* without(x) is the bare matmul: no add of the number 0. */
  const IrNode *y = ir_node(g, ir_find_output(g, IR_OUT_OUTPUT, "y")->ref);
  CU_ASSERT_EQUAL(ir_node(g, y->src[1])->op, IR_OP_MATMUL);
  fx_fini(&f);
}

static void test_frontend_member_access_and_model_params(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f, HEADER "  input x: f32[B, C]\n  fc1 = linear(C, 3)\n"
                                   "  param scale: f32[3] = constant(2)\n"
                                   "  reg = sum(fc1.weight * fc1.weight)\n"
                                   "  output y = fc1(x) * scale\n"
                                   "  minimize mean(y) + 0.1 * reg\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  expect_param(g, "scale", "f32[3]");
  CU_ASSERT_EQUAL(ir_node(g, ir_find_param(g, "scale"))->attr.init.kind, IR_INIT_CONSTANT);
  CU_ASSERT_DOUBLE_EQUAL(ir_node(g, ir_find_param(g, "scale"))->attr.init.a, 2, 0);
  fx_fini(&f);
}

/* A user block named like a standard one replaces it for user code only:
   gpt_block (in std) keeps using std's mlp. */
static void test_frontend_user_block_shadows_std_for_user_code(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f, "block mlp(n) {\n  param scale: f32[n] = ones()\n"
                           "  forward(x) = x * scale\n}\n" HEADER
                           "  input x: f32[B, T, C]\n  mine = mlp(C)\n  blk = gpt_block(C, 2)\n"
                           "  minimize sum(mine(blk(x)))\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  expect_param(g, "mine.scale", "f32[C]");
  expect_param(g, "blk.mlp.c_fc.weight", "f32[4*C,C]");
  fx_fini(&f);
}

/* layer_norm is a std block (a number first) and a builtin (a tensor first). */
static void test_frontend_block_and_builtin_share_a_name(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f, HEADER "  input x: f32[B, C]\n  ln = layer_norm(C, eps = 1e-6)\n"
                                   "  output a = ln(x)\n  output b = layer_norm(x)\n"
                                   "  minimize sum(a) + sum(b)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  expect_param(g, "ln.weight", "f32[C]");
  CU_ASSERT_EQUAL(count_params(g), 2);
  expect_output(g, IR_OUT_OUTPUT, "b", "f32[B,C]");
  fx_fini(&f);
}

/* FeOptions.stdlib_dir replaces the embedded standard library. */
static void test_frontend_stdlib_dir(void) {
  Fx f;
  fx_init(&f);
  FeOptions o = {.stdlib_dir = MODELC_SOURCE_DIR "/std"};
  f.g = fe_compile_string("t.model", HEADER "  input x: f32[B, C]\n  fc = linear(C, 2)\n"
                                            "  minimize sum(fc(x))\n}\n", &o, &f.src, &f.d);
  CU_ASSERT_PTR_NOT_NULL(f.g);
  CU_ASSERT_EQUAL(mc_sources_get(&f.src, 2)->len, fe_std_nn_model_len);
  CU_ASSERT_EQUAL(memcmp(mc_sources_get(&f.src, 2)->text, fe_std_nn_model, fe_std_nn_model_len), 0);
  fx_fini(&f);
  fx_init(&f);
  o.stdlib_dir = "/nonexistent";
  f.g = fe_compile_string("t.model", HEADER "  input x: f32[B]\n  minimize sum(x)\n}\n", &o,
                          &f.src, &f.d);
  CU_ASSERT_PTR_NULL(f.g);
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "cannot read the standard library '/nonexistent/nn.model'"));
  fx_fini(&f);
}

/* -D accepts 0 (a switch or a rate); as a tensor extent it is an error at
   the type that uses it, and a negative value is an error of -D itself. */
static void test_frontend_define_must_be_positive(void) {
  Fx f;
  fx_init(&f);
  FeDefine defs[] = {{"B", 0}};
  FeOptions o = {.defines = defs, .ndefines = 1};
  f.g = fe_compile_string("t.model", HEADER "  input x: f32[B]\n  minimize sum(x)\n}\n", &o, &f.src,
                          &f.d);
  CU_ASSERT_PTR_NULL(f.g);
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "t.model:5:16: error: a dim must be a positive integer, got 0"));
  fx_fini(&f);
  fx_init(&f);
  defs[0].value = -1;
  f.g = fe_compile_string("t.model", HEADER "  input x: f32[2]\n  minimize sum(x) * B\n}\n", &o, &f.src,
                          &f.d);
  CU_ASSERT_PTR_NULL(f.g);
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "modelc: error: -D B=-1: a dim must be a non-negative"));
  fx_fini(&f);
}

/* ---- imports ------------------------------------------------------------------------------ */

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
  fputs(text, fp);
  fclose(fp);
}

static void test_frontend_imports_relative_paths(void) {
  char dir[] = "/tmp/test_frontend_XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  char path[600], lib[600], main_path[600];
  snprintf(lib, sizeof lib, "%s/lib", dir);
  CU_ASSERT_EQUAL_FATAL(mkdir(lib, 0700), 0);
  snprintf(path, sizeof path, "%s/lib/layers.model", dir);
  write_file(path, "import \"act.model\"   # relative to lib/\n"
                   "block dense(i, o) {\n  fc = linear(i, o)\n  forward(x) = act(fc(x))\n}\n");
  snprintf(path, sizeof path, "%s/lib/act.model", dir);
  write_file(path, "block act_unused(n) { }\n");
  snprintf(main_path, sizeof main_path, "%s/main.model", dir);
  write_file(main_path, "import \"lib/layers.model\"\nimport \"lib/act.model\"\n"
                        "import \"std/nn.model\"\n"
                        "model m {\n  input x: f32[2, 3]\n  d = dense(3, 4)\n"
                        "  minimize sum(d(x))\n}\n");
  Fx f;
  fx_init(&f);
  /* act is not defined yet: the error is in lib/layers.model. */
  f.g = fe_compile_file(main_path, NULL, &f.src, &f.d);
  CU_ASSERT_PTR_NULL(f.g);
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "lib/layers.model:4:16: error: unknown name 'act'"));
  fx_fini(&f);

  snprintf(path, sizeof path, "%s/lib/act.model", dir);
  write_file(path, "block act_unused(n) { }\n");
  snprintf(path, sizeof path, "%s/lib/layers.model", dir);
  write_file(path, "import \"act.model\"\n"
                   "block dense(i, o) {\n  fc = linear(i, o)\n  forward(x) = relu(fc(x))\n}\n");
  fx_init(&f);
  f.g = fe_compile_file(main_path, NULL, &f.src, &f.d);
  if (!f.g) fprintf(stderr, "%s", f.d.buf.s);
  CU_ASSERT_PTR_NOT_NULL(f.g);
  if (f.g) expect_param(f.g, "d.fc.weight", "f32[4,3]");
  fx_fini(&f);

  /* A cycle: lib/layers.model imports act.model imports layers.model. */
  snprintf(path, sizeof path, "%s/lib/act.model", dir);
  write_file(path, "import \"layers.model\"\n");
  fx_init(&f);
  f.g = fe_compile_file(main_path, NULL, &f.src, &f.d);
  CU_ASSERT_PTR_NULL(f.g);
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "error: import cycle: "));
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "lib/layers.model -> "));
  fx_fini(&f);

  const char *names[] = {"lib/layers.model", "lib/act.model", "main.model"};
  for (size_t i = 0; i < MC_COUNTOF(names); i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(lib);
  rmdir(dir);
}

/* ---- expressions ---------------------------------------------------------------------------- */

static void test_frontend_split_and_destructuring(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f, HEADER "  input x: f32[B, T, 3 * C]\n"
                                   "  q, k, v = split(x, 3)\n"
                                   "  a, b = split(x, [2, 10], axis = 2)\n"
                                   "  h, t = split(x, 2, axis = 0)\n"
                                   "  output q\n  output v\n  output a\n  output b\n  output h\n"
                                   "  minimize sum(k)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  expect_output(g, IR_OUT_OUTPUT, "q", "f32[B,T,4]");
  expect_output(g, IR_OUT_OUTPUT, "v", "f32[B,T,4]");
  expect_output(g, IR_OUT_OUTPUT, "a", "f32[B,T,2]");
  expect_output(g, IR_OUT_OUTPUT, "b", "f32[B,T,10]");
  expect_output(g, IR_OUT_OUTPUT, "h", "f32[1,T,3*C]");
  const IrNode *v = ir_node(g, ir_find_output(g, IR_OUT_OUTPUT, "v")->ref);
  CU_ASSERT_EQUAL(v->op, IR_OP_SLICE);
  CU_ASSERT_EQUAL(v->attr.start[2], 8);
  fx_fini(&f);
}

/* Evaluates output `name` of g with inputs bound by name (f64 mode). */
typedef struct Bind {
  const char *name;
  const double *data;
  int64_t n;
} Bind;

static const IrTensor *eval_output(Fx *f, const char *name, const Bind *binds, int nb) {
  IrEval *e = ir_eval_new(f->g, true);
  for (int i = 0; i < nb; i++) CU_ASSERT_FATAL(ir_eval_bind(e, binds[i].name, binds[i].data, binds[i].n, &f->d));
  ir_eval_init_params(e, 1);
  CU_ASSERT_FATAL(ir_eval_run(e, &f->d));
  static IrTensor copy;
  static double data[256];
  const IrTensor *t = ir_eval_output(e, IR_OUT_OUTPUT, name);
  if (!t) t = ir_eval_output(e, IR_OUT_LOSS, name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_FATAL(t->numel <= 256);
  copy = *t;
  memcpy(data, t->data, (size_t)t->numel * sizeof *data);
  copy.data = data;
  ir_eval_free(e);
  return &copy;
}

static void test_frontend_slicing_values(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f, "model m {\n  input x: f32[3, 4]\n"
                           "  output a = x[1:, ::2]\n  output b = x[-1]\n  output c = x[:, -2]\n"
                           "  output d = x[0:2, 1:3]\n  output e = x[1, 3]\n  minimize sum(x)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  expect_output(g, IR_OUT_OUTPUT, "a", "f32[2,2]");
  expect_output(g, IR_OUT_OUTPUT, "b", "f32[4]");
  expect_output(g, IR_OUT_OUTPUT, "c", "f32[3]");
  expect_output(g, IR_OUT_OUTPUT, "d", "f32[2,2]");
  expect_output(g, IR_OUT_OUTPUT, "e", "f32[]");
  double x[12];
  for (int i = 0; i < 12; i++) x[i] = i;
  Bind in = {"x", x, 12};
  const IrTensor *t = eval_output(&f, "a", &in, 1);
  double a[] = {4, 6, 8, 10};
  for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(t->data[i], a[i], 0);
  t = eval_output(&f, "b", &in, 1);
  for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(t->data[i], 8 + i, 0);
  t = eval_output(&f, "c", &in, 1);
  for (int i = 0; i < 3; i++) CU_ASSERT_DOUBLE_EQUAL(t->data[i], 4 * i + 2, 0);
  t = eval_output(&f, "d", &in, 1);
  double d[] = {1, 2, 5, 6};
  for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(t->data[i], d[i], 0);
  t = eval_output(&f, "e", &in, 1);
  CU_ASSERT_DOUBLE_EQUAL(t->data[0], 7, 0);
  fx_fini(&f);
}

static void test_frontend_compile_time_arithmetic(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f, "model m {\n  C = 12\n  H = 4\n  D = C / H\n  E = 3 * C\n  F = C - 2\n"
                           "  G = 7 / 2\n  K = 2 ** 3\n"
                           "  input x: f32[D, E, F, K]\n  input y: f32[C / 4 * 10]\n"
                           "  output z = x * G + sqrt(4) + maximum(1, 2) + abs(-3)\n"
                           "  minimize sum(x) + sum(y)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  /* C/H is not exact in symbols (H does not divide C symbolically): a plain
     number; 3*C keeps its symbol; C - 2 is a number. */
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "x")), "f32[3,3*C,10,8]");
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "y")), "f32[30]");
  fx_fini(&f);

  /* Integer powers (by squaring, signs right) and a huge slice step. */
  fx_init(&f);
  g = compile(&f, "model m {\n  input x: f32[(-1) ** 3 + 2 ** 3, 3 ** 0, 10 ** 2 / 4, 2 ** 62 / 2 ** 61]\n"
                  "  output y = x[::9223372036854775807]\n  minimize sum(x)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_STRING_EQUAL(type_of(g, ir_find_input(g, "x")), "f32[7,1,25,2]");
  expect_output(g, IR_OUT_OUTPUT, "y", "f32[1,1,25,2]");
  fx_fini(&f);

  fx_init(&f);
  CU_ASSERT_PTR_NULL(fe_compile_string("t.model", "model m {\n  K = 2 ** 63\n}\n", NULL, &f.src, &f.d));
  CU_ASSERT_PTR_NOT_NULL(strstr(f.d.buf.s, "t.model:2:9: error: integer overflow in compile-time"));
  fx_fini(&f);
}

/* ---- every builtin's result type ------------------------------------------------------------ */

static void test_frontend_builtin_shapes(void) {
  static const struct { const char *expr, *type; } cases[] = {
      {"relu(x)", "f32[B,T,C]"},       {"gelu(x)", "f32[B,T,C]"},
      {"tanh(x)", "f32[B,T,C]"},       {"sigmoid(x)", "f32[B,T,C]"},
      {"exp(x)", "f32[B,T,C]"},        {"log(x)", "f32[B,T,C]"},
      {"sqrt(x)", "f32[B,T,C]"},       {"rsqrt(x)", "f32[B,T,C]"},
      {"abs(x)", "f32[B,T,C]"},        {"erf(x)", "f32[B,T,C]"},
      {"abs(idx)", "i32[B,T]"},        {"float(idx)", "f32[B,T]"},
      {"pow(x, 2)", "f32[B,T,C]"},     {"x ** y", "f32[B,T,C]"},
      {"maximum(x, 0)", "f32[B,T,C]"}, {"minimum(x, y[0])", "f32[B,T,C]"},
      {"maximum(idx, 1)", "i32[B,T]"}, {"where(x > 0, x, 0.5)", "f32[B,T,C]"},
      {"where(unsqueeze(idx, -1) == 1, 1, x)", "f32[B,T,C]"},
      {"sum(x)", "f32[]"},             {"sum(x, axis = 1)", "f32[B,C]"},
      {"sum(x, axis = [0, 2], keepdims = 1)", "f32[1,T,1]"},
      {"mean(x, axis = -1)", "f32[B,T]"}, {"max(x, axis = 0)", "f32[T,C]"},
      {"sum(idx)", "i32[]"},
      {"reshape(x, [-1, C])", "f32[B*T,C]"}, {"reshape(x, [T, B * C])", "f32[T,B*C]"},
      {"flatten(x)", "f32[B,T*C]"},    {"flatten(x, start = 0)", "f32[B*T*C]"},
      {"flatten(x, 0, 1)", "f32[B*T,C]"},
      {"unflatten(x, -1, [2, -1])", "f32[B,T,2,2]"},
      {"unflatten(x, 0, [B, 1])", "f32[B,1,T,C]"},
      {"transpose(x)", "f32[B,C,T]"},  {"transpose(x, 0, 2)", "f32[C,T,B]"},
      {"permute(x, [2, 0, 1])", "f32[C,B,T]"}, {"unsqueeze(x, 0)", "f32[1,B,T,C]"},
      {"unsqueeze(x, -1)", "f32[B,T,C,1]"},
      {"concat([x, y], axis = 0)", "f32[2*B,T,C]"}, {"concat([x, y, x])", "f32[B,T,3*C]"},
      {"split(x, 2)[1]", "f32[B,T,2]"}, {"gather(tab, idx)", "f32[B,T,C]"},
      {"arange(T)", "i32[T]"},          {"causal_mask(x @ transpose(y))", "f32[B,T,T]"},
      {"softmax(x)", "f32[B,T,C]"},     {"log_softmax(x, axis = 0)", "f32[B,T,C]"},
      {"layer_norm(x)", "f32[B,T,C]"},  {"layer_norm(x, w, w, eps = 1e-6)", "f32[B,T,C]"},
      {"mse(x, y)", "f32[]"},           {"cross_entropy(x, idx)", "f32[]"},
      {"x @ transpose(y)", "f32[B,T,T]"}, {"x[0] - y[1]", "f32[T,C]"},
      {"-x / 2", "f32[B,T,C]"},         {"x < y", "bool[B,T,C]"},
      {"idx * 2 + 1", "i32[B,T]"},
  };
  for (size_t i = 0; i < MC_COUNTOF(cases); i++) {
    Fx f;
    fx_init(&f);
    char src[1024];
    snprintf(src, sizeof src,
             HEADER "  input x: f32[B, T, C]\n  input y: f32[B, T, C]\n  input idx: i32[B, T]\n"
                    "  input tab: f32[10, C]\n  input w: f32[C]\n"
                    "  output o = %s\n  minimize sum(x)\n}\n",
             cases[i].expr);
    IrGraph *g = compile(&f, src);
    CU_ASSERT_PTR_NOT_NULL(g);
    if (g) {
      const char *got = type_of(g, ir_find_output(g, IR_OUT_OUTPUT, "o")->ref);
      if (strcmp(got, cases[i].type) != 0)
        fprintf(stderr, "\n  %s: got %s, want %s\n", cases[i].expr, got, cases[i].type);
      CU_ASSERT_STRING_EQUAL(got, cases[i].type);
      CU_ASSERT(ir_verify(g, &f.d));
    } else {
      fprintf(stderr, "  (while compiling %s)\n", cases[i].expr);
    }
    fx_fini(&f);
  }
}

/* ---- composites against hand computation ----------------------------------------------------- */

static void test_frontend_composites_numerics(void) {
  Fx f;
  fx_init(&f);
  IrGraph *g = compile(&f, "model m {\n  input x: f32[2, 3]\n  input y: i32[2]\n  input t: f32[2, 3]\n"
                           "  output sm = softmax(x)\n  output lsm = log_softmax(x, axis = 0)\n"
                           "  output ln = layer_norm(x)\n  output cm = causal_mask(x[:, :2], fill = -7)\n"
                           "  output ge = gelu(x)\n  output me = mse(x, t)\n"
                           "  minimize cross_entropy(x, y)\n}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  double x[6] = {0.5, -1.0, 2.0, 3.0, 0.25, -0.75}, y[2] = {2, 0}, t[6] = {1, 1, 1, 0, 0, 0};
  Bind in[] = {{"x", x, 6}, {"y", y, 2}, {"t", t, 6}};
  const IrTensor *r = eval_output(&f, "sm", in, 3);
  for (int i = 0; i < 2; i++) {
    double s = 0;
    for (int j = 0; j < 3; j++) s += exp(x[3 * i + j]);
    for (int j = 0; j < 3; j++) CU_ASSERT_DOUBLE_EQUAL(r->data[3 * i + j], exp(x[3 * i + j]) / s, 1e-12);
  }
  r = eval_output(&f, "lsm", in, 3);
  for (int j = 0; j < 3; j++) {
    double s = log(exp(x[j]) + exp(x[3 + j]));
    CU_ASSERT_DOUBLE_EQUAL(r->data[j], x[j] - s, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r->data[3 + j], x[3 + j] - s, 1e-12);
  }
  r = eval_output(&f, "ln", in, 3);
  for (int i = 0; i < 2; i++) {
    double mu = (x[3 * i] + x[3 * i + 1] + x[3 * i + 2]) / 3, var = 0;
    for (int j = 0; j < 3; j++) var += (x[3 * i + j] - mu) * (x[3 * i + j] - mu) / 3;
    for (int j = 0; j < 3; j++)
      CU_ASSERT_DOUBLE_EQUAL(r->data[3 * i + j], (x[3 * i + j] - mu) / sqrt(var + 1e-5), 1e-9);
  }
  r = eval_output(&f, "cm", in, 3);
  double cm[] = {0.5, -7, 3.0, 0.25};
  for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(r->data[i], cm[i], 0);
  r = eval_output(&f, "ge", in, 3);
  for (int i = 0; i < 6; i++)
    CU_ASSERT_DOUBLE_EQUAL(r->data[i], 0.5 * x[i] * (1 + erf(x[i] / sqrt(2))), 1e-12);
  r = eval_output(&f, "me", in, 3);
  double se = 0;
  for (int i = 0; i < 6; i++) se += (x[i] - t[i]) * (x[i] - t[i]);
  CU_ASSERT_DOUBLE_EQUAL(r->data[0], se / 6, 1e-12);
  r = eval_output(&f, "loss", in, 3);
  double ce = 0;
  for (int i = 0; i < 2; i++) {
    double s = 0;
    for (int j = 0; j < 3; j++) s += exp(x[3 * i + j]);
    ce -= x[3 * i + (int)y[i]] - log(s);
  }
  CU_ASSERT_DOUBLE_EQUAL(r->data[0], ce / 2, 1e-12);
  fx_fini(&f);
}

/* ---- robustness: random mutations of the examples --------------------------------------------- */

static char *read_example(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/examples/%s", MODELC_SOURCE_DIR, name);
  const char *err;
  char *text = mc_read_file(path, NULL, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  return text;
}

static const char *const snippets[] = {
    "(", ")", "[", "]", "{", "}", ",", ":", "=", "\n", ";", "-", "*", "**", "@", ".", "0", "-1",
    "1e400", "99999999999999999999", "x", "B", "repeat(", "linear(", "forward", "param",
    "model", "block", "if", "else", "return", "import \"nope.model\"", "minimize", "output",
    "input", "f32[", "i32", "[-1]", "inf", "\"", "#", "sum(", "split(", "split(x, 3)",
    "layers[", "::", "9223372036854775807", "3*C*C*C*C*C*C*C*C*C", "\xff", "C / 0",
};

/* Deletes, inserts, duplicates or replaces a span of text, n times. */
static void mutate(McStr *s, uint64_t seed, int n) {
  for (int k = 0; k < n; k++) {
    uint64_t r = mc_rng_u64(seed, 7, (uint64_t)k);
    size_t len = s->len, at = len ? (size_t)(r % len) : 0, span = 1 + (r >> 20) % 12;
    if (at + span > len) span = len - at;
    McStr out;
    mc_str_init(&out);
    for (size_t i = 0; i < at; i++) mc_str_putc(&out, s->s[i]);
    switch ((r >> 40) % 4) {
    case 0: at += span; break;   /* delete */
    case 1: mc_str_puts(&out, snippets[(r >> 44) % MC_COUNTOF(snippets)]); break;
    case 2: for (size_t i = 0; i < span; i++) mc_str_putc(&out, s->s[at + i]); break;
    case 3: mc_str_putc(&out, (char)(1 + (r >> 48) % 255)); at += span ? 1 : 0; break;
    }
    for (size_t i = at; i < len; i++) mc_str_putc(&out, s->s[i]);
    mc_str_free(s);
    *s = out;
  }
}

static void test_frontend_random_mutations_never_crash(void) {
  static const char *const examples[] = {"seed_net.model", "mlp.model", "gpt.model"};
  int compiled = 0, failed = 0;
  for (size_t e = 0; e < MC_COUNTOF(examples); e++) {
    char *text = read_example(examples[e]);
    for (int i = 0; i < 1000; i++) {
      McStr s;
      mc_str_init(&s);
      mc_str_puts(&s, text);
      mutate(&s, (uint64_t)(e * 100000 + i), 1 + i % 4);
      Fx f;
      fx_init(&f);
      FeDefine defs[] = {{"B", 2}, {"T", 4}, {"C", 8}, {"L", 1}};
      f.g = fe_compile_string("fuzz.model", s.s, &(FeOptions){.defines = defs, .ndefines = e == 2 ? 4 : 1},
                              &f.src, &f.d);
      /* Either a graph and no errors, or no graph and at least one error. */
      CU_ASSERT((f.g != NULL) == (f.d.nerrors == 0));
      if (f.g) {
        compiled++;
        CU_ASSERT(ir_verify(f.g, &f.d));
      } else {
        failed++;
      }
      fx_fini(&f);
      mc_str_free(&s);
    }
    free(text);
  }
  CU_ASSERT(compiled > 100);
  CU_ASSERT(failed > 1000);
}

int main(void) {
  static const TestCase cases[] = {
      {"lex_tokens_and_locations", test_frontend_lex_tokens_and_locations},
      {"lex_keywords_strings_and_operators", test_frontend_lex_keywords_strings_and_operators},
      {"lex_errors", test_frontend_lex_errors},
      {"parse_precedence", test_frontend_parse_precedence},
      {"parse_postfix", test_frontend_parse_postfix},
      {"parse_statements", test_frontend_parse_statements},
      {"parse_recovers_per_statement", test_frontend_parse_recovers_per_statement},
      {"parse_depth_is_bounded", test_frontend_parse_depth_is_bounded},
      {"example_seed_net", test_frontend_example_seed_net},
      {"example_mlp", test_frontend_example_mlp},
      {"example_gpt", test_frontend_example_gpt},
      {"define_overrides_dims", test_frontend_define_overrides_dims},
      {"block_defaults_and_keywords", test_frontend_block_defaults_and_keywords},
      {"repeat_names_layers", test_frontend_repeat_names_layers},
      {"conditional_bias", test_frontend_conditional_bias},
      {"member_access_and_model_params", test_frontend_member_access_and_model_params},
      {"user_block_shadows_std_for_user_code", test_frontend_user_block_shadows_std_for_user_code},
      {"block_and_builtin_share_a_name", test_frontend_block_and_builtin_share_a_name},
      {"stdlib_dir", test_frontend_stdlib_dir},
      {"define_must_be_positive", test_frontend_define_must_be_positive},
      {"imports_relative_paths", test_frontend_imports_relative_paths},
      {"split_and_destructuring", test_frontend_split_and_destructuring},
      {"slicing_values", test_frontend_slicing_values},
      {"compile_time_arithmetic", test_frontend_compile_time_arithmetic},
      {"builtin_shapes", test_frontend_builtin_shapes},
      {"composites_numerics", test_frontend_composites_numerics},
      {"random_mutations_never_crash", test_frontend_random_mutations_never_crash},
  };
  return test_main("frontend", cases, MC_COUNTOF(cases));
}
