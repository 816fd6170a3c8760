/* test_tokenize.c -- the runtime's BERT WordPiece tokenizer (rt_wordpiece.c)
   and label<TAB>text loader (rt_text.c) on cases worked by hand with a
   small vocabulary: pieces, cleaning, CJK, accents, punctuation, the
   100-code-point limit, rows with [CLS]/[SEP]/[PAD] and truncation, and
   every error message. tests/tokenizer/ compares the tokenizer with a
   Python reference on a larger corpus. Files go to a mkdtemp directory. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"
#include "test_util.h"

/* ---- scratch files ------------------------------------------------------------ */

static char tmpdir[64];

/* tmpdir/name, in one of a few rotating buffers. */
static const char *tpath(const char *name) {
  static char bufs[8][256];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
  return b;
}

/* Usable before CUnit starts (main writes the shared vocabulary). */
static bool save(const char *name, const void *data, size_t n) {
  FILE *f = fopen(tpath(name), "wb");
  if (!f) return false;
  bool ok = fwrite(data, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

static void write_bytes(const char *name, const void *data, size_t n) {
  CU_ASSERT_TRUE_FATAL(save(name, data, n));
}

static void write_text(const char *name, const char *text) {
  write_bytes(name, text, strlen(text));
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  }
  closedir(d);
  rmdir(dir);
}

/* Error text after "tmpdir/" so expectations need not know the directory. */
static const char *rel(const RtError *e) {
  size_t n = strlen(tmpdir);
  return strncmp(e->msg, tmpdir, n) == 0 && e->msg[n] == '/' ? e->msg + n + 1 : e->msg;
}

/* ---- the vocabulary ------------------------------------------------------------- */

/* Ids are line numbers: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, un 5, ... */
static const char *const VOCAB[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un",  "##aff", "##able", "hello", "world",
    ",",     "!",     "a",     "##a",   "中",     "国",  "人",    "the",    "cat",   "##s",
    "é",     "ecole", "naive", "straße", "World", "Héllo",
};
enum { PAD = 0, UNK = 1, CLS = 2, SEP = 3, UN = 5, AFF = 6, ABLE = 7, HELLO = 8, WORLD = 9,
       THE = 17, CAT = 18 };

/* Writes VOCAB to name, lines ending in eol. */
static bool write_vocab(const char *name, const char *eol) {
  char buf[1024] = "";
  for (size_t i = 0; i < MC_COUNTOF(VOCAB); i++) {
    strcat(buf, VOCAB[i]);
    strcat(buf, eol);
  }
  return save(name, buf, strlen(buf));
}

static RtVocab *vocab;   /* VOCAB, loaded once by main */

/* The pieces of text as one string, "un ##aff ##able". */
static const char *pieces_n(const char *text, size_t len, bool lower) {
  static char buf[4096];
  int32_t ids[512];
  int64_t n = rt_wordpiece_ids(vocab, text, len, lower, ids, 512);
  buf[0] = '\0';
  for (int64_t i = 0; i < n && i < 512; i++) {
    const char *t = rt_vocab_token(vocab, ids[i]);
    if (i) strcat(buf, " ");
    strcat(buf, t ? t : "?");
  }
  return buf;
}

static const char *pieces(const char *text, bool lower) {
  return pieces_n(text, strlen(text), lower);
}

static void test_tokenize_vocab_lookup(void) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(vocab);
  CU_ASSERT_EQUAL(rt_vocab_size(vocab), (int64_t)MC_COUNTOF(VOCAB));
  for (size_t i = 0; i < MC_COUNTOF(VOCAB); i++) {
    CU_ASSERT_EQUAL(rt_vocab_id(vocab, VOCAB[i]), (int32_t)i);
    CU_ASSERT_STRING_EQUAL(rt_vocab_token(vocab, (int32_t)i), VOCAB[i]);
  }
  CU_ASSERT_EQUAL(rt_vocab_id(vocab, "nope"), -1);
  CU_ASSERT_EQUAL(rt_vocab_id(vocab, "aff"), -1);       /* only "##aff" is there */
  CU_ASSERT_EQUAL(rt_vocab_id(vocab, "##hello"), -1);
  CU_ASSERT_EQUAL(rt_vocab_id(vocab, NULL), -1);
  CU_ASSERT_PTR_NULL(rt_vocab_token(vocab, -1));
  CU_ASSERT_PTR_NULL(rt_vocab_token(vocab, (int32_t)MC_COUNTOF(VOCAB)));

  /* '\r\n' lines, a BOM and no final newline give the same ids. */
  RtError err = {{0}};
  CU_ASSERT_TRUE_FATAL(write_vocab("crlf.txt", "\r\n"));
  RtVocab *v = rt_vocab_load(tpath("crlf.txt"), &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  CU_ASSERT_EQUAL(rt_vocab_size(v), (int64_t)MC_COUNTOF(VOCAB));
  CU_ASSERT_EQUAL(rt_vocab_id(v, "hello"), HELLO);
  CU_ASSERT_STRING_EQUAL(rt_vocab_token(v, PAD), "[PAD]");
  rt_vocab_free(v);
  write_text("bom.txt", "\xEF\xBB\xBF[PAD]\n[UNK]\n[CLS]\n[SEP]");
  v = rt_vocab_load(tpath("bom.txt"), &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  CU_ASSERT_EQUAL(rt_vocab_size(v), 4);
  CU_ASSERT_EQUAL(rt_vocab_id(v, "[PAD]"), 0);
  CU_ASSERT_EQUAL(rt_vocab_id(v, "[SEP]"), 3);
  rt_vocab_free(v);
  rt_vocab_free(NULL);
}

/* A vocabulary large enough to make the hash table grow and collide. */
static void test_tokenize_vocab_many_tokens(void) {
  size_t cap = 200000, len = 0;
  char *buf = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
  len += (size_t)sprintf(buf, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
  for (int i = 0; i < 20000; i++)
    len += (size_t)snprintf(buf + len, cap - len, i % 2 ? "##w%d\n" : "w%d\n", i);
  write_bytes("many.txt", buf, len);
  free(buf);
  RtError err = {{0}};
  RtVocab *v = rt_vocab_load(tpath("many.txt"), &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  CU_ASSERT_EQUAL(rt_vocab_size(v), 20004);
  char tok[32];
  for (int i = 0; i < 20000; i += 7) {
    snprintf(tok, sizeof tok, i % 2 ? "##w%d" : "w%d", i);
    CU_ASSERT_EQUAL(rt_vocab_id(v, tok), 4 + i);
  }
  CU_ASSERT_EQUAL(rt_vocab_id(v, "w1"), -1);   /* only "##w1" */
  rt_vocab_free(v);
}

/* ---- WordPiece ---------------------------------------------------------------------- */

static void test_tokenize_pieces_bert_examples(void) {
  CU_ASSERT_STRING_EQUAL(pieces("unaffable", true), "un ##aff ##able");
  CU_ASSERT_STRING_EQUAL(pieces("Héllo, World!", true), "hello , world !");
  CU_ASSERT_STRING_EQUAL(pieces("Héllo, World!", false), "Héllo , World !");
  CU_ASSERT_STRING_EQUAL(pieces("cats cat", true), "cat ##s cat");
  CU_ASSERT_STRING_EQUAL(pieces("dogs", true), "[UNK]");
  /* "cat" matches but nothing matches "z": the whole token is [UNK]. */
  CU_ASSERT_STRING_EQUAL(pieces("catz cat", true), "[UNK] cat");
  CU_ASSERT_STRING_EQUAL(pieces("", true), "");
  CU_ASSERT_STRING_EQUAL(pieces("   \t\r\n ", true), "");
  CU_ASSERT_STRING_EQUAL(pieces("hello,world!!", true), "hello , world ! !");
  /* Non-ASCII punctuation (P*) splits too; ASCII symbols count as punctuation. */
  CU_ASSERT_STRING_EQUAL(pieces("hello\u2014world", true), "hello [UNK] world");
  CU_ASSERT_STRING_EQUAL(pieces("\u00bfhello?", true), "[UNK] hello [UNK]");
  CU_ASSERT_STRING_EQUAL(pieces("hello$world", true), "hello [UNK] world");
  /* Symbols that are not punctuation stay inside the word. */
  CU_ASSERT_STRING_EQUAL(pieces("hello\u20ac", true), "[UNK]");
}

static void test_tokenize_word_length_limit(void) {
  char word[160];
  memset(word, 'a', sizeof word);
  int32_t ids[128];
  /* 100 code points: a ##a ##a ...; 101: [UNK]. */
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, word, 100, true, ids, 128), 100);
  CU_ASSERT_EQUAL(ids[0], rt_vocab_id(vocab, "a"));
  CU_ASSERT_EQUAL(ids[99], rt_vocab_id(vocab, "##a"));
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, word, 101, true, ids, 128), 1);
  CU_ASSERT_EQUAL(ids[0], UNK);
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, word, 160, false, ids, 128), 1);
  CU_ASSERT_EQUAL(ids[0], UNK);
  /* The limit counts code points, not bytes: 60 two-byte 'é' are fine. */
  char e[121] = "";
  for (int i = 0; i < 60; i++) strcat(e, "\u00e9");
  CU_ASSERT_STRING_EQUAL(pieces(e, false), "[UNK]");   /* no "##é": no match */
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, e, 2, false, ids, 128), 1);
  CU_ASSERT_EQUAL(ids[0], rt_vocab_id(vocab, "\u00e9"));
  /* Accents stripped before counting: 101 'a' + U+0301 each is still 101. */
  char marked[400] = "";
  for (int i = 0; i < 100; i++) strcat(marked, "a\u0301");
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, marked, strlen(marked), true, ids, 128), 100);
  strcat(marked, "a");
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, marked, strlen(marked), true, ids, 128), 1);
}

static void test_tokenize_cjk_and_cleaning(void) {
  CU_ASSERT_STRING_EQUAL(pieces("中国人", true), "中 国 人");
  CU_ASSERT_STRING_EQUAL(pieces("the中cat", false), "the 中 cat");
  /* Control and format characters vanish without splitting the word. */
  CU_ASSERT_STRING_EQUAL(pieces("hel\x01lo wor\x7fld", true), "hello world");
  CU_ASSERT_STRING_EQUAL(pieces("hel\u200blo\u00ad \ufeffworld", true), "hello world");
  CU_ASSERT_STRING_EQUAL(pieces_n("hel\0lo", 6, true), "hello");
  CU_ASSERT_STRING_EQUAL(pieces("hello\u00a0world\u3000the\u2028cat", true),
                         "hello world the cat");
  CU_ASSERT_STRING_EQUAL(pieces("\thello\r\nworld\n", true), "hello world");
  /* Invalid UTF-8 is dropped byte by byte, whatever the kind. */
  CU_ASSERT_STRING_EQUAL(pieces("hel\xfflo", true), "hello");
  CU_ASSERT_STRING_EQUAL(pieces("\xc0\xafhello \xed\xa0\x80world", true), "hello world");
  CU_ASSERT_STRING_EQUAL(pieces("hello\xe2\x82", true), "hello");
  CU_ASSERT_STRING_EQUAL(pieces("\x80\xbfhello\xf4\x90\x80\x80", true), "hello");
  CU_ASSERT_STRING_EQUAL(pieces("\xef\xbf\xbdhello", true), "hello");   /* U+FFFD */
}

static void test_tokenize_lower_case_and_accents(void) {
  CU_ASSERT_STRING_EQUAL(pieces("Na\u00efve \u00c9COLE", true), "naive ecole");
  CU_ASSERT_STRING_EQUAL(pieces("Na\u00efve \u00c9COLE", false), "[UNK] [UNK]");
  /* A combining accent (U+0301) goes with lower-casing, stays without. */
  CU_ASSERT_STRING_EQUAL(pieces("e\u0301cole", true), "ecole");
  CU_ASSERT_STRING_EQUAL(pieces("e\u0301cole", false), "[UNK]");
  /* 'ß' has no capital in lower(): it stays. */
  CU_ASSERT_STRING_EQUAL(pieces("STRA\u00dfE stra\u00dfe", true), "straße straße");
  CU_ASSERT_STRING_EQUAL(pieces("HELLO WoRlD", true), "hello world");
  CU_ASSERT_STRING_EQUAL(pieces("HELLO WoRlD", false), "[UNK] [UNK]");
  /* Latin Extended-A: 'Ŭ' -> 'u', 'Ň' -> 'n'. */
  CU_ASSERT_STRING_EQUAL(pieces("\u016c\u0147", true), "un");
}

static void test_tokenize_ids_cap(void) {
  const char *text = "unaffable the cat";
  int32_t ids[8] = {-7, -7, -7, -7, -7, -7, -7, -7};
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, text, strlen(text), true, NULL, 0), 5);
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, text, strlen(text), true, ids, 2), 5);
  CU_ASSERT_EQUAL(ids[0], UN);
  CU_ASSERT_EQUAL(ids[1], AFF);
  CU_ASSERT_EQUAL(ids[2], -7);   /* nothing written past cap */
  CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, text, strlen(text), true, ids, 8), 5);
  CU_ASSERT_EQUAL(ids[2], ABLE);
  CU_ASSERT_EQUAL(ids[3], THE);
  CU_ASSERT_EQUAL(ids[4], CAT);
  CU_ASSERT_EQUAL(ids[5], -7);
  CU_ASSERT_EQUAL(rt_wordpiece_ids(NULL, text, strlen(text), true, ids, 8), 0);
}

/* ---- BERT rows ------------------------------------------------------------------------ */

static void check_row(const int32_t *got, const int32_t *want, int64_t n) {
  for (int64_t i = 0; i < n; i++) CU_ASSERT_EQUAL(got[i], want[i]);
}

static void test_tokenize_bert_encode(void) {
  int32_t ids[8], types[8], mask[8];
  memset(types, 0x55, sizeof types);
  /* Padded. */
  CU_ASSERT_FALSE(rt_bert_encode(vocab, "Hello world", 11, true, 8, ids, types, mask));
  check_row(ids, (int32_t[]){CLS, HELLO, WORLD, SEP, PAD, PAD, PAD, PAD}, 8);
  check_row(mask, (int32_t[]){1, 1, 1, 1, 0, 0, 0, 0}, 8);
  check_row(types, (int32_t[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
  /* Truncated: the pieces are cut, [SEP] stays last. */
  const char *text = "unaffable the cat";
  CU_ASSERT_TRUE(rt_bert_encode(vocab, text, strlen(text), true, 5, ids, types, mask));
  check_row(ids, (int32_t[]){CLS, UN, AFF, ABLE, SEP}, 5);
  check_row(mask, (int32_t[]){1, 1, 1, 1, 1}, 5);
  /* An exact fit is not truncated. */
  CU_ASSERT_FALSE(rt_bert_encode(vocab, text, strlen(text), true, 7, ids, types, mask));
  check_row(ids, (int32_t[]){CLS, UN, AFF, ABLE, THE, CAT, SEP}, 7);
  /* Empty text; the smallest row. */
  CU_ASSERT_FALSE(rt_bert_encode(vocab, "", 0, true, 4, ids, types, mask));
  check_row(ids, (int32_t[]){CLS, SEP, PAD, PAD}, 4);
  check_row(mask, (int32_t[]){1, 1, 0, 0}, 4);
  CU_ASSERT_TRUE(rt_bert_encode(vocab, "cat", 3, true, 2, ids, types, mask));
  check_row(ids, (int32_t[]){CLS, SEP}, 2);
  CU_ASSERT_FALSE(rt_bert_encode(vocab, " ", 1, true, 2, ids, types, mask));
}

/* ---- vocabulary errors ------------------------------------------------------------------- */

/* Loads name, expecting failure with a message that starts with want. */
static void expect_vocab_error(const char *name, const char *want) {
  RtError err = {{0}};
  RtVocab *v = rt_vocab_load(tpath(name), &err);
  CU_ASSERT_PTR_NULL(v);
  rt_vocab_free(v);
  CU_ASSERT_NSTRING_EQUAL(rel(&err), want, strlen(want));
  if (strncmp(rel(&err), want, strlen(want)))
    fprintf(stderr, "\n  got  %s\n  want %s\n", rel(&err), want);
}

static void test_tokenize_vocab_errors(void) {
  expect_vocab_error("missing.txt", "missing.txt: cannot open: ");
  write_text("empty.txt", "");
  expect_vocab_error("empty.txt", "empty.txt: empty file");
  write_text("nounk.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
  expect_vocab_error("nounk.txt", "nounk.txt: no [UNK] token (a BERT vocabulary needs "
                                  "[UNK], [CLS], [SEP] and [PAD])");
  write_text("nopad.txt", "[UNK]\n[CLS]\n[SEP]\n");
  expect_vocab_error("nopad.txt", "nopad.txt: no [PAD] token (a BERT vocabulary needs "
                                  "[UNK], [CLS], [SEP] and [PAD])");
  write_text("dup.txt", "[PAD]\n[UNK]\ncat\n[CLS]\ncat\n[SEP]\n");
  expect_vocab_error("dup.txt", "dup.txt:5: token 'cat' already on line 3");
  write_text("dupcr.txt", "[PAD]\r\n[UNK]\r\ncat\r\ncat\n");
  expect_vocab_error("dupcr.txt", "dupcr.txt:4: token 'cat' already on line 3");
  char longline[300] = "[PAD]\n";
  memset(longline + 6, 'x', 201);
  strcpy(longline + 207, "\n[UNK]\n");
  write_text("long.txt", longline);
  expect_vocab_error("long.txt", "long.txt:2: a token of 201 bytes (at most 200)");
  write_bytes("nul.txt", "[PAD]\n\0\n", 8);
  expect_vocab_error("nul.txt", "nul.txt: contains NUL bytes");
  /* 200 bytes is fine. */
  longline[206] = '\n';
  strcpy(longline + 207, "[UNK]\n[CLS]\n[SEP]\n");
  write_text("long200.txt", longline);
  RtError err = {{0}};
  RtVocab *v = rt_vocab_load(tpath("long200.txt"), &err);
  CU_ASSERT_PTR_NOT_NULL(v);
  rt_vocab_free(v);
}

/* ---- label<TAB>text files ------------------------------------------------------------------ */

static const RtTextOpts OPTS = {.max_len = 6, .lower_case = true, .nclasses = 3};

static void test_tokenize_tsv_loads(void) {
  write_text("train.tsv", "1\tHello world\r\n"
                          "\n"
                          "0\tunaffable the cat\n"
                          "   \r\n"
                          " 2 \t\u4e2d\u56fd\u4eba hello world hello\n"
                          "2\t\n");
  RtTextData t;
  RtError err = {{0}};
  CU_ASSERT_TRUE_FATAL(rt_load_text_tsv(tpath("train.tsv"), vocab, &OPTS, &t, &err));
  CU_ASSERT_EQUAL(t.ids->dtype, RT_I32);
  CU_ASSERT_EQUAL(t.ids->rank, 2);
  CU_ASSERT_EQUAL(t.ids->dims[0], 4);
  CU_ASSERT_EQUAL(t.ids->dims[1], 6);
  CU_ASSERT_EQUAL(t.types->numel, 24);
  CU_ASSERT_EQUAL(t.mask->numel, 24);
  CU_ASSERT_EQUAL(t.labels->rank, 1);
  CU_ASSERT_EQUAL(t.labels->dims[0], 4);
  check_row(t.labels->data, (int32_t[]){1, 0, 2, 2}, 4);
  const int32_t *ids = t.ids->data, *mask = t.mask->data, *types = t.types->data;
  check_row(ids, (int32_t[]){CLS, HELLO, WORLD, SEP, PAD, PAD}, 6);
  check_row(ids + 6, (int32_t[]){CLS, UN, AFF, ABLE, THE, SEP}, 6);
  check_row(ids + 12, (int32_t[]){CLS, 14, 15, 16, HELLO, SEP}, 6);
  check_row(ids + 18, (int32_t[]){CLS, SEP, PAD, PAD, PAD, PAD}, 6);
  check_row(mask, (int32_t[]){1, 1, 1, 1, 0, 0}, 6);
  check_row(mask + 6, (int32_t[]){1, 1, 1, 1, 1, 1}, 6);
  check_row(mask + 18, (int32_t[]){1, 1, 0, 0, 0, 0}, 6);
  for (int i = 0; i < 24; i++) CU_ASSERT_EQUAL(types[i], 0);
  CU_ASSERT_EQUAL(t.ntruncated, 2);
  rt_text_data_free(&t);
  CU_ASSERT_PTR_NULL(t.ids);
  rt_text_data_free(&t);   /* twice is fine */

  /* Whole-number spellings of a label; a BOM; no final newline. */
  write_text("forms.tsv", "\xEF\xBB\xBF" "2.0\tcat\n+1\tcat\n0\tcat");
  CU_ASSERT_TRUE_FATAL(rt_load_text_tsv(tpath("forms.tsv"), vocab, &OPTS, &t, &err));
  check_row(t.labels->data, (int32_t[]){2, 1, 0}, 3);
  CU_ASSERT_EQUAL(t.ntruncated, 0);
  rt_text_data_free(&t);
}

/* Loading name fails with exactly want (or, when prefix, a message that
   starts with it), and leaves the result empty. */
static void expect_tsv_error(const char *name, const RtTextOpts *o, const char *want,
                             bool prefix) {
  RtTextData t;
  memset(&t, 0x55, sizeof t);
  RtError err = {{0}};
  CU_ASSERT_FALSE(rt_load_text_tsv(tpath(name), vocab, o, &t, &err));
  CU_ASSERT_PTR_NULL(t.ids);
  CU_ASSERT_PTR_NULL(t.types);
  CU_ASSERT_PTR_NULL(t.mask);
  CU_ASSERT_PTR_NULL(t.labels);
  CU_ASSERT_EQUAL(t.ntruncated, 0);
  bool ok = prefix ? !strncmp(rel(&err), want, strlen(want)) : !strcmp(rel(&err), want);
  CU_ASSERT(ok);
  if (!ok) fprintf(stderr, "\n  got  %s\n  want %s\n", rel(&err), want);
}

static void test_tokenize_tsv_errors(void) {
  RtTextOpts eight = {.max_len = 8, .lower_case = true, .nclasses = 8};
  write_text("notab.tsv", "1\thello\n\n2 hello world\n");
  expect_tsv_error("notab.tsv", &eight, "notab.tsv:3: no tab between the label and the text",
                   false);
  write_text("range.tsv", "1\thello\n7\tworld\n12\tcat\n");
  expect_tsv_error("range.tsv", &eight,
                   "range.tsv:3: label 12 is outside the model's 8 classes [0, 8)", false);
  write_text("neg.tsv", "-1\thello\n");
  expect_tsv_error("neg.tsv", &eight,
                   "neg.tsv:1: label -1 is outside the model's 8 classes [0, 8)", false);
  write_text("word.tsv", "\r\n\r\nx\thello\n");
  expect_tsv_error("word.tsv", &eight, "word.tsv:3: label 'x' is not a whole number", false);
  write_text("frac.tsv", "1.5\thello\n");
  expect_tsv_error("frac.tsv", &eight, "frac.tsv:1: label '1.5' is not a whole number", false);
  write_text("hex.tsv", "0x1\thello\n");
  expect_tsv_error("hex.tsv", &eight, "hex.tsv:1: label '0x1' is not a whole number", false);
  write_text("huge.tsv", "99999999999999999999\thello\n");
  expect_tsv_error("huge.tsv", &eight, "huge.tsv:1: label 99999999999999999999 is outside "
                   "the model's 8 classes [0, 8)", false);
  write_text("nolabel.tsv", "\thello\n");
  expect_tsv_error("nolabel.tsv", &eight, "nolabel.tsv:1: no label before the tab", false);
  write_text("empty.tsv", "");
  expect_tsv_error("empty.tsv", &eight, "empty.tsv: no samples", false);
  write_text("blank.tsv", "\n \r\n\t\n");
  expect_tsv_error("blank.tsv", &eight, "blank.tsv: no samples", false);
  expect_tsv_error("absent.tsv", &eight, "absent.tsv: cannot open: ", true);
  write_text("ok.tsv", "1\thello\n");
  RtTextOpts short_rows = {.max_len = 1, .lower_case = true, .nclasses = 8};
  expect_tsv_error("ok.tsv", &short_rows,
                   "ok.tsv: max_len 1 is too small ([CLS] and [SEP] need 2 tokens)", false);
  RtTextOpts no_classes = {.max_len = 8, .lower_case = true, .nclasses = 0};
  expect_tsv_error("ok.tsv", &no_classes, "ok.tsv: 0 classes (a classifier needs 1 to ", true);
  expect_tsv_error("ok.tsv", NULL, "ok.tsv: max_len 0 is too small", true);
}

/* ---- hostile input ------------------------------------------------------------------------- */

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

/* Random bytes (biased toward UTF-8 lead and continuation bytes, tabs and
   newlines) through the tokenizer and both loaders: nothing may crash, and
   the id count never depends on the room given. */
static void test_tokenize_survives_random_bytes(void) {
  static const unsigned char bias[] = {0x00, 0x09, 0x0a, 0x0d, 0x20, 0x23, 0x80, 0xbf,
                                       0xc3, 0xe2, 0xe4, 0xed, 0xf0, 0xf4, 0xff, '1'};
  uint64_t seed = 12345;
  char buf[600];
  int32_t ids[700], few[3];
  for (int round = 0; round < 3000; round++) {
    size_t n = lcg(&seed) % sizeof buf;
    for (size_t i = 0; i < n; i++) {
      uint64_t r = lcg(&seed);
      buf[i] = (char)(r % 3 ? bias[r / 3 % sizeof bias] : r / 3 % 256);
    }
    bool lower = round % 2;
    int64_t all = rt_wordpiece_ids(vocab, buf, n, lower, ids, 700);
    CU_ASSERT(all >= 0 && all <= (int64_t)n);
    CU_ASSERT_EQUAL(rt_wordpiece_ids(vocab, buf, n, lower, few, 3), all);
    int32_t row[16], types[16], mask[16];
    CU_ASSERT_EQUAL(rt_bert_encode(vocab, buf, n, lower, 16, row, types, mask), all > 14);
    CU_ASSERT_EQUAL(row[0], CLS);
    if (round % 100 == 0) {
      RtError err = {{0}};
      write_bytes("random.tsv", buf, n);
      RtTextData t;
      if (rt_load_text_tsv(tpath("random.tsv"), vocab, &OPTS, &t, &err))
        rt_text_data_free(&t);
      write_bytes("random.txt", buf, n);
      rt_vocab_free(rt_vocab_load(tpath("random.txt"), &err));
    }
  }
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/test_tokenize_XXXXXX");
  if (!mkdtemp(tmpdir)) return 2;
  RtError err = {{0}};
  vocab = write_vocab("vocab.txt", "\n") ? rt_vocab_load(tpath("vocab.txt"), &err) : NULL;
  if (!vocab) fprintf(stderr, "test_tokenize: %s\n", err.msg);
  static const TestCase cases[] = {
      {"vocab_lookup", test_tokenize_vocab_lookup},
      {"vocab_many", test_tokenize_vocab_many_tokens},
      {"pieces", test_tokenize_pieces_bert_examples},
      {"word_length", test_tokenize_word_length_limit},
      {"cjk_cleaning", test_tokenize_cjk_and_cleaning},
      {"lower_accents", test_tokenize_lower_case_and_accents},
      {"ids_cap", test_tokenize_ids_cap},
      {"bert_encode", test_tokenize_bert_encode},
      {"vocab_errors", test_tokenize_vocab_errors},
      {"tsv_load", test_tokenize_tsv_loads},
      {"tsv_errors", test_tokenize_tsv_errors},
      {"random_bytes", test_tokenize_survives_random_bytes},
  };
  int rc = vocab ? test_main("tokenize", cases, MC_COUNTOF(cases)) : 1;
  rt_vocab_free(vocab);
  remove_tree(tmpdir);
  return rc;
}
