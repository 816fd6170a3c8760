/* rt.h -- the runtime that modelc's generated code and its training driver
   use: a thread pool, initializers, optimizer scalars, data loaders,
   batching and checkpoints. It depends on libc, libm, pthreads and zlib
   only (the data loaders alone use zlib; the part AOT libraries link, see
   rt_aot.h, does not), so it reports errors as return codes plus a message
   buffer, never through the compiler's diagnostics. */
#ifndef RT_H
#define RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_ABI_VERSION 1
int rt_abi_version(void);

/* ---- rt_error.c: error messages --------------------------------------------
   Failing calls return false/NULL and fill an RtError (when one is given)
   with "PATH: problem". A NULL RtError is allowed and ignored. */
typedef struct RtError {
  char msg[512];
} RtError;

void rt_error_set(RtError *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- rt_pool.c: a fixed thread pool ----------------------------------------
   rt_parallel_for splits [0, n) into contiguous chunks, one per thread
   (deterministic: chunk boundaries depend only on n and the thread count,
   see rt_pool_chunk), runs fn on each non-empty chunk and returns when all
   are done. The calling thread takes part (it runs chunk 0). A pool of 1
   thread, or a NULL pool, runs everything inline. Between jobs workers
   spin for 0.2 ms, then sleep on a condition variable. Calls from
   several threads on one pool are serialized. Not reentrant: do not call rt_parallel_for from inside
   fn. */
typedef struct RtPool RtPool;
typedef void (*RtTaskFn)(void *ctx, int64_t begin, int64_t end);

RtPool *rt_pool_new(int nthreads);         /* nthreads <= 0: all online cores */
void rt_pool_free(RtPool *p);              /* joins the workers; NULL is fine */
int rt_pool_threads(const RtPool *p);
void rt_parallel_for(RtPool *p, int64_t n, RtTaskFn fn, void *ctx);
/* Chunk i of nchunks over [0, n): the first n % nchunks chunks get one
   element more than the others. */
void rt_pool_chunk(int64_t n, int nchunks, int i, int64_t *begin,
                   int64_t *end);

/* ---- rt_part.c: sums across the copies of a split program ------------------
   rt_part_sum(s, part, in, out, n, f64): out = the sum over the nparts
   copies of their `in` (n floats, or doubles when f64), added in copy
   order, the same in every copy; each copy calls it with its own part
   index, all at once. A NULL s or one part copies in to out. */
typedef struct RtPartSync RtPartSync;
RtPartSync *rt_part_sync_new(int nparts); /* NULL when out of memory */
void rt_part_sync_free(RtPartSync *s);
void rt_part_sum(RtPartSync *s, int64_t part, const void *in, void *out, int64_t n, int f64);

/* ---- rt_profile.c: kernel call timing (benchmarks) -------------------------
   A program compiled with CgOptions.profile calls rt_profile_mark(-1) as it
   starts and rt_profile_mark(i) after its call i: the time since the
   previous mark adds to call i's total. One table per process (profile one
   program at a time); rt_profile_take copies the totals of calls [0, n)
   and clears them. */
#define RT_PROFILE_MAX_CALLS 65536
void rt_profile_mark(int64_t call);
void rt_profile_take(double *seconds, int64_t n);

/* ---- rt_init.c: the counter RNG and param initializers ---------------------
   A counter-based generator: the value at (seed, stream, index) does not
   depend on the order or thread in which values are drawn. Initializers are
   torch.nn.init's: element i of param `name` is drawn at (seed,
   rt_hash_str(name), i), so it depends only on the seed, the name and i.
   modelc's compiler (ir_init_fill, mc_rng_*) calls these, so a library
   built by `modelc build` gets the same weights as the JIT for a seed. */
uint64_t rt_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
double rt_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);  /* [0,1) */
double rt_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);   /* N(0,1) */
uint64_t rt_hash_str(const char *s);  /* FNV-1a, to derive a stream from a name */

/* The same order as IrInitKind (ir/ir.h). */
typedef enum {
  RT_INIT_NONE,            /* zeros here: the value must come from elsewhere */
  RT_INIT_ZEROS, RT_INIT_ONES,
  RT_INIT_CONSTANT,        /* a = value */
  RT_INIT_NORMAL,          /* a = mean, b = std */
  RT_INIT_UNIFORM,         /* a = low, b = high */
  RT_INIT_XAVIER_UNIFORM,  /* a = gain */
  RT_INIT_XAVIER_NORMAL,   /* a = gain */
  RT_INIT_KAIMING_UNIFORM, /* a = negative slope (leaky_relu gain), fan_out = mode */
  RT_INIT_KAIMING_NORMAL,  /* as above */
  RT_INIT_COUNT
} RtInitKind;

typedef struct RtInit {
  RtInitKind kind;
  double a, b;
  bool fan_out;            /* kaiming: mode='fan_out' instead of 'fan_in' */
} RtInit;

/* torch.nn.init._calculate_fan_in_and_fan_out (rank 1: dims[0] for both,
   rank 0: 1). */
void rt_init_fans(int rank, const int64_t *dims, double *fan_in, double *fan_out);
/* Fills out[0 .. product of dims) with the values of param `name` (NULL
   counts as ""); kinds outside the enum give zeros. */
void rt_init_fill(const RtInit *init, const char *name, int rank, const int64_t *dims,
                  uint64_t seed, double *out);

/* ---- rt_optim.c: optimizer hyperparameters ---------------------------------
   The run-time scalars of a training step (docs/ir.md, "Training step"):
   inputs "opt.lr", "opt.momentum", ..., some derived in double as
   torch.optim does (opt.step_size = lr / (1 - beta1^t), ...). */
typedef enum {   /* the same order as PassOptimKind (passes/pass.h) */
  RT_OPTIM_SGD, RT_OPTIM_ADAM, RT_OPTIM_ADAMW, RT_OPTIM_COUNT
} RtOptimKind;

typedef struct RtOptimHyper {
  double lr, momentum, weight_decay;  /* momentum: SGD only */
  double beta1, beta2, eps;           /* Adam, AdamW */
  double max_norm;                    /* with gradient clipping */
} RtOptimHyper;

/* The step's inputs, in the order pass_optim.c creates them. */
typedef enum {
  RT_OPTIM_IN_LR, RT_OPTIM_IN_MOMENTUM, RT_OPTIM_IN_WEIGHT_DECAY, RT_OPTIM_IN_BETA1,
  RT_OPTIM_IN_BETA2, RT_OPTIM_IN_EPS, RT_OPTIM_IN_STEP_SIZE, RT_OPTIM_IN_BC2_SQRT,
  RT_OPTIM_IN_ONE_MINUS_BETA1, RT_OPTIM_IN_ONE_MINUS_BETA2, RT_OPTIM_IN_MAX_NORM,
  RT_OPTIM_IN_COUNT
} RtOptimInput;

const char *rt_optim_kind_name(int kind);   /* "sgd", "adam", "adamw"; "?" */
const char *rt_optim_input_name(int input); /* "opt.lr", ...; NULL out of range */
/* torch.optim's defaults for kind (lr = 1e-3; AdamW: weight_decay 1e-2). */
RtOptimHyper rt_optim_defaults(int kind);
/* The value of step input `name` before update number `step` (1 for the
   first). False when name is not an optimizer input, or step < 1 for the
   bias corrections. */
bool rt_optim_input_value(const RtOptimHyper *h, int64_t step, const char *name, double *out);

/* ---- rt_data.c: in-memory data tensors and their conversions ---------------
   An RtData is a dense row-major tensor read from a data file; dims[0]
   counts samples. rt_data_free releases the struct and its data. */
#define RT_MAX_RANK 8

enum { RT_U8, RT_I32, RT_I64, RT_F32, RT_F64 };   /* RtData.dtype */

typedef struct RtData {
  int dtype;                  /* RT_U8 ... RT_F64 */
  int rank;                   /* 0 .. RT_MAX_RANK */
  int64_t dims[RT_MAX_RANK];  /* extents, dims[0] = number of samples */
  int64_t numel;              /* product of dims */
  void *data;                 /* numel elements of dtype, heap */
} RtData;

/* rt_dtype.c (no zlib): sizes and names of dtypes, shape text. */
size_t rt_dtype_size(int dtype);
const char *rt_dtype_name(int dtype);        /* "u8", "i32", ..., "?" */
/* NULL (with err set) when the byte size overflows or memory runs out.
   The data is zeroed. */
RtData *rt_data_new(int dtype, int rank, const int64_t *dims, RtError *err);
void rt_data_free(RtData *d);
/* Writes "[60000,28,28]" into buf (always terminated; rt_dtype.c). */
void rt_dims_format(char *buf, size_t cap, int rank, const int64_t *dims);
int64_t rt_data_samples(const RtData *d);        /* dims[0]; 1 for rank 0 */
int64_t rt_data_sample_numel(const RtData *d);   /* numel / samples */

/* Normalization of values into f32: (x * scale - mean) / std. The default
   scale is 1/255 for u8 data (pixels to [0,1]) and 1 for everything else. */
double rt_default_scale(int dtype);
/* A new f32 RtData of the same shape. name prefixes errors (std <= 0 or not
   finite, scale/mean not finite). */
RtData *rt_data_to_f32(const RtData *d, double scale, double mean, double std,
                       const char *name, RtError *err);
/* A new i32 RtData of the same shape whose values all lie in [lo, hi);
   float values must be whole numbers. The error names the first bad value
   and its index: "labels.csv: value 10 at [123] is outside [0, 10)". */
RtData *rt_data_to_i32(const RtData *d, int64_t lo, int64_t hi,
                       const char *name, RtError *err);
/* Whether the samples of d can feed a model input whose per-sample shape
   (the input's shape without its leading batch dimension) is
   sample_dims[0..rank): true when the per-sample element counts agree, so
   IDX [60000,28,28] feeds x: f32[B,784]. The error names both shapes. */
bool rt_data_check_sample_shape(const RtData *d, const char *name,
                                const char *input, int rank,
                                const int64_t *sample_dims, RtError *err);

/* ---- rt_idx.c, rt_npy.c, rt_csv.c: data file loaders -----------------------
   Every loader reads plain or gzip files (detected by the gzip magic bytes,
   read through zlib), checks the header against what the file actually
   holds before allocating, and rejects truncated data, trailing bytes,
   overflowing sizes and corrupt gzip streams with "PATH: problem".

   IDX (MNIST): magic 00 00 TYPE RANK, RANK big-endian u32 dims, big-endian
   data. TYPE 08 u8 -> u8; 09 i8, 0B i16, 0C i32 -> i32; 0D f32; 0E f64.
   NPY: format 1.0/2.0/3.0, descr '<f4' '<f8' '<i4' '<i8' '|u1' '|b1'
   ('|b1' loads as u8), C order only.
   CSV: comma-separated numbers, every row the same number of columns, blank
   lines ignored. The header line is detected (a selected field of the
   first line that is not a number) unless forced. cols selects columns the way Python
   slices do: "3" (one column: a rank-1 result [rows]), "1:", ":-1", "2:5"
   (a range: rank 2 [rows, k]); NULL or "" = all columns (rank 2). */
enum { RT_CSV_HEADER_AUTO, RT_CSV_HEADER_YES, RT_CSV_HEADER_NO };

typedef struct RtCsvOpts {
  int header;        /* RT_CSV_HEADER_*; 0 = auto */
  const char *cols;  /* column selection; NULL = all */
  bool integer;      /* i64 result (values must be whole) instead of f32 */
} RtCsvOpts;

RtData *rt_load_idx(const char *path, RtError *err);
RtData *rt_load_npy(const char *path, RtError *err);
RtData *rt_load_csv(const char *path, const RtCsvOpts *o, RtError *err);
/* Dispatches on the file name: *.npy and *.npy.gz -> NPY; *.csv and
   *.csv.gz -> CSV; *.idx, *-ubyte (train-images-idx3-ubyte) and other
   *.gz -> IDX. o applies to CSV only and may be NULL. */
RtData *rt_load(const char *path, const RtCsvOpts *o, RtError *err);

/* The argument of `--data NAME=PATH[,KEY=VALUE...]` (docs/data.md): keys
   cols, header (auto|yes|no), int (yes|no: CSV integers), scale, mean, std
   (numbers or fractions like 1/255), and for text files vocab (a path) and
   cased (yes|no). Unset scale/mean/std are NaN: use the
   defaults (rt_default_scale, 0, 1). The path ends at the first comma
   followed by a lower-case word and '='; unknown keys are errors. */
typedef struct RtDataArg {
  char name[128];        /* model input the file feeds */
  char path[4096];
  char cols[64];         /* "" = all */
  int header;            /* RT_CSV_HEADER_* */
  bool integer;
  double scale, mean, std;
  char vocab[256];       /* text=: a WordPiece vocab.txt ("" = characters) */
  bool cased;            /* text= with vocab: keep case and accents */
} RtDataArg;

bool rt_data_arg_parse(const char *arg, RtDataArg *out, RtError *err);
/* The CSV options of a (pointing into it). */
RtCsvOpts rt_data_arg_csv(const RtDataArg *a);

/* ---- rt_batch.c: shuffling, held-out split and batches ----------------------
   Orders are driven by a counter-based hash of (seed, stream, i), so they
   depend only on their inputs, never on earlier draws or threads.
   Batches: an epoch over n samples with batch size B runs n / B steps; the
   last partial batch (n % B samples) is dropped, so every step sees exactly
   B samples (compiled code has a static batch size). Because the order is
   reshuffled each epoch, different samples are dropped each time. */
#define RT_STREAM_SPLIT UINT64_MAX  /* stream of the held-out permutation */

uint64_t rt_hash3(uint64_t seed, uint64_t stream, uint64_t i);
/* Fisher-Yates over idx[0..n) in place: for i = n-1 .. 1, swap idx[i] with
   idx[rt_hash3(seed, stream, i) % (i + 1)]. Epoch e uses stream e. */
void rt_shuffle(int64_t *idx, int64_t n, uint64_t seed, uint64_t stream);
/* idx[i] = i. */
void rt_iota(int64_t *idx, int64_t n);

/* Training and held-out sample indices, both ascending. The held-out set is
   the last k entries of the permutation rt_shuffle(0..n, seed,
   RT_STREAM_SPLIT), k = count when count >= 0, else round(fraction * n). */
typedef struct RtSplit {
  int64_t *train, ntrain;
  int64_t *held, nheld;
} RtSplit;

bool rt_split_make(int64_t n, double fraction, int64_t count, uint64_t seed,
                   RtSplit *out, RtError *err);
void rt_split_free(RtSplit *s);

int64_t rt_batch_count(int64_t n, int64_t batch);  /* n / batch: drop last */
/* Copies samples idx[0..count) of d into out, sample after sample, converted
   to f32 as (x * scale - mean) / std, or to i32 (whole values in int32
   range only). false (err names the data) on an index outside the data or,
   for i32, a value that does not fit. */
bool rt_gather_f32(const RtData *d, const int64_t *idx, int64_t count,
                   double scale, double mean, double std, float *out,
                   const char *name, RtError *err);
bool rt_gather_i32(const RtData *d, const int64_t *idx, int64_t count,
                   int32_t *out, const char *name, RtError *err);

/* ---- rt_safetensors.c: checkpoints in the safetensors format ---------------
   File: 8-byte little-endian header length N, N bytes of JSON padded with
   spaces to a multiple of 8, then the data. The JSON maps each tensor name
   to {"dtype","shape","data_offsets"} and "__metadata__" to string pairs.
   Writing lays tensors out like the Python library (dtype alignment
   descending, then name) and replaces the file atomically: a temporary file
   in the same directory is written, flushed, fsynced and renamed; on any
   failure it is removed and the previous file is left untouched. Reading
   validates everything and names the problem. Supported dtypes: F32, F64,
   I32, I64, U8. */
typedef struct RtTensorRef {
  const char *name;
  int dtype;                  /* RT_U8 ... RT_F64 */
  int rank;
  int64_t dims[RT_MAX_RANK];
  const void *data;           /* numel * rt_dtype_size(dtype) bytes */
} RtTensorRef;

typedef struct RtMeta {
  const char *key, *value;
} RtMeta;

bool rt_safetensors_save(const char *path, const RtTensorRef *tensors,
                         size_t ntensors, const RtMeta *meta, size_t nmeta,
                         RtError *err);

/* A loaded checkpoint owns all its names, values and data; the tensors are
   in data order. */
typedef struct RtCheckpoint {
  RtTensorRef *tensors;
  size_t ntensors;
  RtMeta *meta;               /* sorted by key */
  size_t nmeta;
  void *blob;                 /* owned storage behind the pointers */
  void *data;
} RtCheckpoint;

RtCheckpoint *rt_safetensors_load(const char *path, RtError *err);
void rt_checkpoint_free(RtCheckpoint *c);
const RtTensorRef *rt_checkpoint_find(const RtCheckpoint *c, const char *name);
const char *rt_checkpoint_meta(const RtCheckpoint *c, const char *key);

/* ---- rt_chars.c: the character vocabulary of char-level models --------------
   id 0 is '\n', ids 1..95 the printable ASCII ' '..'~' (gpt.model's V = 96);
   a tab reads as a space. */
#define RT_CHAR_VOCAB 96
int32_t rt_char_id(int c);     /* the id of byte c; -1 when it has none */
int rt_char_of(int32_t id);    /* the byte of an id; -1 when out of range */
/* A text file (plain or gzip) as an i32 [n] of char ids. Bytes without an
   id are dropped ('\r' silently, the others counted in *ndropped). */
RtData *rt_load_text_chars(const char *path, int64_t *ndropped, RtError *err);

/* ---- rt_wordpiece.c: BERT's WordPiece tokenizer ------------------------------
   vocab.txt holds one token per line; a token's id is its 0-based line
   number (a trailing '\r' is ignored). Text is split as BERT's
   BasicTokenizer does (cleaning, CJK ideographs apart, whitespace, optional
   lower-casing with accent stripping, punctuation apart), then each token
   into the longest vocabulary pieces from the left, "##" marking pieces
   after the first; a token with no such split, or longer than 100 code
   points, is [UNK]. Invalid UTF-8 bytes are dropped. The Unicode coverage
   of lower-casing and accent stripping is limited: see rt_wordpiece.c. */
typedef struct RtVocab RtVocab;

/* Errors: cannot open; empty file; a line over 200 bytes; a duplicate token
   ("vocab.txt:12: token 'x' already on line 3"); no [UNK], [CLS], [SEP] or
   [PAD]. */
RtVocab *rt_vocab_load(const char *path, RtError *err);
void rt_vocab_free(RtVocab *v);                             /* NULL is fine */
int64_t rt_vocab_size(const RtVocab *v);
int32_t rt_vocab_id(const RtVocab *v, const char *token);   /* -1 when absent */
const char *rt_vocab_token(const RtVocab *v, int32_t id);   /* NULL out of range */
/* The WordPiece ids of UTF-8 text, without special tokens: writes at most
   cap ids to out and returns how many the whole text needs. */
int64_t rt_wordpiece_ids(const RtVocab *v, const char *text, size_t len, bool lower_case,
                         int32_t *out, int64_t cap);
/* One BERT input row of max_len (>= 2) tokens: [CLS] pieces [SEP], the
   pieces cut so that [SEP] stays last, then [PAD]s; types all 0; mask 1 on
   real tokens, 0 on padding. Returns true when the text was truncated. */
bool rt_bert_encode(const RtVocab *v, const char *text, size_t len, bool lower_case,
                    int64_t max_len, int32_t *ids, int32_t *types, int32_t *mask);

/* ---- rt_text.c: text classification data, label<TAB>text lines ------------
   UTF-8 lines "label<TAB>text" ('\r\n' accepted, blank lines skipped, plain
   or gzip); the label is a whole number in [0, nclasses), the text is
   encoded by rt_bert_encode. Errors name the file and line: "f.tsv:7: no
   tab between the label and the text", "f.tsv:9: label 12 is outside the
   model's 8 classes [0, 8)", "f.tsv:3: label 'x' is not a whole number",
   "f.tsv: no samples". */
typedef struct RtTextOpts {
  int64_t max_len;     /* tokens per row, [CLS] and [SEP] included */
  bool lower_case;
  int64_t nclasses;    /* labels must lie in [0, nclasses) */
} RtTextOpts;

typedef struct RtTextData {
  RtData *ids, *types, *mask;   /* i32 [n, max_len] */
  RtData *labels;               /* i32 [n] */
  int64_t ntruncated;           /* rows whose text was cut to max_len */
} RtTextData;

/* On failure *out is left empty (all NULL, nothing leaked). */
bool rt_load_text_tsv(const char *path, const RtVocab *v, const RtTextOpts *o,
                      RtTextData *out, RtError *err);
void rt_text_data_free(RtTextData *t);   /* frees the arrays, leaves *t empty */

#endif
