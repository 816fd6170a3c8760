#!/bin/sh
# docs_examples.sh -- the examples in the documentation run as documented:
#   docs/language.md  ```model        -> `modelc check example.model` exits 0
#                     ```model-error  -> exits 1; when the next block (blank
#                                        lines between allowed) is ```text,
#                                        stderr must equal it exactly
#   docs/ir.md        ```mir          -> `modelc opt example.mir` exits 0
# Each example runs alone in an empty temp directory. Fails when a document
# is missing or has no examples.
set -e
. "$(dirname "$0")/lib/common.sh"

# extract DOC DIR: writes DIR/NNN.KIND for each model/model-error/mir block,
# DIR/NNN.expected for the text block after a model-error block, and
# DIR/index with "NNN KIND LINE" per example.
extract() {
  mkdir -p "$2"
  awk -v dir="$2" '
    function open_block(name) { file = name; printf "" > file; inblock = 1 }
    inblock {
      if ($0 ~ /^```[ \t]*$/) {
        inblock = 0
        if (file != "/dev/null") close(file)
        pending = (kind == "model-error") ? id : ""
        kind = ""
        next
      }
      print > file
      next
    }
    /^```/ {
      info = substr($0, 4)
      sub(/[ \t]+$/, "", info)
      if (info == "text" && pending != "") {
        kind = "expected"
        open_block(dir "/" pending ".expected")
        pending = ""
        next
      }
      pending = ""
      if (info == "model" || info == "model-error" || info == "mir") {
        n++
        id = sprintf("%03d", n)
        kind = info
        print id, info, NR > (dir "/index")
        open_block(dir "/" id "." info)
      } else {
        kind = "other"
        open_block("/dev/null")
      }
      next
    }
    /[^ \t]/ { pending = "" }
    END { if (inblock) { print "unterminated code block" > "/dev/stderr"; exit 1 } }
  ' "$1" || fail "$1: cannot extract the examples"
  touch "$2/index"
}

# run_example DOC DIR ID KIND LINE
run_example() {
  doc=$1 dir=$2 id=$3 kind=$4 line=$5
  work="$TMP/run"
  rm -rf "$work"
  mkdir "$work"
  case $kind in
    mir) cp "$dir/$id.mir" "$work/example.mir"; set -- opt example.mir; want=0 ;;
    model) cp "$dir/$id.model" "$work/example.model"; set -- check example.model; want=0 ;;
    model-error) cp "$dir/$id.model-error" "$work/example.model"; set -- check example.model; want=1 ;;
  esac
  rc=0
  (cd "$work" && "$MODELC" "$@" >"$work/stdout" 2>"$work/stderr") || rc=$?
  if [ "$rc" != "$want" ]; then
    echo "--- $doc:$line ($kind) ---" >&2
    cat "$work/example".* >&2
    echo "--- stderr ---" >&2
    cat "$work/stderr" >&2
    fail "$doc:$line: modelc $* exited $rc, expected $want"
  fi
  if [ -f "$dir/$id.expected" ] && ! cmp -s "$dir/$id.expected" "$work/stderr"; then
    echo "--- $doc:$line: stderr differs from the documented text (- documented, + actual) ---" >&2
    diff -u "$dir/$id.expected" "$work/stderr" >&2 || true
    fail "$doc:$line: the diagnostics differ from the documentation"
  fi
}

total=0
for doc in docs/language.md docs/ir.md; do
  [ -f "$SRC/$doc" ] || fail "$doc is missing"
  dir="$TMP/$(basename "$doc" .md)"
  extract "$SRC/$doc" "$dir"
  count=0
  while read -r id kind line; do
    run_example "$doc" "$dir" "$id" "$kind" "$line"
    count=$((count + 1))
  done <"$dir/index"
  case $doc in
    docs/language.md) grep -q ' model ' "$dir/index" || fail "$doc has no \`\`\`model example"
                      grep -q ' model-error ' "$dir/index" || fail "$doc has no \`\`\`model-error example" ;;
    docs/ir.md) [ "$count" -gt 0 ] || fail "$doc has no \`\`\`mir example" ;;
  esac
  echo "docs_examples.sh: $doc: $count examples ok"
  total=$((total + count))
done
echo "docs_examples.sh: ok ($total examples)"
