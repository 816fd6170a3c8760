#!/bin/sh
# perf_map.sh -- MODELC_PERF_MAP=1 names the JIT's code for perf: the
# process appends its functions to /tmp/perf-PID.map, "START SIZE NAME" in
# hex, one line each, none overlapping another (the forward program's and
# the training step's, compiled by `dump --stats`); unset, no map is
# written.
set -e
. "$(dirname "$0")/lib/common.sh"
model="$SRC/examples/mlp.model"

# modelc's pid: the shell's, which `exec` hands on.
stats() {
  sh -c 'echo $$; exec "$0" dump "$1" --stats >/dev/null 2>&1' "$MODELC" "$model"
}

pid=$(MODELC_PERF_MAP=1 stats)
map=/tmp/perf-$pid.map
trap 'rm -rf "$TMP" "$map"' EXIT INT TERM
[ -s "$map" ] || fail "MODELC_PERF_MAP=1: no $map"
grep -vqE '^[0-9a-f]+ [0-9a-f]+ [A-Za-z0-9_.]+$' "$map" && fail "malformed line in $map: $(grep -vE '^[0-9a-f]+ [0-9a-f]+ [A-Za-z0-9_.]+$' "$map" | head -n 1)"
grep -q ' p[0-9]*_gemm_ukernel_' "$map" || fail "$map names no GEMM microkernel"
grep -q ' p[0-9]*_k[0-9]*_' "$map" || fail "$map names no kernel"
# no two functions overlap: sorted by start, each starts at or after the
# previous one's end
overlap=$(/usr/bin/python3 - "$map" <<'PY'
import sys
spans = sorted((int(a, 16), int(b, 16), n) for a, b, n in (l.split() for l in open(sys.argv[1])))
for (s0, n0, a), (s1, _, b) in zip(spans, spans[1:]):
    if s1 < s0 + n0:
        print(a, b)
        break
PY
)
[ -z "$overlap" ] || fail "overlapping functions in $map: $overlap"

pid=$(stats)
[ ! -e "/tmp/perf-$pid.map" ] || { rm -f "/tmp/perf-$pid.map"; fail "a map without MODELC_PERF_MAP"; }
echo "ok: $(wc -l <"$map") functions named"
