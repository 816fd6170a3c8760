/* fuzz_text.c -- libFuzzer target for the text readers and the WordPiece
   tokenizer. The first input byte picks the options (bit 0 lower-casing,
   bits 1-3 max_len 2..128, bits 4-7 the class count 1..16); the rest is:
     - a label<TAB>text file read by rt_load_text_tsv with the fixed
       vocabulary tests/tokenizer/vocab.txt (FUZZ_VOCAB),
     - raw UTF-8 for rt_wordpiece_ids (at most max_len ids) and
       rt_bert_encode,
     - a vocab.txt of its own for rt_vocab_load (tokenizing itself, ids
       counted only, when it loads; every token found by its id),
     - a text file for the char-level reader rt_load_text_chars.
   Seeds: tests/fuzz/corpus/fuzz_text (each starts with its option byte). */
#include "fuzz_util.h"
#include "rt.h"

static RtVocab *vocab;   /* the fixed vocabulary, loaded once */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  RtError e;
  if (!(vocab = rt_vocab_load(FUZZ_VOCAB, &e))) {
    fprintf(stderr, "fuzz_text: %s\n", e.msg);
    abort();
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int64_t max_lens[8] = {2, 3, 4, 8, 16, 32, 64, 128};
  if (size < 1) return -1;
  uint8_t opt = data[0];
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  bool lower = opt & 1;
  RtTextOpts o = {.max_len = max_lens[(opt >> 1) & 7], .lower_case = lower,
                  .nclasses = 1 + (opt >> 4)};
  const char *path = fuzz_file(data + 1, len);
  RtError e;

  RtTextData t;
  if (rt_load_text_tsv(path, vocab, &o, &t, &e)) rt_text_data_free(&t);

  int32_t ids[128], types[128], mask[128];
  int64_t need = rt_wordpiece_ids(vocab, text, len, lower, ids, o.max_len);
  if (need < 0) abort();
  rt_bert_encode(vocab, text, len, lower, o.max_len, ids, types, mask);

  RtVocab *own = rt_vocab_load(path, &e);
  if (own) {
    rt_wordpiece_ids(own, text, len, lower, NULL, 0);   /* counting only */
    for (int64_t i = 0; i < rt_vocab_size(own); i++)
      if (rt_vocab_id(own, rt_vocab_token(own, (int32_t)i)) != i) abort();
    rt_vocab_free(own);
  }

  int64_t dropped;
  rt_data_free(rt_load_text_chars(path, &dropped, &e));
  return 0;
}
