#!/usr/bin/env bash
# Fails when two modules of shared/app/src import each other, directly or round a longer loop.
#
# A module is a file: `pipeline.rs` is `pipeline`, `telegram/admin.rs` is `telegram::admin`,
# `telegram/mod.rs` is `telegram`. Its edges are the modules its code names: `use crate::x…`
# lines (groups `use crate::{a, b::c}` too), inline `crate::x::…` paths, and in `telegram/*`
# `super::x`. Comments, test modules (`tests*.rs`) and `lib.rs` are left out; `crate::Deps`
# names the crate root, not a module.
#
#   tests/support/check_cycles.sh [SRC_DIR]      (default: shared/app/src)
#
# Loops listed in KNOWN are reported but do not fail (each names the files that still hold it);
# every other loop fails the check.
set -euo pipefail

src="${1:-shared/app/src}"
[[ -d $src ]] || src="$(dirname "$0")/../../shared/app/src"
cd "$src"

# Loops that other work removes; drop a line once its loop is gone.
KNOWN=()

modules=$(find . -name '*.rs' ! -name 'tests*.rs' ! -name lib.rs | sed 's|^\./||; s|\.rs$||; s|/mod$||; s|/|::|g' | sort)
is_module() { grep -qx -- "$1" <<<"$modules"; }

# The longest module a path `a::b::c` starts with.
resolve() {
  local path=$1 cand
  while :; do
    if is_module "$path"; then echo "$path"; return; fi
    cand=${path%::*}
    [[ $cand == "$path" ]] && return
    path=$cand
  done
}

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while read -r m; do
  f="${m//:://}.rs"
  [[ -f $f ]] || f="${m//:://}/mod.rs"
  # Code only: drop line comments and doc comments.
  code=$(sed -e 's|^[[:space:]]*//.*$||' -e 's|[[:space:]]//[^"]*$||' "$f")
  {
    grep -oE 'crate::([a-z_]+::)*[a-z_]+' <<<"$code" | sed 's/^crate:://' || true
    # Groups: use crate::{a, b::c, d::{e, f}} — every leading name of the group.
    tr '\n' ' ' <<<"$code" | grep -oE 'use crate::\{[^;]*\};' | sed -E 's/^use crate::\{//; s/\};$//' | tr ',{}' '\n\n\n' |
      sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//; s/ as .*//' | grep -E '^[a-z_]+(::[a-z_]+)*$' || true
    if [[ $m == telegram::* ]]; then
      grep -oE 'super::[a-z_]+' <<<"$code" | sed 's/^super::/telegram::/' || true
      tr '\n' ' ' <<<"$code" | grep -oE 'use super::\{[^;]*\};' | sed -E 's/^use super::\{//; s/\};$//' | tr ',{}' '\n\n\n' |
        sed -E 's/^[[:space:]]+//; s/::.*//; s/ as .*//' | grep -E '^[a-z_]+$' | sed 's/^/telegram::/' || true
    fi
  } | while read -r target; do
    t=$(resolve "$target")
    # A module and its own parent or children are one unit (`mod.rs` declares them).
    if [[ -n $t && $t != "$m" && $m != "$t"::* && $t != "$m"::* ]]; then echo "$m $t"; fi
  done
done <<<"$modules" | sort -u >"$edges"

# Every loop, as the set of modules strongly connected to each other (Tarjan, in awk).
loops=$(awk '
  { adj[$1] = adj[$1] " " $2; nodes[$1] = 1; nodes[$2] = 1 }
  function visit(v,   ws, n, i, w) {
    index_of[v] = counter; low[v] = counter; counter++
    stack[++top] = v; on[v] = 1
    n = split(adj[v], ws, " ")
    for (i = 1; i <= n; i++) {
      w = ws[i]
      if (!(w in index_of)) { visit(w); if (low[w] < low[v]) low[v] = low[w] }
      else if (on[w] && index_of[w] < low[v]) low[v] = index_of[w]
    }
    if (low[v] == index_of[v]) {
      comp = ""; size = 0
      do { w = stack[top--]; on[w] = 0; comp = comp " " w; size++ } while (w != v)
      if (size > 1) print comp
    }
  }
  END { counter = 0; top = 0; for (v in nodes) if (!(v in index_of)) visit(v) }
' "$edges" | while read -r line; do tr ' ' '\n' <<<"$line" | sort | tr '\n' ' ' | sed 's/ $//'; echo; done | sort)

status=0
while read -r loop; do
  [[ -z $loop ]] && continue
  known=0
  for k in "${KNOWN[@]}"; do if [[ $loop == "$k" ]]; then known=1; fi; done
  members=$(sed 's/ /, /g' <<<"$loop")
  if ((known)); then
    echo "known import loop (to be removed): $members"
  else
    echo "import loop between modules of $src: $members" >&2
    while read -r a; do
      for b in $loop; do if grep -qx "$a $b" "$edges"; then echo "  $a -> $b" >&2; fi; done
    done < <(tr ' ' '\n' <<<"$loop")
    status=1
  fi
done <<<"$loops"
if ((status == 0)); then echo "no import loop between the modules of $src (beyond the known ones)"; fi
exit $status
