#!/bin/sh
# repl_pty.sh -- runs tests/repl_pty.py: `modelc repl` on a pseudo-terminal
# (line editing, completion, history, Ctrl-C during training).
set -e
: "${MODELC:?MODELC must name the modelc binary}"
: "${SRC:?SRC must name the source tree}"
if [ ! -x /usr/bin/python3 ]; then echo "SKIP: no /usr/bin/python3"; exit 0; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
timeout 90 /usr/bin/python3 "$SRC/tests/repl_pty.py" "$MODELC" "$TMP"
