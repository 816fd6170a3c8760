#!/bin/sh
# generate.sh -- `modelc generate` and the REPL's `generate`: a small
# examples/gpt.model trained for a few steps on char ids, then sampled:
# temperature 0 is deterministic (and top-k 1 is the same argmax), a seed
# fixes the text and another seed changes it, the output is the prompt then
# exactly --tokens characters and a newline, -D binds the same dims as an
# edited file, and each error (bad options, missing or mismatched weights,
# a prompt character without an id, models that are not char models) has
# its message and exit code.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"
cd "$TMP"
export MODELC_HISTORY=

# gpt at small dims, as a file (the REPL loads it) and as -D (the CLI's way)
sed 's/^  T = 64 /  T = 16 /; s/^  C = 128 /  C = 32 /; s/^  H = 4 /  H = 2 /; s/^  L = 4 /  L = 1 /' \
  "$SRC/examples/gpt.model" >small.model
grep -q '^  T = 16 ' small.model && grep -q '^  L = 1 ' small.model || fail "small.model: dims not set"
DIMS="-D T=16 -D C=32 -D L=1 -D H=2"

# 64 windows of 16 char ids (rt_char_id: '\n' 0, ' '..'~' 1..95) and the next ids
awk 'function id(c) { return c == "\n" ? 0 : index(ALPHA, c) }
BEGIN {
  ALPHA = " !\"#$%&'\''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
  s = "In the beginning God created the heaven and the earth. And the earth was without form, " \
      "and void; and darkness was upon the face of the deep.\n"
  for (r = 0; r < 3; r++) s = s s
  for (i = 1; rows < 64; i += 7) {
    a = b = ""
    for (j = 0; j < 16; j++) {
      a = a (j ? "," : "") id(substr(s, i + j, 1))
      b = b (j ? "," : "") id(substr(s, i + j + 1, 1))
    }
    print a >"idx.csv"; print b >"tgt.csv"; rows++
  }
}'
D="--data idx=idx.csv,int=yes --data targets=tgt.csv,int=yes"
run 0 train small.model $D --batch 8 --epochs 4 --lr 3e-3 --threads 2 --save g.st

# gen OUT ARGS...: modelc generate small.model --weights g.st ARGS, stdout kept in OUT
gen() {
  o=$1; shift
  run 0 generate small.model --weights g.st --threads 2 "$@"
  cp "$TMP/out" "$o"
}
P="In the beginning"

# --- sampling -----------------------------------------------------------------------
gen a0 --prompt "$P" --tokens 40 --temperature 0
has_err "^generated 40 tokens in [0-9.]* s, [0-9.]* tokens/s\$"
[ "$(head -c ${#P} a0)" = "$P" ] || fail "the output does not start with the prompt: $(cat a0)"
[ "$(wc -c <a0)" -eq $((${#P} + 40 + 1)) ] || fail "not prompt + 40 characters + newline: $(cat a0)"
[ "$(tail -c 1 a0 | od -An -c | tr -d ' ')" = '\n' ] || fail "the output does not end in a newline"
gen a1 --prompt "$P" --tokens 40 --temperature 0 --seed 9
cmp -s a0 a1 || fail "temperature 0 differs across runs (or with the seed)"
gen k1 --prompt "$P" --tokens 40 --top-k 1 --seed 5
cmp -s a0 k1 || fail "--top-k 1 is not the argmax of --temperature 0"
# the same dims by -D on the original file: the same text
run 0 generate "$SRC/examples/gpt.model" $DIMS -D B=4 --weights g.st --threads 2 --prompt "$P" \
  --tokens 40 --temperature 0
cmp -s "$TMP/out" a0 || fail "-D dims do not give the edited file's text"

gen s1 --prompt "$P" --tokens 60 --seed 1
gen s1b --prompt "$P" --tokens 60 --seed 1
gen s2 --prompt "$P" --tokens 60 --seed 2
cmp -s s1 s1b || fail "the same seed gave two texts: $(cat s1) / $(cat s1b)"
cmp -s s1 s2 && fail "seeds 1 and 2 gave the same text: $(cat s1)"
[ "$(wc -c <s2)" -eq $((${#P} + 61)) ] || fail "seed 2: not prompt + 60 characters + newline"
gen t3 --prompt "$P" --tokens 60 --seed 1 --top-k 3 --temperature 0.8
cmp -s s1 t3 && fail "--top-k 3 --temperature 0.8 changed nothing"

# an empty prompt starts from a newline, which is not printed; a prompt longer
# than the context (T = 16) is cut to its last 16 characters
gen e --prompt "" --tokens 25
[ "$(wc -c <e)" -eq 26 ] || fail "empty prompt: not 25 characters + newline: $(cat e)"
gen e2 --tokens 25
cmp -s e e2 || fail "no --prompt is not the empty prompt"
L="Whatever came first. In the beginning"
gen long --prompt "$L" --tokens 30 --temperature 0
gen short --prompt "${L#Whatever came first. }" --tokens 30 --temperature 0
[ "$(tail -c 31 long)" = "$(tail -c 31 short)" ] && [ "$(head -c ${#L} long)" = "$L" ] ||
  fail "a prompt longer than the context: $(cat long) / $(cat short)"
gen tab --prompt "$(printf 'In\tthe')" --tokens 20 --temperature 0
gen sp --prompt "In the" --tokens 20 --temperature 0
[ "$(tail -c 21 tab)" = "$(tail -c 21 sp)" ] || fail "a tab does not read as a space"

# --- weights ----------------------------------------------------------------------------
# a file with some params only: the others keep their initializers, with a note
run 0 train "$SRC/examples/gpt.model" -D T=16 -D C=32 -D L=2 -D H=2 $D --batch 8 --steps 1 \
  --threads 2 --save deep.st
run 0 generate "$SRC/examples/gpt.model" -D T=16 -D C=32 -D L=3 -D H=2 --weights deep.st \
  --tokens 5 --threads 2
has_err "^modelc: note: deep.st: loaded 29 of 41 params; left at their initializers: layers.2.ln_1.weight, .* and 4 more$"
has_err "generated 5 tokens"
# training checkpoints hold optimizer state: not listed as unused
grep -q "not used" "$TMP/err" && fail "optimizer state listed as not used"
# errors
run 1 generate small.model --weights nosuch.st
has_err "^modelc: error: nosuch.st: cannot open: No such file or directory\$"
run 1 generate "$SRC/examples/gpt.model" -D T=16 -D C=64 -D L=1 -D H=2 --weights g.st
has_err "^modelc: error: g.st: tensor 'wte.weight' has shape \[96,32\]; the model's param has \[96,64\] (f32\[V,C\])\$"
run 0 train "$SRC/examples/seed_net.model" --steps 1 --save seed.st
run 1 generate small.model --weights seed.st
has_err "seed.st: no tensor is named like a param of model 'gpt'"

# --- usage errors: exit 2 -------------------------------------------------------------------
run 2 generate small.model --prompt "$P"
has_err "^modelc generate: missing --weights CKPT"
run 2 generate small.model --weights g.st --tokens 0
has_err "^modelc generate: --tokens expects a positive integer, got '0'\$"
run 2 generate small.model --weights g.st --tokens ten
has_err "\-\-tokens expects a positive integer, got 'ten'"
run 2 generate small.model --weights g.st --temperature -1
has_err "^modelc generate: --temperature expects a number >= 0, got '-1'\$"
run 2 generate small.model --weights g.st --top-k 0
has_err "\-\-top-k expects a positive integer"
run 2 generate small.model --weights g.st --temprature 1
has_err "did you mean '--temperature'?"
run 2 generate --weights g.st
has_err "missing FILE"

# --- a prompt character without an id --------------------------------------------------------
run 1 generate small.model --weights g.st --prompt "$(printf 'caf\303\251')"
has_err "^modelc: error: generate: the prompt's character 0xc3 at position 4 has no id in the character vocabulary"
[ -s "$TMP/out" ] && fail "a bad prompt printed: $(cat "$TMP/out")"
run 1 generate small.model --weights g.st --prompt "$(printf 'a\001b')"
has_err "character 0x01 at position 2 has no id"

# --- models that are not char models ---------------------------------------------------------
run 1 generate "$SRC/examples/mlp.model" --weights g.st
has_err "^modelc: error: generate: output 'logits' of model 'mlp' is f32\[B,10\] (\[128,10\]); "
has_err "; generate needs a character-level model: one i32 input \[B, T\] of token ids and a float output \[B, T, 96\]"
run 1 generate "$SRC/examples/gpt.model" -D V=100 --weights g.st
has_err "output 'logits' of model 'gpt' is f32\[B,T,V\] (\[16,64,100\])"
model() { # NAME BODY: a model file NAME.model
  printf 'model %s {\n%s\n}\n' "$1" "$2" >"$1.model"
}
model floats '  B = batch(2)
  input x: f32[B, 8, 96]
  output logits = x * 2'
run 1 generate floats.model --weights g.st
has_err "output 'logits' of model 'floats' reads no i32 input"
model two '  B = batch(2)
  input a: i32[B, 8]
  input b: i32[B, 8]
  e = embedding(96, 96)
  output logits = e(a) + e(b)'
run 1 generate two.model --weights g.st
has_err "output 'logits' reads two i32 inputs, 'a' and 'b'"
model fixed '  input idx: i32[4, 8]
  e = embedding(96, 96)
  output logits = e(idx)'
run 1 generate fixed.model --weights g.st
has_err "input 'idx' is i32\[4,8\] (\[4,8\]): generate runs at batch 1 and its first dim is not a named dim"
model small_vocab '  B = batch(2)
  input idx: i32[B, 8]
  e = embedding(50, 96)
  output logits = e(idx)'
run 1 generate small_vocab.model --weights g.st
has_err "input 'idx' takes ids below 50, but the character vocabulary has 96"
# an output named otherwise but shaped [B, T, 96]; a float input beside the ids is
# fed zeros; params by name from another model's file
model extra '  B = batch(2)
  input idx: i32[B, 8]
  input bias: f32[B, 8, 96]
  wte = embedding(96, 32)
  lm_head = linear(32, 96, bias = 0)
  output scores = lm_head(wte(idx)) + bias'
run 0 generate extra.model --weights g.st --prompt "$P" --tokens 3 --temperature 0
has_err "^modelc: note: g.st: not used (model 'extra' has no param of that name): "
has_out "^$P...\$"
run 0 help generate
has_out "^Usage: modelc generate FILE --weights CKPT"
has_out "\-\-temperature T"

# --- the REPL's generate: the session's params ------------------------------------------------
rc=0
timeout 120 "$MODELC" repl small.model >repl.out 2>&1 <<END || rc=$?
generate
set threads 2
restore g.st
generate "$P" tokens=40 temperature=0
generate "$P" tokens=60 seed=1
generate tokens=5 seed=1 top-k=2
generate "$P" tokens=0
generate a b
generate temperature=-1
END
[ "$rc" = 1 ] || { cat repl.out >&2; fail "repl: exit $rc, expected 1 (failed commands)"; }
grep -qxF "$(head -1 a0)" repl.out || { cat repl.out >&2; fail "repl: not the CLI's argmax text"; }
grep -qxF "$(head -1 s1)" repl.out || { cat repl.out >&2; fail "repl: not the CLI's seed-1 text"; }
grep -q "^generated 5 tokens in " repl.out || fail "repl: no summary line"
grep -q "error: expected tokens=N, N > 0" repl.out || fail "repl: tokens=0 accepted"
grep -q "error: usage: generate \[PROMPT\]" repl.out || fail "repl: two prompts accepted"
grep -q "error: expected temperature=T, a number >= 0" repl.out || fail "repl: temperature=-1 accepted"
echo "generate: ok"
