#!/usr/bin/env bash
# bench/run.sh [-r RUNS] [-s SAMPLE]...: imgc, BuildKit and buildah side by side on
# the refenv samples, in one run, on this machine. Writes hyperfine JSON to
# .cache/bench-out and a summary table (with ratios to BuildKit) to
# .cache/bench-out/summary.md, which BENCHMARKS.md quotes.
#
# Needs root. Installs the reference tools with ../shared/refenv (setup.sh,
# buildkit.sh install: about 7 minutes the first time; make-base-images.sh:
# 1-2.5 minutes). Reuses them from BUILDKIT_BIN_DIR and BASES when set.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REFENV="${REFENV:-$ROOT/../shared/refenv}"
RUNS=3
SAMPLES=()
while getopts "r:s:h" o; do
  case "$o" in
    r) RUNS="$OPTARG" ;; s) SAMPLES+=("$OPTARG") ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
[ ${#SAMPLES[@]} -gt 0 ] || SAMPLES=(busybox-app debian-app)
OUT="$ROOT/.cache/bench-out"
BASES="${BASES:-$ROOT/.cache/refbase}"
BKBIN="${BUILDKIT_BIN_DIR:-$ROOT/.cache/refbin}"
mkdir -p "$OUT" "$BASES" "$BKBIN"

"$REFENV/setup.sh"
[ -x "$BKBIN/buildkitd" ] || "$REFENV/buildkit.sh" install "$BKBIN"
[ -f "$BASES/debian-bookworm/index.json" ] || "$REFENV/make-base-images.sh" "$BASES"
(cd "$ROOT" && go build -o bin/imgc ./cmd/imgc)

skopeo copy -q "oci:$BASES/busybox:latest" containers-storage:localhost/busybox:latest
skopeo copy -q "oci:$BASES/debian-bookworm:latest" containers-storage:localhost/debian:bookworm

bkdir="$(mktemp -d)"
trap 'BUILDKIT_BIN_DIR="$BKBIN" "$REFENV/buildkit.sh" stop "$bkdir" >/dev/null 2>&1 || true; rm -rf "$bkdir"' EXIT
eval "$(BUILDKIT_BIN_DIR="$BKBIN" "$REFENV/buildkit.sh" start "$bkdir" | grep '^BUILDKIT_HOST=')"
export BUILDKIT_HOST BUILDCTL="$BKBIN/buildctl"

: > "$OUT/loadavg.txt"
for sample in "${SAMPLES[@]}"; do
  case "$sample" in
    busybox-app) file=src/a.sh base="$BASES/busybox" ;;
    debian-app) file=src/lib.sh base="$BASES/debian-bookworm" ;;
    *) echo "unknown sample $sample" >&2; exit 2 ;;
  esac
  dir="$REFENV/samples/$sample"
  for engine in imgc buildkit buildah; do
    echo "$sample $engine before: $(cat /proc/loadavg)" >> "$OUT/loadavg.txt"
    case "$engine" in
      imgc) "$ROOT/bench/bench-imgc.sh" -r "$RUNS" -o "$OUT" -b "$base" "$dir" "$file" ;;
      buildkit) "$REFENV/bench-build.sh" -e buildkit -r "$RUNS" -o "$OUT" -b "$base" "$dir" "$file" ;;
      buildah) "$REFENV/bench-build.sh" -e buildah -r "$RUNS" -o "$OUT" "$dir" "$file" ;;
    esac
  done
done

python3 - "$OUT" "${SAMPLES[@]}" > "$OUT/summary.md" <<'PY'
import json, os, sys
out, samples = sys.argv[1], sys.argv[2:]
def mean(engine, sample, sc):
    p = os.path.join(out, f"{engine}-{sample}-{sc}.json")
    if not os.path.exists(p): return None
    r = json.load(open(p))["results"][0]
    return r["mean"], (r.get("stddev") or 0)
print("| sample | engine | cold | warm | touch | edit |")
print("| --- | --- | --- | --- | --- | --- |")
for s in samples:
    for e in ("imgc", "buildkit", "buildah"):
        cells = []
        for sc in ("cold", "warm", "touch", "edit"):
            m = mean(e, s, sc)
            cells.append("-" if m is None else f"{m[0]:.3f} ± {m[1]:.3f}")
        print(f"| {s} | {e} | " + " | ".join(cells) + " |")
    cells = []
    for sc in ("cold", "warm", "touch", "edit"):
        a, b = mean("imgc", s, sc), mean("buildkit", s, sc)
        cells.append("-" if not a or not b else f"**{a[0]/b[0]:.2f}x**")
    print(f"| {s} | imgc / BuildKit | " + " | ".join(cells) + " |")
PY
cat "$OUT/summary.md"
echo; cat "$OUT/loadavg.txt"
