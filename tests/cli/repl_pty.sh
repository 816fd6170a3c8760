#!/bin/sh
# repl_pty.sh -- runs tests/repl_pty.py: `modelc repl` on a pseudo-terminal
# (line editing, completion, history, Ctrl-C during training).
set -e
. "$(dirname "$0")/lib/common.sh"
if [ ! -x /usr/bin/python3 ]; then echo "SKIP: no /usr/bin/python3"; exit 0; fi
timeout 90 /usr/bin/python3 "$SRC/tests/repl_pty.py" "$MODELC" "$TMP"
