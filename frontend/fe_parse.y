/* fe_parse.y -- the grammar of the .model language. A pure parser: every
   action is one call to a builder of fe_ast.c; syntax errors list the
   expected tokens ("expected ')' or ',' before 'x'") and recovery resumes at
   the next statement (yyerrok: its errors are reported at once), so one run
   reports several errors. */
%code requires {
#include "fe_int.h"
typedef void *yyscan_t;
}

%code {
#include <stdlib.h>
#include <string.h>

#ifndef YYSTYPE
#define YYSTYPE FE_YYSTYPE
#endif
#ifndef YYLTYPE
#define YYLTYPE FE_YYLTYPE
#endif
int fe_yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);
static void fe_yyerror(YYLTYPE *loc, yyscan_t scanner, FeParser *p, const char *msg);
#define L(yl) fe_loc(p, (yl).first_line, (yl).first_column, (yl).last_line, (yl).last_column)
/* Stop once the diagnostics sink is full: the rest would not be shown. */
#define CHECK_LIMIT() do { if (fe_too_many_errors(p->diag)) YYABORT; } while (0)
}

%define api.pure full
%define api.prefix {fe_yy}
%locations
%define parse.error custom
%define parse.lac full
%param {yyscan_t scanner}
%parse-param {FeParser *p}
%expect 0

%union {
  int64_t ival;
  double fval;
  const char *str;
  FeNode *node;
  FeList list;
  FeOp op;
}

%token <str> IDENT "identifier"
%token <str> STRING "string"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token NEWLINE "end of line"
%token KW_MODEL "'model'" KW_BLOCK "'block'" KW_IMPORT "'import'"
%token KW_PARAM "'param'" KW_BUFFER "'buffer'" KW_INPUT "'input'" KW_OUTPUT "'output'"
%token KW_MINIMIZE "'minimize'" KW_FREEZE "'freeze'" KW_FORWARD "'forward'" KW_RETURN "'return'"
%token KW_IF "'if'" KW_ELSE "'else'"
%token POW "'**'" LE "'<='" GE "'>='" EQ "'=='" NE "'!='"
%token EXPR_START "start of expression"   /* sent first by fe_parse_expr's scanner */

%type <node> item import block model stmt if_stmt type argdef expr sum term unary power
%type <node> postfix primary arg subscript opt_expr
%type <list> body stmts argdefs argdefs_opt names args args_opt subscripts exprs exprs_opt
%type <op> cmp_op

%%

start:
    file
  | EXPR_START expr NEWLINE     { p->expr = $2; }
  ;

/* file = (item? sep)* */
file:
    %empty
  | file sep
  | file item sep               { fe_file_add(p, $2); }
  | file error sep              { yyerrok; CHECK_LIMIT(); }
  ;

item: import | block | model ;

/* import = "import" STRING */
import: KW_IMPORT STRING        { $$ = fe_import(p, $2, L(@2)); } ;

/* block = "block" IDENT "(" argdefs ")" body */
block:
    KW_BLOCK IDENT '(' argdefs_opt ')' body    { $$ = fe_block(p, $2, $4, $6, L(@2)); }
  ;

/* model = "model" IDENT body */
model: KW_MODEL IDENT body      { $$ = fe_model(p, $2, $3, L(@2)); } ;

/* body = "{" (stmt? sep)* stmt? "}" */
body:
    '{' stmts '}'               { $$ = $2; }
  | '{' stmts stmt '}'          { $$ = fe_list_append(p, $2, $3); }
  | '{' stmts error '}'         { $$ = $2; yyerrok; CHECK_LIMIT(); }
  ;

stmts:
    %empty                      { $$ = fe_list_empty(); }
  | stmts sep                   { $$ = $1; }
  | stmts stmt sep              { $$ = fe_list_append(p, $1, $2); }
  | stmts error sep             { $$ = $1; yyerrok; CHECK_LIMIT(); }
  ;

sep: NEWLINE | ';' ;

stmt:
    IDENT '=' expr                            { $$ = fe_bind(p, $1, $3, L(@1)); }
  | IDENT ',' names '=' expr                  { $$ = fe_unpack(p, $1, L(@1), $3, $5, L(@4)); }
  | KW_PARAM IDENT ':' type                   { $$ = fe_param_stmt(p, $2, $4, NULL, L(@2)); }
  | KW_PARAM IDENT ':' type '=' expr          { $$ = fe_param_stmt(p, $2, $4, $6, L(@2)); }
  | KW_BUFFER IDENT ':' type                  { $$ = fe_buffer_stmt(p, $2, $4, NULL, L(@2)); }
  | KW_BUFFER IDENT ':' type '=' expr         { $$ = fe_buffer_stmt(p, $2, $4, $6, L(@2)); }
  | KW_INPUT IDENT ':' type                   { $$ = fe_input_stmt(p, $2, $4, L(@2)); }
  | KW_OUTPUT IDENT                           { $$ = fe_output_stmt(p, $2, NULL, L(@2)); }
  | KW_OUTPUT IDENT '=' expr                  { $$ = fe_output_stmt(p, $2, $4, L(@2)); }
  | KW_OUTPUT '=' expr                        { $$ = fe_bind(p, "output", $3, L(@1)); }
  | KW_MINIMIZE expr                          { $$ = fe_minimize(p, $2, L(@1)); }
  | KW_FREEZE STRING                          { $$ = fe_freeze(p, $2, L(@2)); }
  | KW_FORWARD '(' argdefs_opt ')' '=' expr   { $$ = fe_forward(p, $3, $6, fe_list_empty(), L(@1)); }
  | KW_FORWARD '(' argdefs_opt ')' body       { $$ = fe_forward(p, $3, NULL, $5, L(@1)); }
  | KW_RETURN expr                            { $$ = fe_return(p, $2, L(@1)); }
  | if_stmt
  ;

/* if = "if" expr body ("else" (body | if))? */
if_stmt:
    KW_IF expr body                           { $$ = fe_if(p, $2, $3, fe_list_empty(), L(@1)); }
  | KW_IF expr body KW_ELSE body              { $$ = fe_if(p, $2, $3, $5, L(@1)); }
  | KW_IF expr body KW_ELSE if_stmt           { $$ = fe_if(p, $2, $3, fe_list_one(p, $5), L(@1)); }
  ;

names:
    IDENT                       { $$ = fe_list_one(p, fe_name(p, $1, L(@1))); }
  | names ',' IDENT             { $$ = fe_list_append(p, $1, fe_name(p, $3, L(@3))); }
  ;

/* type = IDENT "[" (expr ("," expr)*)? "]" */
type: IDENT '[' exprs_opt ']'   { $$ = fe_type(p, $1, $3, L(@1)); } ;

argdefs_opt:
    %empty                      { $$ = fe_list_empty(); }
  | argdefs
  | argdefs ','
  ;

argdefs:
    argdef                      { $$ = fe_list_one(p, $1); }
  | argdefs ',' argdef          { $$ = fe_list_append(p, $1, $3); }
  ;

/* argdef = IDENT ("=" expr)? */
argdef:
    IDENT                       { $$ = fe_argdef(p, $1, NULL, L(@1)); }
  | IDENT '=' expr              { $$ = fe_argdef(p, $1, $3, L(@1)); }
  ;

/* expr = sum (cmp_op sum)?      comparisons do not chain */
expr:
    sum
  | sum cmp_op sum              { $$ = fe_binary(p, $2, $1, $3, L(@2)); }
  ;

cmp_op:
    '<'                         { $$ = FE_OP_LT; }
  | LE                          { $$ = FE_OP_LE; }
  | '>'                         { $$ = FE_OP_GT; }
  | GE                          { $$ = FE_OP_GE; }
  | EQ                          { $$ = FE_OP_EQ; }
  | NE                          { $$ = FE_OP_NE; }
  ;

/* sum = term (("+" | "-") term)* */
sum:
    term
  | sum '+' term                { $$ = fe_binary(p, FE_OP_ADD, $1, $3, L(@2)); }
  | sum '-' term                { $$ = fe_binary(p, FE_OP_SUB, $1, $3, L(@2)); }
  ;

/* term = unary (("*" | "/" | "@") unary)* */
term:
    unary
  | term '*' unary              { $$ = fe_binary(p, FE_OP_MUL, $1, $3, L(@2)); }
  | term '/' unary              { $$ = fe_binary(p, FE_OP_DIV, $1, $3, L(@2)); }
  | term '@' unary              { $$ = fe_binary(p, FE_OP_MATMUL, $1, $3, L(@2)); }
  ;

/* unary = "-" unary | power */
unary:
    '-' unary                   { $$ = fe_unary(p, FE_OP_NEG, $2, L(@1)); }
  | power
  ;

/* power = postfix ("**" unary)?   right associative */
power:
    postfix
  | postfix POW unary           { $$ = fe_binary(p, FE_OP_POW, $1, $3, L(@2)); }
  ;

/* postfix = primary ("(" args ")" | "[" subscripts "]" | "." IDENT)* */
postfix:
    primary
  | postfix '(' args_opt ')'    { $$ = fe_call(p, $1, $3, L(@2)); }
  | postfix '[' subscripts ']'  { $$ = fe_index(p, $1, $3, L(@2)); }
  | postfix '.' IDENT           { $$ = fe_member(p, $1, $3, L(@3)); }
  ;

/* primary = IDENT | INT | FLOAT | STRING | "(" expr ")" | "[" exprs "]" */
primary:
    IDENT                       { $$ = fe_name(p, $1, L(@1)); }
  | KW_OUTPUT                   { $$ = fe_name(p, "output", L(@1)); }
  | INT                         { $$ = fe_int_lit(p, $1, L(@1)); }
  | FLOAT                       { $$ = fe_float_lit(p, $1, L(@1)); }
  | STRING                      { $$ = fe_string_lit(p, $1, L(@1)); }
  | '(' expr ')'                { $$ = fe_paren(p, $2); }
  | '[' exprs_opt ']'           { $$ = fe_list_expr(p, $2, L(@1)); }
  ;

args_opt:
    %empty                      { $$ = fe_list_empty(); }
  | args
  | args ','
  ;

args:
    arg                         { $$ = fe_list_one(p, $1); }
  | args ',' arg                { $$ = fe_list_append(p, $1, $3); }
  ;

/* arg = expr | IDENT "=" expr */
arg:
    expr
  | IDENT '=' expr              { $$ = fe_kwarg(p, $1, $3, L(@1)); }
  ;

subscripts:
    subscript                   { $$ = fe_list_one(p, $1); }
  | subscripts ',' subscript    { $$ = fe_list_append(p, $1, $3); }
  ;

/* subscript = expr | expr? ":" expr? (":" expr?)? */
subscript:
    expr
  | opt_expr ':' opt_expr                     { $$ = fe_slice(p, $1, $3, NULL, L(@2)); }
  | opt_expr ':' opt_expr ':' opt_expr        { $$ = fe_slice(p, $1, $3, $5, L(@2)); }
  ;

opt_expr:
    %empty                      { $$ = NULL; }
  | expr
  ;

exprs_opt:
    %empty                      { $$ = fe_list_empty(); }
  | exprs
  | exprs ','
  ;

exprs:
    expr                        { $$ = fe_list_one(p, $1); }
  | exprs ',' expr              { $$ = fe_list_append(p, $1, $3); }
  ;

%%

/* Token names without the quotes bison keeps around aliases. */
static const char *symbol_display(yysymbol_kind_t s) {
  if (s == YYSYMBOL_YYEOF) return "end of file";
  const char *name = yysymbol_name(s);
  static char buf[YYNTOKENS][32];
  if (name[0] != '"') return name;
  size_t n = strlen(name) - 2;
  if (n >= sizeof buf[0]) n = sizeof buf[0] - 1;
  if ((int)s < 0 || (int)s >= YYNTOKENS) return name;
  memcpy(buf[s], name + 1, n);
  buf[s][n] = 0;
  return buf[s];
}

const char *fe_token_name(int token) {
  return symbol_display(YYTRANSLATE(token));
}

/* Character tokens are named "'c'" by bison. */
static bool is_char(yysymbol_kind_t s, const char *chars) {
  const char *name = yysymbol_name(s);
  return name[0] == '\'' && name[1] && name[2] == '\'' && strchr(chars, name[1]);
}

/* `output` starts an expression too: it may name an instance. */
static bool is_expr_start(yysymbol_kind_t s) {
  return s == YYSYMBOL_IDENT || s == YYSYMBOL_INT || s == YYSYMBOL_FLOAT ||
         s == YYSYMBOL_STRING || s == YYSYMBOL_KW_OUTPUT || is_char(s, "([-");
}

/* Tokens that may continue a complete expression. */
static bool is_operator(yysymbol_kind_t s) {
  return s == YYSYMBOL_POW || s == YYSYMBOL_LE || s == YYSYMBOL_GE || s == YYSYMBOL_EQ ||
         s == YYSYMBOL_NE || is_char(s, "+-*/@<>([.");
}

static bool is_stmt_start(yysymbol_kind_t s) {
  return s == YYSYMBOL_IDENT || s == YYSYMBOL_KW_PARAM || s == YYSYMBOL_KW_BUFFER ||
         s == YYSYMBOL_KW_INPUT ||
         s == YYSYMBOL_KW_OUTPUT || s == YYSYMBOL_KW_MINIMIZE || s == YYSYMBOL_KW_FREEZE ||
         s == YYSYMBOL_KW_FORWARD ||
         s == YYSYMBOL_KW_RETURN || s == YYSYMBOL_KW_IF;
}

static bool has(const yysymbol_kind_t *set, int n, yysymbol_kind_t s) {
  for (int i = 0; i < n; i++)
    if (set[i] == s) return true;
  return false;
}

/* Removes the symbols matching `drop` from set[0..n), returns the new n. */
static int remove_if(yysymbol_kind_t *set, int n, bool (*drop)(yysymbol_kind_t)) {
  int m = 0;
  for (int i = 0; i < n; i++)
    if (!drop(set[i])) set[m++] = set[i];
  return m;
}

static bool is_semicolon(yysymbol_kind_t s) { return is_char(s, ";"); }

static bool is_separator(yysymbol_kind_t s) { return s == YYSYMBOL_NEWLINE || is_semicolon(s); }

static bool is_equals(yysymbol_kind_t s) { return is_char(s, "="); }

static bool has_char(const yysymbol_kind_t *set, int n, const char *c) {
  for (int i = 0; i < n; i++)
    if (is_char(set[i], c)) return true;
  return false;
}

/* The declaration keywords people write where a value goes (`w = param
   f32[5, 4] = normal()`, as torch's nn.Parameter): NULL for other tokens. */
static const char *declaration_keyword(yysymbol_kind_t s) {
  return s == YYSYMBOL_KW_PARAM ? "param" : s == YYSYMBOL_KW_BUFFER ? "buffer"
       : s == YYSYMBOL_KW_INPUT ? "input" : NULL;
}

static bool is_ident_text(const char *s) {
  if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return false;
  for (; *s; s++)
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
      return false;
  return true;
}

/* text[0..n) without blanks around it, as a heap string. */
static char *trimmed(const char *text, size_t n) {
  while (n && (*text == ' ' || *text == '\t')) text++, n--;
  while (n && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r')) n--;
  char *s = mc_xmalloc(n + 1);
  memcpy(s, text, n);
  s[n] = 0;
  return s;
}

/* Where the first '=' or ',' outside brackets is in text[0..n), or n. */
static size_t top_level_split(const char *text, size_t n) {
  int depth = 0;
  for (size_t i = 0; i < n; i++) {
    char c = text[i];
    if (c == '(' || c == '[') depth++;
    else if ((c == ')' || c == ']') && depth > 0) depth--;
    else if (depth == 0 && c == ',') return i;
    else if (depth == 0 && c == '=' && (i + 1 == n || text[i + 1] != '=')) return i;
  }
  return n;
}

/* The statement the user meant, from the rest of the line after the
   keyword at `at`: `w = param f32[5, 4] = normal()` gives "param w: f32[5,
   4] = normal()". Heap string. */
static char *declaration_fix(FeParser *p, McLoc at, const char *kw) {
  const char *name = !strcmp(p->prev_text[0], "=") && is_ident_text(p->prev_text[1])
                         ? p->prev_text[1] : "NAME";
  const McSourceFile *f = p->diag ? mc_sources_get(p->diag->src, p->file) : NULL;
  const char *rest = "", *end = rest;
  if (f && f->text) {
    const char *s = f->text, *stop = f->text + f->len;
    for (uint32_t line = 1; line < at.line && s < stop; s++)
      if (*s == '\n') line++;
    size_t skip = at.col - 1 + strlen(kw);
    if ((size_t)(stop - s) >= skip) {
      rest = s + skip;
      end = rest;
      while (end < stop && *end != '\n' && *end != '#') end++;
    }
  }
  char *body = trimmed(rest, (size_t)(end - rest));
  size_t n = strlen(body);
  char *inner = n >= 2 && body[0] == '(' && body[n - 1] == ')' ? trimmed(body + 1, n - 2)
                                                                : mc_xstrdup(body);
  size_t cut = top_level_split(inner, strlen(inner));
  char *type = trimmed(inner, cut);
  char *init = cut < strlen(inner) ? trimmed(inner + cut + 1, strlen(inner) - cut - 1) : NULL;
  McStr out;
  mc_str_init(&out);
  mc_str_printf(&out, "%s %s: %s", kw, name, *type ? type : "TYPE");
  if (strcmp(kw, "input") != 0) mc_str_printf(&out, " = %s", init && *init ? init : "INIT");
  free(body);
  free(inner);
  free(type);
  free(init);
  return out.s;
}

/* "expected A, B or C before 'x'": expression and statement starters are
   summarized, and operators are left out when the expression could also
   end here (they are always possible after an operand). */
static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, FeParser *p) {
  (void)scanner;
  yysymbol_kind_t exp[YYNTOKENS];
  int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
  if (n < 0) n = 0;
  const char *words[8];
  int nw = 0;
  if (has(exp, n, YYSYMBOL_KW_PARAM)) {
    n = remove_if(exp, n, is_stmt_start);
    n = remove_if(exp, n, is_separator);
    words[nw++] = "a statement";
  }
  if (has(exp, n, YYSYMBOL_IDENT) && has(exp, n, YYSYMBOL_INT)) {
    n = remove_if(exp, n, is_expr_start);
    words[nw++] = "an expression";
  }
  bool can_end = false;
  for (int i = 0; i < n; i++)
    if (!is_operator(exp[i])) can_end = true;
  if (can_end || nw) n = remove_if(exp, n, is_operator);
  /* '=' after a name in a call or parameter list starts a keyword
     argument or a default: a continuation, like an operator. */
  if (has_char(exp, n, ",") && has_char(exp, n, ")")) n = remove_if(exp, n, is_equals);
  if (has(exp, n, YYSYMBOL_NEWLINE)) n = remove_if(exp, n, is_semicolon);
  for (int i = 0; i < n && nw < (int)MC_COUNTOF(words); i++) words[nw++] = symbol_display(exp[i]);

  yysymbol_kind_t tok = yypcontext_token(ctx);
  McLoc at = L(*yypcontext_location(ctx));
  /* A bracket left open: the error shows at the next line's first token,
     but the mistake is at the end of the line before. */
  bool unclosed = p->depth > 0 && tok != YYSYMBOL_NEWLINE && tok != YYSYMBOL_YYEOF &&
                  p->prev_line && p->last_line > p->prev_line;
  if (unclosed) at = (McLoc){.file = p->file, .line = p->prev_line, .col = p->prev_end_col + 1, .len = 1};
  McStr before;
  mc_str_init(&before);
  if (!unclosed && (tok == YYSYMBOL_YYEOF || (tok == YYSYMBOL_NEWLINE && !p->last_text[0])) &&
      !p->expr_mode)
    mc_str_puts(&before, "end of file");
  else if (unclosed || tok == YYSYMBOL_NEWLINE || tok == YYSYMBOL_YYEOF)
    mc_str_puts(&before, "end of line");
  else
    mc_str_printf(&before, "'%s'", p->last_text);

  McStr msg;
  mc_str_init(&msg);
  if (nw == 0 || nw > 4) {
    mc_str_printf(&msg, "unexpected %s", before.s);
  } else {
    mc_str_puts(&msg, "expected ");
    for (int i = 0; i < nw; i++) {
      if (i) mc_str_puts(&msg, i == nw - 1 ? " or " : ", ");
      mc_str_puts(&msg, words[i]);
    }
    mc_str_printf(&msg, " before %s", before.s);
  }
  const char *decl = declaration_keyword(tok);
  char *fix = decl && nw && !strcmp(words[0], "an expression") ? declaration_fix(p, at, decl) : NULL;
  if (fix)
    mc_error(p->diag, at, "'%s' starts a statement of its own, not an expression: write `%s`",
             decl, fix);
  else
    mc_error(p->diag, at, "%s", msg.s);
  free(fix);
  /* a bracket opened on an earlier line, or left open at the end: show where */
  const McLoc *open = p->depth > 0 && p->depth <= (int)MC_COUNTOF(p->open)
                          ? &p->open[p->depth - 1] : NULL;
  bool at_end = tok == YYSYMBOL_NEWLINE || tok == YYSYMBOL_YYEOF;
  if (open && (unclosed || at_end || open->line < at.line))
    mc_note(p->diag, p->open[p->depth - 1], "to match this '%c'", p->open_char[p->depth - 1]);
  mc_str_free(&msg);
  mc_str_free(&before);
  p->depth = 0;   /* a missing ')' must not swallow the following lines */
  return 0;
}

/* Only bison's own failures arrive here ("memory exhausted"). */
static void fe_yyerror(YYLTYPE *loc, yyscan_t scanner, FeParser *p, const char *msg) {
  (void)scanner;
  if (strstr(msg, "exhausted"))
    mc_error(p->diag, L(*loc), "input is nested too deeply");
  else
    mc_error(p->diag, L(*loc), "%s", msg);
}

FeNode *fe_parse_expr(McArena *a, const char *text, size_t len, uint32_t file, uint32_t col,
                      McDiag *d) {
  FeParser p = {.arena = a, .diag = d, .file = file, .line = 1, .col = col ? col : 1,
                .start_token = EXPR_START, .expr_mode = true};
  p.root = fe_node_new(a, FE_FILE, fe_loc(&p, 1, 1, 1, 1));
  int errors = d->nerrors;
  void *sc = len <= INT32_MAX / 2 ? fe_scanner_new(&p, text, len) : NULL;
  if (!sc) {
    mc_error(d, fe_loc(&p, 1, (int)p.col, 1, (int)p.col), "the expression is too long");
    return NULL;
  }
  fe_yyparse(sc, &p);
  fe_scanner_free(sc);
  return d->nerrors == errors ? p.expr : NULL;
}

FeNode *fe_parse(McArena *a, const char *text, size_t len, uint32_t file, McDiag *d) {
  FeParser p = {.arena = a, .diag = d, .file = file, .line = 1, .col = 1};
  p.root = fe_node_new(a, FE_FILE, fe_loc(&p, 1, 1, 1, 1));
  if (len > INT32_MAX / 2) {
    mc_error(d, fe_loc(&p, 1, 1, 1, 1), "source file is too large");
    return p.root;
  }
  void *sc = fe_scanner_new(&p, text, len);
  if (!sc) {
    mc_error(d, fe_loc(&p, 1, 1, 1, 1), "cannot start the scanner");
    return p.root;
  }
  fe_yyparse(sc, &p);
  fe_scanner_free(sc);
  return p.root;
}
