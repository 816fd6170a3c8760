#!/bin/sh
# freeze_rename.sh -- holding params fixed and loading weights under other
# names: `freeze "GLOB"` in a model or block body and --freeze GLOB (check,
# dump, train, grad) make matching params frozen: no gradient code, no
# optimizer state, values unchanged by training; a glob matching nothing is
# an error. --rename OLD=NEW maps checkpoint name prefixes for --init-from
# (train) and --weights (grad).
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"

cat >"$TMP/net.model" <<'EOF2'
model net {
  B = 4
  input x: f32[B, 3]
  input y: f32[B, 2]
  enc = linear(3, 5)
  head = linear(5, 2)
  out = head(relu(enc(x)))
  output out
  minimize mse(out, y)
}
EOF2
M="$TMP/net.model"
# the bytes of tensor NAME in safetensors FILE, as hex
tensor_hex() {
  /usr/bin/python3 - "$1" "$2" <<'EOF2'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
t = json.loads(data[8:8 + n])[sys.argv[2]]
a, b = t["data_offsets"]
print(data[8 + n + a:8 + n + b].hex())
EOF2
}
has_tensor() { head -c 4000 "$1" | grep -a -q "\"$2\":{" ; }

# --- --freeze on the command line -----------------------------------------------------------
run 0 check "$M" --freeze 'enc.*'
has_out "^net: ok: 2 inputs, 2 params (12 weights), 1 output, 2 frozen, loss f32\[\]\$"
run 0 dump "$M" --stage grad --freeze 'enc.*'
grep -q 'grad "enc\.' "$TMP/out" && fail "a frozen param has a gradient in the dump"
grep -q 'grad "head.weight"' "$TMP/out" || fail "head.weight lost its gradient"
run 0 train "$M" --optimizer adam --steps 1 --lr 1e-30 --save "$TMP/init.st"
run 0 train "$M" --freeze 'enc.*' --init-from "$TMP/init.st" --optimizer adam --steps 5 --save "$TMP/f.st"
[ "$(tensor_hex "$TMP/f.st" enc.weight)" = "$(tensor_hex "$TMP/init.st" enc.weight)" ] ||
  fail "training changed the frozen enc.weight"
[ "$(tensor_hex "$TMP/f.st" head.weight)" != "$(tensor_hex "$TMP/init.st" head.weight)" ] ||
  fail "training did not change head.weight"
has_tensor "$TMP/f.st" enc.weight.exp_avg && fail "a frozen param has optimizer state"
has_tensor "$TMP/f.st" head.weight.exp_avg || fail "head.weight has no optimizer state"
# then everything is trained, starting from the head trained alone
run 0 train "$M" --init-from "$TMP/f.st" --optimizer adam --steps 2 --save "$TMP/all.st"
[ "$(tensor_hex "$TMP/all.st" enc.weight)" != "$(tensor_hex "$TMP/init.st" enc.weight)" ] ||
  fail "unfrozen, enc.weight did not train"
run 0 grad "$M" --freeze 'head.*' -o "$TMP/g.st"
has_out "1 outputs, 2 gradients"
run 1 train "$M" --freeze 'dec*' --steps 1
has_err "^modelc: error: --freeze 'dec\*': no trainable param of model 'net' matches"
run 0 help train
has_out "\-\-freeze GLOB"

# --- freeze in the language: relative to the block, applied to the whole model ----------------
cat >"$TMP/lang.model" <<'EOF2'
block pair(C) {
  a = linear(C, C)
  b = linear(C, C)
  freeze "a.*"
  forward(x) = b(a(x))
}
model lang {
  input x: f32[2, 4]
  p = pair(4)
  q = pair(4)
  freeze "q.b.weight"
  y = q(p(x))
  output y
  minimize sum(y * y)
}
EOF2
run 0 check "$TMP/lang.model"
has_out "^lang: ok: 1 input, 3 params (24 weights), 1 output, 5 frozen, loss f32\[\]\$"
run 0 dump "$TMP/lang.model"
has_out 'param "p.a.weight" .* frozen'
has_out 'param "q.b.bias" uniform([^)]*) :'
printf 'model bad {\n  input x: f32[2, 4]\n  l = linear(4, 4)\n  freeze "k.*"\n  output y = l(x)\n}\n' >"$TMP/bad.model"
run 1 check "$TMP/bad.model"
has_err "bad.model:4:10: error: freeze \"k\.\*\": no trainable param of model 'bad' matches"
printf 'block f(C) {\n  forward(x) {\n    freeze "w"\n    return x\n  }\n}\nmodel m {\n  input x: f32[2]\n  output y = f(2)(x)\n}\n' >"$TMP/place.model"
run 1 check "$TMP/place.model"
has_err "place.model:3:12: error: 'freeze' is only allowed in a model or a block body, not in a forward body"

# --- --rename ---------------------------------------------------------------------------------
sed 's/enc = linear/encoder = linear/; s/enc(x)/encoder(x)/' "$M" >"$TMP/renamed.model"
run 1 train "$TMP/lang.model" --init-from "$TMP/init.st" --steps 1
has_err "no tensor is named like a param.*; --rename OLD=NEW maps name prefixes"
run 0 train "$TMP/renamed.model" --init-from "$TMP/init.st" --rename enc.=encoder. --steps 1
has_err "init.st: loaded all 4 params"
run 0 grad "$TMP/renamed.model" --weights "$TMP/init.st" --rename enc.=encoder. -o "$TMP/g.st"
has_err "init.st: loaded all 4 params"
# an empty OLD adds a prefix (to a checkpoint saved without the model's "bert.")
cat >"$TMP/prefixed.model" <<'EOF2'
block body() {
  enc = linear(3, 5)
  head = linear(5, 2)
  forward(x) = head(relu(enc(x)))
}
model prefixed {
  input x: f32[4, 3]
  input y: f32[4, 2]
  bert = body()
  out = bert(x)
  output out
  minimize mse(out, y)
}
EOF2
run 0 train "$TMP/prefixed.model" --init-from "$TMP/init.st" --rename =bert. --steps 1
has_err "init.st: loaded all 4 params"
# the first rule whose OLD prefixes a name is the one applied
run 0 train "$TMP/prefixed.model" --init-from "$TMP/init.st" --rename enc.=bert.x. --rename =bert. --steps 1
has_err "loaded 2 of 4 params; left at their initializers: bert.enc.weight, bert.enc.bias"
run 2 train "$M" --init-from "$TMP/init.st" --rename enc
has_err "\-\-rename expects OLD=NEW"
run 2 train "$M" --rename a=b
has_err "\-\-rename applies to --init-from"
echo ok
