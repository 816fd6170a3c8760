#!/bin/sh
# run.sh -- modelc against its peers, in one run on this machine:
#   train-step and inference medians of seed_net and mlp (our JIT vs PyTorch
#   eager/TorchScript from ../shared/peers/torch_bench.py), matmul
#   GFLOP/s at 256, 512, 1024 (our JIT vs OpenBLAS through numpy), and mlp as
#   a library made by `modelc build` (bench/aot_bench: inference at batch 1
#   and 128, a training step at 128, the .so's size) beside the JIT and torch.
# Usage: sh bench/run.sh [BUILD_DIR]   (default build; `make` first)
# The peer runs need /usr/bin/python3 with python3-torch, python3-numpy and
# libopenblas0-openmp (see ../shared/peers/README.md); without them only our
# figures are printed. Ratios are peer_time / our_time (> 1: we are faster).
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PEERS=${PEERS:-../shared/peers}
THREADS=${THREADS:-2}
PY="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS /usr/bin/python3"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT INT TERM

have_torch=no
if [ -f "$PEERS/torch_bench.py" ] && $PY -c 'import torch' 2>/dev/null; then have_torch=yes; fi

echo "# modelc bench: $(nproc) cores, threads=$THREADS, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
"$BUILD/modelc" --version | sed 's/^/# /'

# Ours: the torch_bench models' optimizers (seed_net SGD lr 0.01, mlp SGD momentum 0.9).
"$BUILD/bench/step_bench" examples/seed_net.model --optimizer sgd --threads "$THREADS" --iters 200 >"$OUT/ours"
"$BUILD/bench/step_bench" examples/mlp.model --optimizer sgd --momentum 0.9 --threads "$THREADS" >>"$OUT/ours"
"$BUILD/bench/matmul_bench" "$THREADS" 256 512 1024 >"$OUT/mm"

if [ $have_torch = yes ]; then
  for m in seed_net mlp; do $PY "$PEERS/torch_bench.py" --model $m --threads "$THREADS" >>"$OUT/torch" 2>&1 || true; done
  $PY "$PEERS/gemm_bench.py" numpy --threads "$THREADS" --sizes 256,512,1024 >"$OUT/blas" 2>&1 || true
fi

field() { sed -n "s/.*$1= *\([0-9.e+-]*\).*/\1/p"; }
ms_of() { grep -E "^$1 +$2 " "$3" 2>/dev/null | head -n 1 | field median_ms; }

printf '\n%-10s %-12s %12s %12s %12s %9s\n' model mode "modelc ms" "torch ms" "script ms" "ratio"
for m in seed_net mlp; do
  for mode in train_step inference; do
    ours=$(ms_of $m $mode "$OUT/ours")
    peer=""; script=""
    if [ $have_torch = yes ]; then
      if [ $mode = train_step ]; then peer=$(ms_of $m train "$OUT/torch"); else peer=$(ms_of $m infer "$OUT/torch"); fi
      [ $mode = inference ] && script=$(ms_of $m infer_jit "$OUT/torch")
    fi
    ratio=""
    [ -n "$peer" ] && [ -n "$ours" ] && ratio=$(awk -v p="$peer" -v o="$ours" 'BEGIN { printf "%.2fx", p / o }')
    printf '%-10s %-12s %12s %12s %12s %9s\n' $m $mode "$ours" "${peer:--}" "${script:--}" "${ratio:--}"
  done
done

printf '\n%-6s %14s %14s %9s\n' n "modelc GF/s" "OpenBLAS GF/s" "ratio"
for n in 256 512 1024; do
  ours=$(grep -E "^n= *$n " "$OUT/mm" | sed -n 's/.*median *\([0-9.]*\) GFLOP.*/\1/p')
  blas=""
  [ -s "$OUT/blas" ] && blas=$(grep -E "n= *$n " "$OUT/blas" | head -n 1 | sed -n 's/.*median= *\([0-9.]*\).*/\1/p')
  ratio=""
  [ -n "$blas" ] && [ -n "$ours" ] && ratio=$(awk -v b="$blas" -v o="$ours" 'BEGIN { printf "%.2f", o / b }')
  printf '%-6s %14s %14s %9s\n' $n "$ours" "${blas:--}" "${ratio:--}"
done
# A library made by `modelc build` (mlp with the same SGD, momentum 0.9, lr 0.01), called
# through its exported functions, beside the JIT (step_bench above) and PyTorch. torch_bench.py
# times batch 128 only and TorchScript for inference only: those peer cells stay '-'.
mkdir -p "$OUT/lib"
aot=""
if "$BUILD/modelc" build examples/mlp.model -o "$OUT/lib/libmlp.so" --train --optimizer sgd \
    2>"$OUT/aot.err" &&
  "$BUILD/bench/aot_bench" "$OUT/lib/libmlp.so" --threads "$THREADS" --lr 0.01 --momentum 0.9 \
    >"$OUT/aot" 2>>"$OUT/aot.err"; then aot=yes; else sed 's/^/# aot: /' "$OUT/aot.err"; fi
# the JIT at batch 1, for the library's batch-1 row
"$BUILD/bench/step_bench" examples/mlp.model -D B=1 --optimizer sgd --momentum 0.9 \
  --threads "$THREADS" --iters 500 >"$OUT/ours1" 2>/dev/null || true
if [ -n "$aot" ]; then
  printf '\n# mlp as a library: libmlp.so (modelc build --train --optimizer sgd), %s bytes\n' \
    "$(wc -c <"$OUT/lib/libmlp.so" | tr -d ' ')"
  printf '%-12s %5s %12s %12s %12s %12s %9s\n' mode batch "library ms" "JIT ms" "torch ms" \
    "script ms" "ratio"
  for row in "inference 1 aot_infer inference - -" \
      "inference 128 aot_infer inference infer infer_jit" \
      "train_step 128 aot_train train_step train -"; do
    set -- $row
    lib=$(grep -E "^mlp +$3 +batch=$2 " "$OUT/aot" | head -n 1 | field median_ms)
    jit=""; peer=""; script=""
    ours="$OUT/ours"
    [ "$2" = 1 ] && ours="$OUT/ours1"
    jit=$(grep -E "^mlp +$4 +batch=$2 " "$ours" 2>/dev/null | head -n 1 | field median_ms)
    if [ $have_torch = yes ]; then
      [ "$5" != - ] && peer=$(ms_of mlp "$5" "$OUT/torch")
      [ "$6" != - ] && script=$(ms_of mlp "$6" "$OUT/torch")
    fi
    ratio=""
    [ -n "$peer" ] && [ -n "$lib" ] && ratio=$(awk -v p="$peer" -v o="$lib" 'BEGIN { printf "%.2fx", p / o }')
    printf '%-12s %5s %12s %12s %12s %12s %9s\n' "$1" "$2" "${lib:--}" "${jit:--}" "${peer:--}" \
      "${script:--}" "${ratio:--}"
  done
fi
echo
echo "# raw peer output:"
[ -s "$OUT/torch" ] && sed 's/^/#   /' "$OUT/torch"
[ -s "$OUT/blas" ] && sed 's/^/#   /' "$OUT/blas"
[ -s "$OUT/aot" ] && sed 's/^/#   /' "$OUT/aot"
exit 0
