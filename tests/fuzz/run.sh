#!/bin/sh
# run.sh -- builds the libFuzzer targets (a separate tree, CC=clang-19,
# -DMODELC_FUZZ=ON) and runs each for SECONDS, then prints a table of
# executions, corpus sizes and findings. Exits 1 when a target found a
# crash, leak, timeout or out-of-memory input (its artifact is named), 2
# when the tree cannot be built. `make fuzz SECONDS=N` calls it.
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]   (default 60, every target)
# Environment: FUZZ_BUILD (build-fuzz), FUZZ_CC (clang-19), JOBS (nproc).
#
# Each target runs on a working corpus, $FUZZ_BUILD/corpus/TARGET, that
# libFuzzer grows (the seeds in tests/fuzz/corpus/TARGET are read too but
# never written); artifacts go to $FUZZ_BUILD/artifacts/TARGET/, the full
# log to $FUZZ_BUILD/logs/TARGET.log.
set -u
cd "$(dirname "$0")/../.." || exit 2
SECS=${1:-60}
[ $# -gt 0 ] && shift
ALL="fuzz_model fuzz_ir fuzz_safetensors fuzz_npy fuzz_idx fuzz_csv fuzz_text fuzz_aot_load"
TARGETS=${*:-$ALL}
B=${FUZZ_BUILD:-build-fuzz}
CC_FUZZ=${FUZZ_CC:-clang-19}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

case $SECS in
  ''|*[!0-9]*) echo "fuzz: SECONDS must be a whole number, not '$SECS'" >&2; exit 2 ;;
esac
if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
  echo "fuzz: $CC_FUZZ not found (tools/deps.sh installs clang-19 and libclang-rt-19-dev)" >&2
  exit 2
fi
if [ ! -f "$B/CMakeCache.txt" ]; then
  CC=$CC_FUZZ cmake -S . -B "$B" -DMODELC_FUZZ=ON >"$B.configure.log" 2>&1 || {
    cat "$B.configure.log" >&2
    echo "fuzz: configuring $B failed" >&2
    exit 2
  }
  rm -f "$B.configure.log"
fi
cmake --build "$B" -j "$JOBS" --target fuzz_all || { echo "fuzz: build failed" >&2; exit 2; }

mkdir -p "$B/logs"
stamp="$B/logs/.before"
failed=""
rows=""
for t in $TARGETS; do
  exe="$B/tests/fuzz/$t"
  if [ ! -x "$exe" ]; then
    echo "fuzz: no target '$t' (targets: $ALL)" >&2
    exit 2
  fi
  work="$B/corpus/$t"
  art="$B/artifacts/$t"
  log="$B/logs/$t.log"
  mkdir -p "$work" "$art"
  set --
  [ -f "tests/fuzz/$t.dict" ] && set -- "-dict=tests/fuzz/$t.dict"
  echo "fuzz: $t for ${SECS}s (log: $log)"
  ls "$art" >"$stamp"   # the artifacts of earlier runs
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$exe" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art/" "$@" "$work" "tests/fuzz/corpus/$t" </dev/null >"$log" 2>&1
  rc=$?
  # Executions: the final stats (printed on crashes too), else the last status line.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' "$log" | tail -n 1)
  crash=0 leak=0 timeout=0 oom=0 found=""
  for f in $(ls "$art" | grep -vxF -f "$stamp"); do
    case $f in
      crash-*) crash=$((crash + 1)) ;;
      leak-*) leak=$((leak + 1)) ;;
      timeout-*) timeout=$((timeout + 1)) ;;
      oom-*) oom=$((oom + 1)) ;;
      *) continue ;;
    esac
    found="$found $art/$f"
  done
  result=ok
  if [ -n "$found" ] || [ "$rc" -ne 0 ]; then
    result=FAIL
    failed="$failed $t"
    echo "fuzz: $t FAILED (exit $rc):${found:- no artifact, see $log}" >&2
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 3 >&2
  fi
  rows="$rows$(printf '%-18s %12s %9s %13s %7s %5s %8s %4s  %s' "$t" "${execs:-?}" \
    "${rate:-?}" "${corp:-?}" "$crash" "$leak" "$timeout" "$oom" "$result")
"
done
rm -f "$stamp"

echo
printf '%-18s %12s %9s %13s %7s %5s %8s %4s  %s\n' target execs execs/s corpus crashes \
  leaks timeouts ooms result
printf '%s' "$rows"
if [ -n "$failed" ]; then
  echo "fuzz: findings in:$failed (reproduce: $B/tests/fuzz/TARGET ARTIFACT)" >&2
  exit 1
fi
echo "fuzz: no findings in ${SECS}s per target"
