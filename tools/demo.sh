#!/bin/sh
# demo.sh -- a tour of the pipeline on examples/mlp.model: check, the
# forward IR, the gradient program, and the gradient check.
# Usage: sh tools/demo.sh [PATH/TO/modelc]   (make demo passes build/modelc)
# Exits nonzero when any step fails.
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODELC=${1:-build/modelc}
case $MODELC in /*) ;; *) MODELC="$(pwd)/$MODELC" ;; esac
[ -x "$MODELC" ] || { echo "demo: no modelc binary at $MODELC (run make build)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
cd "$ROOT"
MODEL=examples/mlp.model

section() { printf '\n== %s ==\n' "$1"; }
# show FILE N: the first N lines of FILE, then how many were left out.
show() {
  total=$(wc -l <"$1")
  head -n "$2" "$1"
  if [ "$total" -gt "$2" ]; then echo "... $((total - $2)) more lines"; fi
}
step_failed() { echo "demo: step failed: modelc $*" >&2; exit 1; }

section "the model: $MODEL"
show "$MODEL" 40

section "1. check: compile it and summarize"
echo "\$ modelc check $MODEL"
"$MODELC" check "$MODEL" || step_failed check "$MODEL"

section "2. the forward IR (simplify, cse, dce after the front end)"
echo "\$ modelc dump $MODEL"
"$MODELC" dump "$MODEL" >"$TMP/forward.mir" || step_failed dump "$MODEL"
show "$TMP/forward.mir" 30

section "3. the gradient program (reverse-mode autodiff of the loss)"
echo "\$ modelc dump $MODEL --stage grad"
"$MODELC" dump "$MODEL" --stage grad >"$TMP/grad.mir" || step_failed dump "$MODEL" --stage grad
show "$TMP/grad.mir" 40

section "4. gradcheck: autodiff against finite differences, in f64"
echo "\$ modelc gradcheck $MODEL"
"$MODELC" gradcheck "$MODEL" || step_failed gradcheck "$MODEL"

printf '\nDone. Try: modelc dump %s --stage grad --format dot | dot -Tsvg > grad.svg\n' "$MODEL"
