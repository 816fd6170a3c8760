#!/bin/sh
# mpi_scaling.sh -- data-parallel training throughput under Open MPI on this
# machine: samples/s of `mpirun -np N modelc train` for N = 1, 2, 4 on mlp
# (Fashion-MNIST) and gpt (KJV text), the share of each run's time in the
# allreduce (as the trainer's epoch line reports it), and the scaling
# efficiency rate(N) / (N * rate(1)). Weak scaling: every rank keeps the
# same batch, one thread per rank, so N ranks on fewer than N cores
# oversubscribe them (the table says how many cores there were). The last
# row of each model is one process with one thread per core at twice the batch.
# Usage: sh bench/mpi_scaling.sh [BUILD_DIR]   (default build)
# Env: STEPS_MLP, STEPS_GPT, BTL (Open MPI transports, default Open MPI's own choice)
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MODELC="$BUILD/modelc"
STEPS_MLP=${STEPS_MLP:-1500}
STEPS_GPT=${STEPS_GPT:-100}
FM=/usr/share/datasets/fashion-mnist
command -v mpirun >/dev/null 2>&1 || { echo "mpi_scaling: no mpirun (Debian openmpi-bin)" >&2; exit 1; }
[ -f "$FM/train-images-idx3-ubyte.gz" ] || { echo "mpi_scaling: no $FM (dataset-fashion-mnist)" >&2; exit 1; }
command -v bible >/dev/null 2>&1 || { echo "mpi_scaling: no bible (bible-kjv)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
[ -n "$BTL" ] && export OMPI_MCA_btl="$BTL"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT INT TERM
bible -f gen1:1-rev22:21 >"$OUT/kjv.txt"

# run MODEL N STEPS BATCH DATA...: prints "samples/s allreduce%" of the run's epoch line
run() {
  model=$1 n=$2 steps=$3 batch=$4; shift 4
  launch="mpirun --oversubscribe -np $n"
  # one process with several threads: no mpirun (it would bind the process to one core)
  [ "${THREADS:-1}" -gt 1 ] && launch=""
  $launch "$MODELC" train "examples/$model.model" --batch "$batch" \
    --steps "$steps" --threads "${THREADS:-1}" --seed 1 "$@" >"$OUT/log" 2>&1 ||
    { sed 's/^/# /' "$OUT/log" >&2; echo "mpi_scaling: $model on $n ranks failed" >&2; exit 1; }
  line=$(grep -E '^epoch .*samples/s' "$OUT/log" | tail -n 1)
  rate=$(echo "$line" | sed -n 's/.*, \([0-9]*\) samples\/s.*/\1/p')
  share=$(echo "$line" | sed -n 's/.* \([0-9]*\)% of it in allreduce.*/\1/p')
  echo "$rate ${share:-0}"
}

echo "# modelc data-parallel scaling: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "# one thread per rank, weak scaling (batch per rank fixed), $(mpirun --version | head -n 1)"
echo "# transport: ${BTL:-Open MPI default (shared memory on one host)}; $(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf '%-6s %6s %12s %12s %11s %11s\n' model ranks "global batch" "samples/s" "allreduce" "efficiency"
for model in mlp gpt; do
  base=""
  for n in 1 2 4; do
    if [ $model = mlp ]; then
      r=$(run mlp $n "$STEPS_MLP" 64 --data x=$FM/train-images-idx3-ubyte.gz --data y=$FM/train-labels-idx1-ubyte.gz)
    else
      r=$(run gpt $n "$STEPS_GPT" 16 --optimizer adamw --lr 2e-3 --data text="$OUT/kjv.txt")
    fi
    rate=${r% *} share=${r#* }
    [ -z "$base" ] && base=$rate
    eff=$(awk -v r="$rate" -v b="$base" -v n="$n" 'BEGIN { printf "%.0f%%", 100 * r / (n * b) }')
    per=16; [ $model = mlp ] && per=64
    printf '%-6s %6d %12d %12s %10s%% %11s\n' $model "$n" "$((n * per))" "$rate" "$share" "$eff"
  done
  # the same cores used by threads instead of ranks: one process, $(nproc) threads
  per=16; [ $model = mlp ] && per=64
  if [ $model = mlp ]; then
    r=$(THREADS=$(nproc) run mlp 1 "$STEPS_MLP" 128 --data x=$FM/train-images-idx3-ubyte.gz --data y=$FM/train-labels-idx1-ubyte.gz)
  else
    r=$(THREADS=$(nproc) run gpt 1 "$STEPS_GPT" 32 --optimizer adamw --lr 2e-3 --data text="$OUT/kjv.txt")
  fi
  printf '%-6s %6s %12d %12s %11s %11s\n' $model "1x$(nproc)t" "$((2 * per))" "${r% *}" "-" "-"
done
