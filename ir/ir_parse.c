/* ir_parse.c -- reads the text form printed by ir_print.c back into a graph.
   A hand-written lexer and recursive-descent parser; every node goes through
   the builder, so shape rules check the text and the written type must
   match the computed one. Stops at the first error, reported at line:col. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define DIM_MAX 2147483647LL   /* largest dim or dim value accepted */

typedef enum {
  T_EOF, T_IDENT, T_INT, T_FLOAT, T_STRING, T_NODE, T_GNAME, T_PUNCT
} TokKind;

typedef struct Tok {
  TokKind kind;
  const char *p;    /* first byte in the text */
  size_t len;
  uint32_t line, col;
} Tok;

typedef struct Parser {
  const char *p;     /* next byte to lex */
  uint32_t line, col;
  uint32_t file;
  McDiag *d;
  Tok tok;           /* current token */
  McStr str;         /* decoded text of the current T_STRING / T_GNAME */
  uint64_t node_id;  /* value of the current T_NODE */
  bool failed;
  IrGraph *g;
} Parser;

/* ---- diagnostics ------------------------------------------------------------- */

static McLoc tok_loc(const Parser *P, const Tok *t) {
  return (McLoc){.file = P->file, .line = t->line, .col = t->col,
                 .len = t->len ? (uint32_t)t->len : 1};
}

static bool error_at(Parser *P, const Tok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports only the first error: later ones would be consequences. */
static bool error_at(Parser *P, const Tok *t, const char *fmt, ...) {
  if (P->failed) return false;
  P->failed = true;
  if (P->d) {
    va_list ap;
    va_start(ap, fmt);
    mc_diag_vreport(P->d, MC_DIAG_ERROR, tok_loc(P, t), fmt, ap);
    va_end(ap);
  }
  return false;
}

/* "'foo'", "end of input", "a string" -- for "expected X, found Y". */
static const char *tok_desc(const Tok *t, char *buf, size_t n) {
  if (t->kind == T_EOF) return "end of input";
  if (t->kind == T_STRING) return "a string";
  int len = t->len > 32 ? 32 : (int)t->len;
  snprintf(buf, n, "'%.*s%s'", len, t->p, t->len > 32 ? "..." : "");
  return buf;
}

static bool expected(Parser *P, const char *what) {
  char buf[48];
  return error_at(P, &P->tok, "expected %s, found %s", what, tok_desc(&P->tok, buf, sizeof buf));
}

/* ---- lexer ------------------------------------------------------------------- */

static void advance(Parser *P) {
  if (*P->p == '\n') {
    P->line++;
    P->col = 1;
  } else {
    P->col++;
  }
  P->p++;
}

static void skip_space(Parser *P) {
  for (;;) {
    if (*P->p == ' ' || *P->p == '\t' || *P->p == '\r' || *P->p == '\n')
      advance(P);
    else if (*P->p == '#')
      while (*P->p && *P->p != '\n') advance(P);
    else
      return;
  }
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* string = '"' (char | '\"' | '\\' | '\n' | '\t' | '\xHH')* '"' */
static bool lex_string(Parser *P) {
  P->str.len = 0;
  P->str.s[0] = 0;
  advance(P);
  for (;;) {
    char c = *P->p;
    if (c == '"') break;
    if (c == 0 || c == '\n') return error_at(P, &P->tok, "unterminated string");
    if (c == '\\') {
      Tok esc = {T_PUNCT, P->p, 2, P->line, P->col};
      advance(P);
      char e = *P->p;
      if (e == '"' || e == '\\') c = e;
      else if (e == 'n') c = '\n';
      else if (e == 't') c = '\t';
      else if (e == 'x' && hex_digit(P->p[1]) >= 0 && hex_digit(P->p[2]) >= 0) {
        c = (char)(hex_digit(P->p[1]) * 16 + hex_digit(P->p[2]));
        advance(P);
        advance(P);
        esc.len = 4;
        if (c == 0) return error_at(P, &esc, "NUL character in string");
      } else {
        return error_at(P, &esc, "unknown escape in string");
      }
    }
    mc_str_putc(&P->str, c);
    advance(P);
  }
  advance(P);
  return true;
}

static bool is_ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool is_ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }
static bool is_gname_char(char c) { return is_ident_char(c) || c == '.' || c == '-'; }

/* number = '-'? digit+ ('.' digit*)? ([eE] [+-]? digit+)? */
static void lex_number(Parser *P) {
  P->tok.kind = T_INT;
  if (*P->p == '-') advance(P);
  while (isdigit((unsigned char)*P->p)) advance(P);
  if (*P->p == '.') {
    P->tok.kind = T_FLOAT;
    advance(P);
    while (isdigit((unsigned char)*P->p)) advance(P);
  }
  if ((*P->p == 'e' || *P->p == 'E') &&
      (isdigit((unsigned char)P->p[1]) ||
       ((P->p[1] == '+' || P->p[1] == '-') && isdigit((unsigned char)P->p[2])))) {
    P->tok.kind = T_FLOAT;
    advance(P);
    if (*P->p == '+' || *P->p == '-') advance(P);
    while (isdigit((unsigned char)*P->p)) advance(P);
  }
}

/* Makes the next token current. */
static bool next(Parser *P) {
  if (P->failed) return false;
  skip_space(P);
  Tok *t = &P->tok;
  *t = (Tok){T_EOF, P->p, 0, P->line, P->col};
  char c = *P->p;
  bool ok = true;
  if (c == 0) {
    return true;
  } else if (is_ident_start(c)) {
    t->kind = T_IDENT;
    while (is_ident_char(*P->p)) advance(P);
  } else if (isdigit((unsigned char)c) || (c == '-' && isdigit((unsigned char)P->p[1]))) {
    lex_number(P);
  } else if (c == '"') {
    t->kind = T_STRING;
    ok = lex_string(P);
  } else if (c == '%' && isdigit((unsigned char)P->p[1])) {
    t->kind = T_NODE;
    advance(P);
    P->node_id = 0;
    while (isdigit((unsigned char)*P->p)) {
      if (P->node_id < UINT32_MAX) P->node_id = P->node_id * 10 + (uint64_t)(*P->p - '0');
      advance(P);
    }
  } else if (c == '@' && P->p[1] == '"') {
    t->kind = T_GNAME;
    advance(P);
    ok = lex_string(P);
  } else if (c == '@' && is_gname_char(P->p[1])) {
    t->kind = T_GNAME;
    advance(P);
    P->str.len = 0;
    P->str.s[0] = 0;
    while (is_gname_char(*P->p)) {
      mc_str_putc(&P->str, *P->p);
      advance(P);
    }
  } else if (strchr("{}[]()=,:*-", c)) {
    t->kind = T_PUNCT;
    advance(P);
  } else {
    t->len = 1;
    if (isprint((unsigned char)c)) return error_at(P, t, "unexpected character '%c'", c);
    return error_at(P, t, "unexpected byte 0x%02x", (unsigned char)c);
  }
  t->len = (size_t)(P->p - t->p);
  return ok;
}

/* ---- token tests ---------------------------------------------------------------- */

static bool is_punct(const Parser *P, char c) {
  return P->tok.kind == T_PUNCT && *P->tok.p == c;
}

static bool is_word(const Parser *P, const char *w) {
  return P->tok.kind == T_IDENT && P->tok.len == strlen(w) && memcmp(P->tok.p, w, P->tok.len) == 0;
}

/* The word after a param's initializer: `frozen` (not trained) or `buffer`. */
static bool is_mark(const Parser *P) { return is_word(P, "frozen") || is_word(P, "buffer"); }

static bool expect_punct(Parser *P, char c) {
  if (!is_punct(P, c)) {
    char what[8];
    snprintf(what, sizeof what, "'%c'", c);
    return expected(P, what);
  }
  return next(P);
}

/* Copies the current identifier (NUL-terminated) into buf. */
static bool ident_text(Parser *P, char *buf, size_t n, const char *what) {
  if (P->tok.kind != T_IDENT) return expected(P, what);
  if (P->tok.len >= n) return error_at(P, &P->tok, "name too long");
  memcpy(buf, P->tok.p, P->tok.len);
  buf[P->tok.len] = 0;
  return true;
}

/* ---- numbers ---------------------------------------------------------------------- */

/* int = '-'? digit+, within [lo, hi] */
static bool parse_int(Parser *P, int64_t lo, int64_t hi, int64_t *out) {
  if (P->tok.kind != T_INT) return expected(P, "an integer");
  char buf[32];
  if (P->tok.len >= sizeof buf) return error_at(P, &P->tok, "integer out of range");
  memcpy(buf, P->tok.p, P->tok.len);
  buf[P->tok.len] = 0;
  errno = 0;
  long long v = strtoll(buf, NULL, 10);
  if (errno == ERANGE || v < lo || v > hi)
    return error_at(P, &P->tok, "integer %s out of range [%lld, %lld]", buf, (long long)lo,
                    (long long)hi);
  *out = v;
  return next(P);
}

/* double = number | '-'? ('inf' | 'nan') */
static bool parse_double(Parser *P, double *out) {
  bool neg = false;
  if (is_punct(P, '-')) {
    neg = true;
    if (!next(P)) return false;
  }
  if (is_word(P, "inf") || is_word(P, "nan")) {
    *out = is_word(P, "inf") ? INFINITY : NAN;
    if (neg) *out = -*out;
    return next(P);
  }
  if (neg || (P->tok.kind != T_INT && P->tok.kind != T_FLOAT)) return expected(P, "a number");
  char buf[64];
  if (P->tok.len >= sizeof buf) return error_at(P, &P->tok, "number too long");
  memcpy(buf, P->tok.p, P->tok.len);
  buf[P->tok.len] = 0;
  *out = strtod(buf, NULL);
  return next(P);
}

static bool parse_bool(Parser *P, bool *out) {
  if (!is_word(P, "true") && !is_word(P, "false")) return expected(P, "true or false");
  *out = is_word(P, "true");
  return next(P);
}

/* list = '[' (int (',' int)*)? ']'   toks[i] (optional) is entry i's token */
static bool parse_list(Parser *P, int64_t lo, int64_t hi, int max, int64_t *v, int *n,
                       Tok *toks) {
  *n = 0;
  if (!expect_punct(P, '[')) return false;
  while (!is_punct(P, ']')) {
    if (*n && !expect_punct(P, ',')) return false;
    if (*n == max) return error_at(P, &P->tok, "too many entries in list (at most %d)", max);
    if (toks) toks[*n] = P->tok;
    if (!parse_int(P, lo, hi, &v[(*n)++])) return false;
  }
  return next(P);
}

/* ---- types ------------------------------------------------------------------------- */

/* factor = int | name */
static bool parse_factor(Parser *P, IrDim *f) {
  if (P->tok.kind == T_INT) {
    int64_t k;
    if (!parse_int(P, 0, DIM_MAX, &k)) return false;
    *f = ir_dim_const(k);
    return true;
  }
  char name[128];
  if (!ident_text(P, name, sizeof name, "a dim")) return false;
  int s = ir_graph_find_sym(P->g, name);
  if (s < 0) return error_at(P, &P->tok, "unknown dim '%s'", name);
  *f = ir_dim_sym(P->g, s);
  return next(P);
}

/* dim = factor ('*' factor)*   (printed as 2*B*T: constant first) */
static bool parse_dim(Parser *P, IrDim *d) {
  if (!parse_factor(P, d)) return false;
  while (is_punct(P, '*')) {
    IrDim f;
    if (!next(P) || !parse_factor(P, &f)) return false;
    *d = ir_dim_mul(P->g, *d, f);
    if (d->n > DIM_MAX) return error_at(P, &P->tok, "dim too large");
  }
  return true;
}

/* type = dtype '[' (dim (',' dim)*)? ']' */
static bool parse_type(Parser *P, IrDtype *t, IrShape *s) {
  char name[16];
  if (!ident_text(P, name, sizeof name, "a type")) return false;
  if (!ir_dtype_from_name(name, t)) return error_at(P, &P->tok, "unknown dtype '%s'", name);
  if (!next(P) || !expect_punct(P, '[')) return false;
  *s = (IrShape){0};
  while (!is_punct(P, ']')) {
    if (s->rank && !expect_punct(P, ',')) return false;
    if (s->rank == IR_MAX_RANK)
      return error_at(P, &P->tok, "too many dims (rank at most %d)", IR_MAX_RANK);
    if (!parse_dim(P, &s->d[s->rank++])) return false;
  }
  return next(P);
}

/* ---- nodes ------------------------------------------------------------------------ */

/* Attributes seen on one node line. */
typedef struct Attrs {
  IrAttr a;
  unsigned seen;     /* bit per AttrKey */
  int nperm, nstart, nstep, nstride, ndilation;
} Attrs;

typedef enum {
  A_AXES, A_KEEPDIMS, A_PERM, A_START, A_STEP, A_AXIS, A_STRIDE, A_DILATION, A_COUNT
} AttrKey;
static const char *const attr_names[A_COUNT] = {"axes", "keepdims", "perm", "start",
                                                "step", "axis", "stride", "dilation"};

/* Which attributes an op takes, and which of them must be written. */
static unsigned allowed_attrs(IrOp op, unsigned *required) {
  switch (op) {
  case IR_OP_SUM:
  case IR_OP_MAX: *required = 1u << A_AXES; return 1u << A_AXES | 1u << A_KEEPDIMS;
  case IR_OP_PERMUTE: *required = 1u << A_PERM; return *required;
  case IR_OP_SLICE: *required = 1u << A_START | 1u << A_STEP; return *required;
  case IR_OP_PAD: *required = 1u << A_START; return *required;
  case IR_OP_CONCAT:
  case IR_OP_IOTA: *required = 1u << A_AXIS; return *required;
  case IR_OP_UNFOLD:
  case IR_OP_FOLD: *required = 1u << A_STRIDE | 1u << A_DILATION; return *required;
  default: *required = 0; return 0;
  }
}

static bool parse_attr_value(Parser *P, AttrKey k, Attrs *at) {
  int64_t v[32];
  Tok toks[32];
  int n = 0;
  switch (k) {
  case A_AXES:
    if (!parse_list(P, 0, 31, 32, v, &n, toks)) return false;
    for (int i = 0; i < n; i++) {
      if (at->a.axes & (1u << v[i]))
        return error_at(P, &toks[i], "axis %lld repeated in axes", (long long)v[i]);
      at->a.axes |= 1u << v[i];
    }
    return true;
  case A_KEEPDIMS: return parse_bool(P, &at->a.keepdims);
  case A_PERM:
    if (!parse_list(P, 0, IR_MAX_RANK - 1, IR_MAX_RANK, v, &at->nperm, NULL)) return false;
    for (int i = 0; i < at->nperm; i++) at->a.perm[i] = (uint8_t)v[i];
    return true;
  case A_START: return parse_list(P, -DIM_MAX, DIM_MAX, IR_MAX_RANK, at->a.start, &at->nstart, NULL);
  case A_STEP: return parse_list(P, -DIM_MAX, DIM_MAX, IR_MAX_RANK, at->a.step, &at->nstep, NULL);
  case A_AXIS: {
    int64_t axis;
    if (!parse_int(P, -IR_MAX_RANK, 1000, &axis)) return false;
    at->a.axis = (int)axis;
    return true;
  }
  case A_STRIDE:
    if (!parse_list(P, 1, DIM_MAX, IR_MAX_WIN, at->a.wstride, &at->nstride, NULL)) return false;
    at->a.nwin = (uint8_t)at->nstride;
    return true;
  case A_DILATION:
    return parse_list(P, 1, DIM_MAX, IR_MAX_WIN, at->a.wdilation, &at->ndilation, NULL);
  case A_COUNT: break;
  }
  MC_UNREACHABLE();
}

/* attrs = (key '=' value)* */
static bool parse_attrs(Parser *P, IrOp op, Attrs *at, const Tok *optok) {
  unsigned required, allowed = allowed_attrs(op, &required);
  while (P->tok.kind == T_IDENT) {
    Tok key = P->tok;
    int k = 0;
    while (k < A_COUNT && !is_word(P, attr_names[k])) k++;
    if (k == A_COUNT || !(allowed & (1u << k)))
      return error_at(P, &key, "unknown attribute '%.*s' for %s", (int)key.len, key.p,
                      ir_ops[op].name);
    if (at->seen & (1u << k))
      return error_at(P, &key, "duplicate attribute '%s'", attr_names[k]);
    at->seen |= 1u << k;
    if (!next(P) || !expect_punct(P, '=') || !parse_attr_value(P, (AttrKey)k, at)) return false;
  }
  for (int k = 0; k < A_COUNT; k++)
    if ((required & (1u << k)) && !(at->seen & (1u << k)))
      return error_at(P, optok, "missing attribute '%s' for %s", attr_names[k], ir_ops[op].name);
  return true;
}

/* perm/start/step lists need one entry per operand axis. */
static bool check_list_lengths(Parser *P, const Attrs *at, int rank, const Tok *optok) {
  const struct { AttrKey k; int n; } lists[] = {
      {A_PERM, at->nperm}, {A_START, at->nstart}, {A_STEP, at->nstep}};
  for (size_t i = 0; i < MC_COUNTOF(lists); i++) {
    if ((at->seen & (1u << lists[i].k)) && lists[i].n != rank)
      return error_at(P, optok, "%s has %d entries, but the operand has rank %d",
                      attr_names[lists[i].k], lists[i].n, rank);
  }
  if ((at->seen & (1u << A_STRIDE)) && at->nstride != at->ndilation)
    return error_at(P, optok, "stride has %d entries, dilation %d: one per window axis",
                    at->nstride, at->ndilation);
  return true;
}

/* Which initializer parameters a kind takes: bit 0 a, bit 1 b, bit 2 fan_out. */
static unsigned init_params(IrInitKind k) {
  switch (k) {
  case IR_INIT_NONE:
  case IR_INIT_ZEROS:
  case IR_INIT_ONES:
  case IR_INIT_COUNT: return 0;
  case IR_INIT_NORMAL:
  case IR_INIT_UNIFORM: return 3;
  case IR_INIT_CONSTANT:
  case IR_INIT_XAVIER_UNIFORM:
  case IR_INIT_XAVIER_NORMAL: return 1;
  case IR_INIT_KAIMING_UNIFORM:
  case IR_INIT_KAIMING_NORMAL: return 5;
  }
  return 0;
}

/* init = name ('(' key '=' value (',' key '=' value)* ')')? */
static bool parse_init(Parser *P, IrInit *in) {
  char name[32];
  *in = (IrInit){0};
  if (!ident_text(P, name, sizeof name, "an initializer")) return false;
  if (!ir_init_from_name(name, &in->kind))
    return error_at(P, &P->tok, "unknown initializer '%s'", name);
  if (!next(P)) return false;
  if (!is_punct(P, '(')) return true;
  unsigned allowed = init_params(in->kind);
  do {
    if (!next(P)) return false;
    Tok key = P->tok;
    int bit = is_word(P, "a") ? 1 : is_word(P, "b") ? 2 : is_word(P, "fan_out") ? 4 : 0;
    if (!(allowed & (unsigned)bit))
      return error_at(P, &key, "unknown parameter '%.*s' for initializer %s", (int)key.len,
                      key.p, name);
    if (!next(P) || !expect_punct(P, '=')) return false;
    bool ok = bit == 1 ? parse_double(P, &in->a)
            : bit == 2 ? parse_double(P, &in->b)
                       : parse_bool(P, &in->fan_out);
    if (!ok) return false;
  } while (is_punct(P, ','));
  return expect_punct(P, ')');
}

/* loc = 'loc' '(' int ':' int ':' int ')' */
static bool parse_loc(Parser *P, McLoc *loc) {
  int64_t f, l, c;
  if (!next(P) || !expect_punct(P, '(') || !parse_int(P, 0, UINT32_MAX, &f) ||
      !expect_punct(P, ':') || !parse_int(P, 0, UINT32_MAX, &l) || !expect_punct(P, ':') ||
      !parse_int(P, 0, UINT32_MAX, &c) || !expect_punct(P, ')'))
    return false;
  *loc = (McLoc){.file = (uint32_t)f, .line = (uint32_t)l, .col = (uint32_t)c};
  return true;
}

/* Ops whose result shape is written in the text rather than computed. */
static bool has_preset_shape(IrOp op) {
  return ir_ops[op].cls == IR_CLASS_SOURCE || op == IR_OP_RESHAPE || op == IR_OP_EXPAND ||
         op == IR_OP_SLICE || op == IR_OP_PAD || op == IR_OP_SCATTER_ADD ||
         op == IR_OP_UNFOLD || op == IR_OP_FOLD;
}

/* Builds the parsed node; the written type must match the computed one. */
static bool build_parsed(Parser *P, IrOp op, McVec *src, const Attrs *at, const char *name,
                         IrDtype t, const IrShape *s, const Tok *optok, const Tok *tytok) {
  McLoc oploc = tok_loc(P, optok);
  const IrRef *ops = src->data;
  int n = (int)src->len;
  IrRef r;
  if (op == IR_OP_INPUT && n == 0) {
    r = ir_input(P->g, name, t, s, oploc);
  } else if (op == IR_OP_PARAM && n == 0) {
    r = ir_param(P->g, name, t, s, at->a.init, oploc);
    if (r != IR_NONE) {
      P->g->nodes[r].attr.frozen = at->a.frozen;
      P->g->nodes[r].attr.buffer = at->a.buffer;
    }
  } else {
    r = ir_build(P->g, op, ops, n, &at->a, has_preset_shape(op) ? s : NULL, t, oploc);
  }
  if (r == IR_NONE) {
    P->failed = true;
    return false;
  }
  IrNode *nd = &P->g->nodes[r];
  if (nd->dtype != t || !ir_shape_equal(&nd->shape, s)) {
    McStr a, b;
    mc_str_init(&a);
    mc_str_init(&b);
    ir_shape_print(&a, P->g, (IrDtype)nd->dtype, &nd->shape);
    ir_shape_print(&b, P->g, t, s);
    error_at(P, tytok, "type mismatch: %%%u = %s computes %s, written %s", r, ir_ops[op].name,
             a.s, b.s);
    mc_str_free(&a);
    mc_str_free(&b);
    return false;
  }
  return true;
}

/* operands = (node (',' node)*)? */
static bool parse_operands(Parser *P, McVec *src) {
  while (P->tok.kind == T_NODE) {
    if (P->node_id >= P->g->nnodes)
      return error_at(P, &P->tok, "%%%llu is not defined", (unsigned long long)P->node_id);
    *(IrRef *)mc_vec_push(src) = (IrRef)P->node_id;
    if (!next(P)) return false;
    if (!is_punct(P, ',')) break;
    if (!next(P)) return false;
    if (P->tok.kind != T_NODE) return expected(P, "an operand");
  }
  return true;
}

/* node = NODE '=' op operands (string init? | double)? attrs ':' type loc? kernel? */
static bool parse_node(Parser *P, McVec *src) {
  if (P->node_id != P->g->nnodes)
    return error_at(P, &P->tok, "expected node id %%%u, found %%%llu", P->g->nnodes,
                    (unsigned long long)P->node_id);
  if (!next(P) || !expect_punct(P, '=')) return false;
  Tok optok = P->tok;
  char opname[32];
  IrOp op;
  if (!ident_text(P, opname, sizeof opname, "an op name")) return false;
  if (!ir_op_from_name(opname, &op)) {
    int best = -1, bestd = 3;
    for (int i = 0; i < IR_OP_COUNT; i++) {
      int dist = mc_edit_distance(opname, ir_ops[i].name);
      if (dist < bestd) bestd = dist, best = i;
    }
    if (best >= 0)
      return error_at(P, &optok, "unknown op '%s' (did you mean '%s'?)", opname,
                      ir_ops[best].name);
    return error_at(P, &optok, "unknown op '%s'", opname);
  }
  if (!next(P)) return false;
  src->len = 0;
  if (!parse_operands(P, src)) return false;
  Attrs at = {0};
  char *name = NULL;
  bool ok = true;
  if (op == IR_OP_INPUT || op == IR_OP_PARAM) {
    if (P->tok.kind != T_STRING) return expected(P, "a name string");
    name = mc_xstrdup(P->str.s);
    ok = next(P);
    if (ok && op == IR_OP_PARAM && P->tok.kind == T_IDENT && !is_mark(P))
      ok = parse_init(P, &at.a.init);
    if (ok && op == IR_OP_PARAM && is_mark(P)) {
      at.a.frozen = true;
      at.a.buffer = is_word(P, "buffer");
      ok = next(P);
    }
  } else if (op == IR_OP_CONST) {
    ok = parse_double(P, &at.a.value);
  }
  int rank = src->len ? P->g->nodes[MC_VEC_AT(src, IrRef, 0)].shape.rank : 0;
  IrDtype t = IR_F32;
  IrShape s;
  McLoc loc = {0};
  Tok tytok = {0};
  ok = ok && parse_attrs(P, op, &at, &optok) && check_list_lengths(P, &at, rank, &optok) &&
       expect_punct(P, ':');
  if (ok) {
    tytok = P->tok;
    ok = parse_type(P, &t, &s);
  }
  if (ok && is_word(P, "loc")) ok = parse_loc(P, &loc);
  int64_t kernel = 0;
  if (ok && is_word(P, "kernel"))
    ok = next(P) && expect_punct(P, '=') && parse_int(P, 1, UINT32_MAX - 1, &kernel);
  if (ok) ok = build_parsed(P, op, src, &at, name, t, &s, &optok, &tytok);
  free(name);
  if (ok) {
    P->g->nodes[P->g->nnodes - 1].loc = loc;
    P->g->nodes[P->g->nnodes - 1].kernel = (uint32_t)kernel;
  }
  return ok;
}

/* dimdecl = 'dim' name '=' int 'batch'? */
static bool parse_dimdecl(Parser *P) {
  char name[128];
  if (!next(P) || !ident_text(P, name, sizeof name, "a dim name")) return false;
  Tok nametok = P->tok;
  if (ir_graph_find_sym(P->g, name) >= 0)
    return error_at(P, &nametok, "duplicate dim '%s'", name);
  if (P->g->nsyms == IR_MAX_SYMS)
    return error_at(P, &nametok, "too many dims (at most %d)", IR_MAX_SYMS);
  int64_t v;
  if (!next(P) || !expect_punct(P, '=') || !parse_int(P, 0, DIM_MAX, &v)) return false;
  int sym = ir_graph_add_sym(P->g, name, v);
  if (!is_word(P, "batch")) return true;
  if (ir_graph_batch_sym(P->g) >= 0)
    return error_at(P, &P->tok, "dim '%s' is the second marked batch", name);
  P->g->syms[sym].batch = true;
  return next(P);
}

/* outdecl = ('output' | 'loss' | 'grad' | 'update') string '=' NODE */
static bool parse_outdecl(Parser *P, IrOutKind kind) {
  if (!next(P)) return false;
  if (P->tok.kind != T_STRING) return expected(P, "a name string");
  char *name = mc_xstrdup(P->str.s);
  bool ok = next(P) && expect_punct(P, '=');
  if (ok && P->tok.kind != T_NODE) ok = expected(P, "a node");
  if (ok && P->node_id >= P->g->nnodes)
    ok = error_at(P, &P->tok, "%%%llu is not defined", (unsigned long long)P->node_id);
  if (ok) {
    ir_add_output(P->g, kind, name, (IrRef)P->node_id);
    ok = next(P);
  }
  free(name);
  return ok;
}

/* graph = 'graph' GNAME '{' (dimdecl | node | outdecl)* '}' */
static bool parse_graph(Parser *P) {
  if (!next(P)) return false;
  if (!is_word(P, "graph")) return expected(P, "'graph'");
  if (!next(P)) return false;
  if (P->tok.kind != T_GNAME) return expected(P, "a graph name like @model");
  P->g = ir_graph_new(P->str.s, P->d);
  if (!next(P) || !expect_punct(P, '{')) return false;
  McVec src;
  mc_vec_init(&src, sizeof(IrRef));
  bool ok = true;
  while (ok && !is_punct(P, '}')) {
    if (P->tok.kind == T_NODE) ok = parse_node(P, &src);
    else if (is_word(P, "dim")) ok = parse_dimdecl(P);
    else if (is_word(P, "output")) ok = parse_outdecl(P, IR_OUT_OUTPUT);
    else if (is_word(P, "loss")) ok = parse_outdecl(P, IR_OUT_LOSS);
    else if (is_word(P, "grad")) ok = parse_outdecl(P, IR_OUT_GRAD);
    else if (is_word(P, "update")) ok = parse_outdecl(P, IR_OUT_UPDATE);
    else ok = expected(P, "a node, dim, output, loss, grad, update or '}'");
  }
  mc_vec_free(&src);
  if (!ok || !next(P)) return false;
  if (P->tok.kind != T_EOF) return expected(P, "end of input");
  return true;
}

IrGraph *ir_parse(const char *text, uint32_t file, McDiag *d) {
  Parser P = {.p = text ? text : "", .line = 1, .col = 1, .file = file, .d = d};
  mc_str_init(&P.str);
  bool ok = parse_graph(&P);
  mc_str_free(&P.str);
  if (ok) return P.g;
  ir_graph_free(P.g);
  return NULL;
}
