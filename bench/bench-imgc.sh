#!/usr/bin/env bash
# bench-imgc.sh [-r RUNS] [-o OUTDIR] -b BASE_LAYOUT SAMPLE_DIR FILE_TO_CHANGE
#
# imgc's side of ../shared/refenv/bench-build.sh: the same four scenarios
# (cold, warm, touch, edit) timed with hyperfine, building SAMPLE_DIR/Dockerfile
# with `FROM ${BASE}` set to the OCI layout BASE_LAYOUT, and exporting an OCI
# tarball as the BuildKit runs do. cold = an empty cache dir (so the base is
# imported and unpacked again, as after `buildctl prune --all`) and --no-cache.
set -euo pipefail
RUNS=3 OUT=./bench-out BASE_LAYOUT=""
IMGC="${IMGC:-$(cd "$(dirname "$0")/.." && pwd)/bin/imgc}"
while getopts "r:o:b:h" o; do
  case "$o" in
    r) RUNS="$OPTARG" ;; o) OUT="$OPTARG" ;; b) BASE_LAYOUT="$OPTARG" ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] && [ -f "$BASE_LAYOUT/index.json" ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
SAMPLE="$(cd "$1" && pwd)"; CHANGE="$2"
BASE_LAYOUT="$(cd "$BASE_LAYOUT" && pwd)"
mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
name="$(basename "$SAMPLE")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -a "$SAMPLE/." "$work/ctx"
cd "$work/ctx"
BUILD="$IMGC build Dockerfile --progress plain --var BASE=oci:$BASE_LAYOUT --cache-dir $work/cache --output type=oci-archive,dest=$work/out.tar"
pfx="$OUT/imgc-$name"
hf() {
  local sc="$1"; shift
  hyperfine --style basic --export-json "$pfx-$sc.json" \
    --export-markdown "$pfx-$sc.md" --command-name "imgc $name $sc" "$@" >&2
}
hf cold --runs "$RUNS" --prepare "rm -rf $work/cache" "$BUILD --no-cache"
hf warm --runs "$((RUNS + 2))" --warmup 1 "$BUILD"
hf touch --runs "$RUNS" --prepare "touch $CHANGE" "$BUILD"
hf edit --runs "$RUNS" --prepare "echo '# edit '\$(date +%s%N) >> $CHANGE" "$BUILD"
