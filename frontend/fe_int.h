/* fe_int.h -- declarations shared by the front end's own files (scanner,
   parser, lowering, builtins); never included from outside frontend/. */
#ifndef FE_INT_H
#define FE_INT_H

#include "fe.h"

/* ---- fe_lex.l / fe_parse.y: state shared by the scanner and the parser ---- */
typedef struct FeParser {
  McArena *arena;        /* where tokens' text and the tree go */
  McDiag *diag;
  uint32_t file;         /* source id for locations */
  uint32_t line, col;    /* position of the next character */
  uint32_t nl_line, nl_col;  /* position of the latest newline character */
  int depth;             /* open ( and [: newlines inside them are ignored */
  bool sent_final_nl;    /* the newline synthesized before end of file */
  bool last_was_nl;      /* the previous token ended a line */
  char last_text[40];    /* text of the latest token, for "before 'x'" */
  char prev_text[2][40]; /* the two tokens before it (for hints) */
  uint32_t tok_line, tok_end_col;    /* the latest matched text: its line, last column */
  uint32_t last_line, last_end_col;  /* where the latest token handed out ends */
  uint32_t prev_line, prev_end_col;  /* where the token before it ends */
  McLoc open[16];        /* where the innermost open ( and [ are, up to 16 deep */
  char open_char[16];    /* and which they are */
  int start_token;       /* a token to hand out before the text (EXPR_START) */
  bool expr_mode;        /* parsing one expression (fe_parse_expr) */
  FeNode *expr;          /* its tree */
  FeNode *root;          /* the FE_FILE being built */
  bool too_deep;         /* FE_MAX_DEPTH exceeded: reported once */
} FeParser;

/* The tallest syntax tree accepted (FeNode.depth); deeper input is an error,
   so every recursive walk of a tree that parsed cleanly is bounded. */
#define FE_MAX_DEPTH 256

/* ---- fe_ast.c: tree builders, one per grammar rule (the rule is above
   each definition). Each sets the node's depth and reports a tree taller
   than FE_MAX_DEPTH once. */
FeList fe_list_empty(void);
FeList fe_list_one(FeParser *p, FeNode *n);
FeList fe_list_append(FeParser *p, FeList l, FeNode *n);
void fe_file_add(FeParser *p, FeNode *item);
FeNode *fe_import(FeParser *p, const char *path, McLoc loc);
FeNode *fe_block(FeParser *p, const char *name, FeList args, FeList body, McLoc loc);
FeNode *fe_model(FeParser *p, const char *name, FeList body, McLoc loc);
FeNode *fe_bind(FeParser *p, const char *name, FeNode *value, McLoc loc);
FeNode *fe_unpack(FeParser *p, const char *first, McLoc first_loc, FeList rest, FeNode *value,
                  McLoc loc);
FeNode *fe_param_stmt(FeParser *p, const char *name, FeNode *type, FeNode *init, McLoc loc);
FeNode *fe_buffer_stmt(FeParser *p, const char *name, FeNode *type, FeNode *init, McLoc loc);
FeNode *fe_input_stmt(FeParser *p, const char *name, FeNode *type, McLoc loc);
FeNode *fe_output_stmt(FeParser *p, const char *name, FeNode *value, McLoc loc);
FeNode *fe_minimize(FeParser *p, FeNode *value, McLoc loc);
FeNode *fe_freeze(FeParser *p, const char *pattern, McLoc loc);
FeNode *fe_forward(FeParser *p, FeList args, FeNode *value, FeList body, McLoc loc);
FeNode *fe_return(FeParser *p, FeNode *value, McLoc loc);
FeNode *fe_if(FeParser *p, FeNode *cond, FeList then, FeList els, McLoc loc);
FeNode *fe_type(FeParser *p, const char *dtype, FeList dims, McLoc loc);
FeNode *fe_argdef(FeParser *p, const char *name, FeNode *dflt, McLoc loc);
FeNode *fe_binary(FeParser *p, FeOp op, FeNode *a, FeNode *b, McLoc loc);
FeNode *fe_unary(FeParser *p, FeOp op, FeNode *a, McLoc loc);
FeNode *fe_call(FeParser *p, FeNode *callee, FeList args, McLoc paren);
FeNode *fe_kwarg(FeParser *p, const char *name, FeNode *value, McLoc loc);
FeNode *fe_index(FeParser *p, FeNode *base, FeList subs, McLoc loc);
FeNode *fe_slice(FeParser *p, FeNode *start, FeNode *stop, FeNode *step, McLoc loc);
FeNode *fe_member(FeParser *p, FeNode *base, const char *name, McLoc loc);
FeNode *fe_name(FeParser *p, const char *name, McLoc loc);
FeNode *fe_int_lit(FeParser *p, int64_t v, McLoc loc);
FeNode *fe_float_lit(FeParser *p, double v, McLoc loc);
FeNode *fe_string_lit(FeParser *p, const char *s, McLoc loc);
FeNode *fe_paren(FeParser *p, FeNode *inner);
FeNode *fe_list_expr(FeParser *p, FeList items, McLoc loc);

/* fe_lex.l: one scanner per parse, over len bytes of text. */
void *fe_scanner_new(FeParser *p, const char *text, size_t len);
void fe_scanner_free(void *scanner);
/* fe_parse.y: display name of a token code ("identifier", "')'"). */
const char *fe_token_name(int token);

McLoc fe_loc(const FeParser *p, int first_line, int first_col, int last_line, int last_col);
/* True once an error beyond the sink's limit was reported (and replaced by
   "too many errors, stopping"): parsing and lowering stop. */
bool fe_too_many_errors(const McDiag *d);

/* ---- the lowering state, shared by fe_value.c, fe_eval.c, fe_lower.c ---- */
typedef enum FeValKind {
  FE_V_POISON,   /* the result of an error: silently propagates */
  FE_V_INT,      /* compile-time integer (possibly a named-dim monomial) */
  FE_V_FLOAT,    /* compile-time float */
  FE_V_STR,      /* string (keyword values such as mode = "fan_out") */
  FE_V_LIST,     /* [a, b, ...] and the results of split */
  FE_V_TENSOR,   /* an IR value */
  FE_V_INST,     /* a block instance or a repeat of instances */
} FeValKind;

typedef struct FeInst FeInst;
typedef struct FeValue {
  FeValKind kind;
  int64_t i;               /* FE_V_INT: value under the current binding */
  IrDim dim;               /* FE_V_INT: symbolic form, e.g. 3*C */
  double f;                /* FE_V_FLOAT */
  const char *s;           /* FE_V_STR */
  struct FeValue *items;   /* FE_V_LIST (arena) */
  int n;                   /* FE_V_LIST: length */
  IrRef t;                 /* FE_V_TENSOR */
  FeInst *inst;            /* FE_V_INST */
} FeValue;

typedef struct FeBinding {
  const char *name;
  FeValue v;
  McLoc loc;               /* the definition, for "previous definition" notes */
  struct FeBinding *next;
} FeBinding;

typedef struct FeScope {
  FeBinding *head;
  struct FeScope *parent;  /* NULL: next come blocks, then builtins */
} FeScope;

struct FeInst {
  const char *path;        /* "layers.0.attn": prefix of its param names */
  const FeNode *block;     /* FE_BLOCK; NULL for a repeat */
  bool is_std;             /* block from the standard library */
  FeScope *scope;          /* body bindings; parent holds the constructor args */
  const FeNode *forward;   /* FE_FORWARD or NULL */
  FeInst **items;          /* repeat: the instances, in order */
  int n;
};

typedef struct FeLower {
  McArena *arena;          /* values, scopes, trees: freed after compiling */
  McDiag *diag;
  McSources *src;
  const FeOptions *opts;
  bool *define_used;       /* per opts->defines[i] */
  IrGraph *g;
  McVec user_blocks;       /* of const FeNode * (FE_BLOCK) */
  McVec std_blocks;        /* filled by fe_load_prelude on the first lookup that needs it */
  bool prelude_loaded;
  McVec files;             /* of FeFileRec, for imports */
  bool in_std;             /* names resolve among std blocks only */
  bool in_forward;         /* no params or instances may be created */
  const char *prefix;      /* path of the instance being built ("" at model level) */
  int block_depth;         /* nested instantiations and forward calls */
  int ninstances;
  McVec arg_pool;          /* of heap CallArgs *, reused LIFO by nested calls */
  int arg_depth;           /* how many of them are in use */
  int64_t ncalls;          /* forward calls so far */
  int import_depth;
  bool too_large;          /* a size limit was hit and reported */
  IrRef rng;               /* the random state buffer (dropout), IR_NONE until needed */
  int ndropout;            /* dropout sites so far: each draws its own stream */
  McVec freezes;           /* of const FeNode * (FE_FREEZE, name = full pattern), applied last */
  const FeNode *extra;     /* opts->extra_output's expression, parsed */
} FeLower;

/* Limits that keep hostile input from exhausting the stack or memory. */
#define FE_MAX_BLOCK_DEPTH 32
#define FE_MAX_INSTANCES 100000
#define FE_MAX_CALLS 100000       /* forward calls: nesting can multiply them */
#define FE_MAX_NODES 500000       /* IR nodes of one graph */
#define FE_MAX_REPEAT 10000
#define FE_MAX_IMPORT_DEPTH 64
#define FE_MAX_ARGS 16

/* Whether a statement list is a model body, a block body or a forward body. */
typedef enum FeStmtCtx { FE_CTX_MODEL, FE_CTX_BLOCK, FE_CTX_FORWARD } FeStmtCtx;

/* The state of running one statement list. */
typedef struct FeExec {
  FeStmtCtx ctx;
  FeInst *inst;            /* FE_CTX_BLOCK: the instance being built */
  bool returned;           /* FE_CTX_FORWARD: a return ran */
  FeValue result;          /* ... and its value */
  const FeNode *loss;      /* FE_CTX_MODEL: the minimize statement seen */
  bool has_output;         /* FE_CTX_MODEL: an output statement seen */
} FeExec;

/* ---- fe_value.c: values, scopes, names, operators ------------------------ */
FeValue fe_poison(void);
FeValue fe_int(int64_t v);
FeValue fe_float(double v);
FeValue fe_tensor(IrRef t);
bool fe_is_number(const FeValue *v);
double fe_number(const FeValue *v);
const char *fe_value_kind(const FeValue *v);   /* "a tensor", "a number", ... */
/* A number as written back to the user ("3", "2.5", "24.0"), else its kind. */
const char *fe_value_str(FeLower *cx, const FeValue *v);
/* Binary operators on any values (numbers fold, tensors build IR). */
FeValue fe_binop(FeLower *cx, FeOp op, FeValue a, FeValue b, McLoc loc);
FeValue fe_negate(FeLower *cx, FeValue v, McLoc loc);
/* A number as a rank-0 constant of dtype t; a tensor as itself. */
IrRef fe_as_tensor(FeLower *cx, const FeValue *v, IrDtype t, McLoc loc);
const IrNode *fe_tnode(const FeLower *cx, const FeValue *v);        /* of a tensor */
const char *fe_type_str(const FeLower *cx, const FeValue *v);       /* "f32[B,10]" */
char *fe_path_join(FeLower *cx, const char *prefix, const char *name);  /* "a.b" */

FeScope *fe_scope_new(FeLower *cx, FeScope *parent);
FeBinding *fe_scope_find_local(FeScope *sc, const char *name);
FeBinding *fe_scope_find(FeScope *sc, const char *name);            /* and parents */
/* False, after "'x' is already defined" and a note, when sc binds name. */
bool fe_is_fresh(FeLower *cx, FeScope *sc, const char *name, McLoc loc);
void fe_define(FeLower *cx, FeScope *sc, const char *name, FeValue v, McLoc loc);
bool fe_constant(const char *name, FeValue *out);   /* inf, pi, true, false */
const FeNode *fe_find_block_in(const McVec *blocks, const char *name);
/* The block a name means here: user blocks first, then the standard
   library's (only those inside the standard library). */
const FeNode *fe_find_block(FeLower *cx, const char *name, bool *is_std);
/* Parses std/nn.model into std_blocks, once per compilation: a model that
   names no std block (or does not parse) never pays for it. */
void fe_load_prelude(FeLower *cx);
/* The closest of cands to name, for "did you mean" hints, or NULL. */
const char *fe_suggest(const char *name, const char *const *cands, int n);
const char *fe_suggest_in_scopes(const FeScope *sc, const char *name);
/* "unknown name 'x'; did you mean 'y'?" over everything visible from sc. */
void fe_report_unknown(FeLower *cx, FeScope *sc, const char *name, McLoc loc);

/* ---- fe_eval.c: expressions --------------------------------------------- */
/* inst_name: the binding an expression initializes, so that a block call at
   its top creates an instance of that name (NULL elsewhere). */
FeValue fe_eval(FeLower *cx, FeScope *sc, const FeNode *e, const char *inst_name);
bool fe_eval_type(FeLower *cx, FeScope *sc, const FeNode *type, IrDtype *dt, IrShape *s);
/* A param initializer call (NULL: zeros). */
bool fe_eval_init(FeLower *cx, FeScope *sc, const FeNode *e, IrInit *init);
void fe_eval_fini(FeLower *cx);   /* frees the argument records */

/* ---- fe_lower.c: statements ---------------------------------------------- */
void fe_exec_stmts(FeLower *cx, FeScope *sc, const FeList *stmts, FeExec *st);

/* ---- fe_builtins.c: the builtin functions -------------------------------- */
/* Arguments bound to a signature: v[i] is parameter i, given[i] whether the
   call supplied it (defaults are the builtin's business). */
typedef struct FeArgs {
  const char *callee;      /* name, for messages */
  McLoc loc;               /* the call (caret on the callee) */
  const char *names[FE_MAX_ARGS];  /* parameter names */
  FeValue v[FE_MAX_ARGS];
  bool given[FE_MAX_ARGS];
  McLoc at[FE_MAX_ARGS];   /* each argument's location (the call's if absent) */
} FeArgs;

typedef struct FeBuiltin {
  const char *name;
  const char *params;      /* "x, axis=, keepdims=": '=' marks an optional one */
  FeValue (*fn)(FeLower *cx, FeArgs *a);
} FeBuiltin;

const FeBuiltin *fe_builtin_find(const char *name);
const char *fe_builtin_name(int i);   /* NULL past the end, for suggestions */

#endif
