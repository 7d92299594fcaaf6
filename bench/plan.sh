#!/usr/bin/env bash
# bench/plan.sh: times the whole `imgc plan` command (parse, evaluate,
# compile with hashing, read the cache, print) on a generated configuration
# of 1,000 steps and 200 copied files, with hyperfine. Target: under 50 ms
# (issue 17), text and JSON alike.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMGC="${IMGC:-$ROOT/bin/imgc}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
for i in $(seq 1 200); do echo "file $i" > "$work/src/f$i.txt"; done
{
  echo 'image "big" {'
  echo '  from = "scratch"'
  for i in $(seq 1 1000); do
    if [ $((i % 5)) -eq 0 ]; then
      f=$((i / 5))
      printf '  copy {\n    src  = "src/f%d.txt"\n    dest = "/data/f%d.txt"\n  }\n' "$f" "$f"
    else
      printf '  run {\n    sh = "echo step %d >> /log"\n  }\n' "$i"
    fi
  done
  echo '}'
} > "$work/big.image.hcl"
# The hash cache does not trust a file modified in the last 2 seconds (its
# mtime could still change within the same tick), so wait that out first.
sleep 3
"$IMGC" plan "$work" --cache-dir "$work/cache" > /dev/null   # fills the hash cache
hyperfine --style basic --warmup 2 --runs 20 --export-json "${1:-/dev/null}" \
  "$IMGC plan $work --cache-dir $work/cache" \
  "$IMGC plan $work --cache-dir $work/cache --format json"
