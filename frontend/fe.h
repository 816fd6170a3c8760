/* fe.h -- the .model language front end: a reentrant flex scanner, a pure
   bison parser building an AST, and the lowering that instantiates blocks,
   evaluates compile-time values and builds the forward IR graph. */
#ifndef FE_H
#define FE_H

#include "ir.h"

typedef struct FeDefine {
  const char *name;     /* dim name, e.g. "B" */
  int64_t value;
} FeDefine;

/* A model's mode, as torch's module.train() / module.eval(): batch norm
   normalizes with the batch's statistics and updates its running ones in
   train mode, uses the running ones in eval mode; dropout is off in eval. */
typedef enum FeMode { FE_MODE_TRAIN, FE_MODE_EVAL } FeMode;

typedef struct FeOptions {
  const FeDefine *defines;   /* -D NAME=VALUE overrides of model dims */
  int ndefines;
  const char *stdlib_dir;    /* where `import "std/..."` looks (a directory
                                holding nn.model); NULL = built in */
  FeMode mode;               /* train (the default, as a torch module) or eval */
  const char *const *freeze; /* globs of params to freeze (--freeze), as `freeze` does */
  int nfreeze;
  /* One more output, for the REPL's `print EXPR`: the expression that
     starts at byte extra_offset of line 1 of source extra_file (the caller
     registered it in the same McSources), evaluated in the model's scope
     after its statements; its errors point into that source. A number
     becomes a scalar f32 tensor. */
  const char *extra_output;  /* the output's name; NULL = none */
  uint32_t extra_file, extra_offset;
} FeOptions;

/* ---- fe_ast.c: the syntax tree -------------------------------------------
   One plain node struct for every construct (chibicc style); which fields a
   kind uses is listed beside it. Nodes live in the arena of the parse. */
typedef enum FeKind {
  /* expressions */
  FE_INT,       /* ival */
  FE_FLOAT,     /* fval */
  FE_STRING,    /* name = contents without quotes */
  FE_NAME,      /* name */
  FE_LIST,      /* list = items */
  FE_UNARY,     /* op = FE_OP_NEG, a */
  FE_BINARY,    /* op, a, b; loc = the operator */
  FE_CALL,      /* a = callee, list = args (expressions, then FE_KWARG) */
  FE_KWARG,     /* name = a */
  FE_INDEX,     /* a = base, list = subscripts (expressions or FE_SLICE) */
  FE_SLICE,     /* a = start, b = stop, c = step; each may be NULL */
  FE_MEMBER,    /* a . name */
  /* statements */
  FE_BIND,      /* name = a */
  FE_UNPACK,    /* list = FE_NAME targets, a = value */
  FE_PARAM,     /* param name: a (FE_TYPE) = b (initializer call or NULL);
                   ival 1: a buffer (not trained) */
  FE_INPUT,     /* input name: a (FE_TYPE) */
  FE_OUTPUT,    /* output name [= a] */
  FE_MINIMIZE,  /* minimize a */
  FE_FREEZE,    /* freeze name (a glob over the param names below this body) */
  FE_FORWARD,   /* forward(list = FE_ARGDEF) = a | { list2 } */
  FE_RETURN,    /* return a */
  FE_IF,        /* if a { list } else { list2 } */
  /* declarations */
  FE_TYPE,      /* name = dtype, list = dims */
  FE_ARGDEF,    /* name [= a] */
  FE_BLOCK,     /* block name(list = FE_ARGDEF) { list2 } */
  FE_MODEL,     /* model name { list2 } */
  FE_IMPORT,    /* import name (the path) */
  FE_FILE,      /* list = top-level items */
  FE_KIND_COUNT
} FeKind;

typedef enum FeOp {
  FE_OP_ADD, FE_OP_SUB, FE_OP_MUL, FE_OP_DIV, FE_OP_MATMUL, FE_OP_POW,
  FE_OP_LT, FE_OP_LE, FE_OP_GT, FE_OP_GE, FE_OP_EQ, FE_OP_NE, FE_OP_NEG
} FeOp;

typedef struct FeNode FeNode;
typedef struct FeList {
  FeNode **items;      /* arena */
  int n, cap;
} FeList;

struct FeNode {
  FeKind kind;
  McLoc loc;           /* main token: operator, callee, name or keyword */
  const char *name;    /* identifier, string contents, dtype (arena) */
  FeOp op;             /* FE_UNARY, FE_BINARY */
  int64_t ival;        /* FE_INT */
  double fval;         /* FE_FLOAT */
  FeNode *a, *b, *c;   /* operands, see FeKind */
  FeList list, list2;  /* see FeKind */
  uint32_t depth;      /* height of the subtree (1 for a leaf) */
};

const char *fe_kind_name(FeKind k);        /* "call", "bind", ... */
const char *fe_op_text(FeOp op);           /* "+", "@", "**", ... */
FeNode *fe_node_new(McArena *a, FeKind kind, McLoc loc);
void fe_list_push(McArena *a, FeList *l, FeNode *n);
/* Appends a one-line S-expression of the tree, e.g. (bind x (+ 1 (call f
   y))), for tests and debugging. */
void fe_ast_print(McStr *out, const FeNode *n);

/* ---- fe_parse.y: the parser ---------------------------------------------- */
/* Parses `len` bytes of `text` (registered in the sources as `file`) into a
   FE_FILE node allocated in `a`. Syntax errors go to d, with recovery at
   statement level; the tree then lacks the broken statements. Never NULL. */
FeNode *fe_parse(McArena *a, const char *text, size_t len, uint32_t file, McDiag *d);

/* Parses text[0..len) as one expression whose first byte is at column col
   of line 1 of source `file` (a REPL line after its command word). NULL
   after reporting a syntax error. */
FeNode *fe_parse_expr(McArena *a, const char *text, size_t len, uint32_t file, uint32_t col,
                      McDiag *d);

/* ---- fe_lex.l: the scanner, exposed for tests ------------------------------ */
typedef struct FeTok {
  const char *kind;    /* display name: "identifier", "number", "'('", "'model'",
                          "newline", "end of file" */
  const char *text;    /* the token's text (arena) */
  McLoc loc;
} FeTok;

/* Scans text into *out (arena array, the last token is "end of file").
   Returns the number of tokens; lexical errors go to d. */
int fe_lex(McArena *a, const char *text, size_t len, uint32_t file, McDiag *d, FeTok **out);

/* ---- fe_std.c (generated): the standard library std/nn.model ---------------- */
extern const char fe_std_nn_model[];
extern const size_t fe_std_nn_model_len;

/* ---- fe_lower.c: compilation ---------------------------------------------- */
/* Compiles a model file to its forward graph (outputs and loss). Returns
   NULL after reporting every error found into d. Source text is registered
   in src so diagnostics show lines and carets. */
IrGraph *fe_compile_file(const char *path, const FeOptions *o, McSources *src, McDiag *d);
/* Same, from text in memory; `name` is used in diagnostics and to resolve
   relative imports (directory of name). */
IrGraph *fe_compile_string(const char *name, const char *text, const FeOptions *o,
                           McSources *src, McDiag *d);

#endif
