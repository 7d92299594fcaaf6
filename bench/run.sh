#!/usr/bin/env bash
# bench/run.sh [compare.py options]: imgc, BuildKit and buildah side by side on
# this machine, from a fresh clone: installs what it needs, makes the base
# images, starts a private buildkitd and runs bench/compare.py (interleaved
# rounds; see its --help), which writes .cache/bench-out/summary.md (the
# tables BENCHMARKS.md quotes), results.json and log.txt.
#
# Needs root and the Debian archive (apt) and Go module proxy. The first run
# installs buildah, skopeo, umoci, debootstrap (bench/refenv/setup.sh) and
# qemu-user-static, builds runc and BuildKit v0.34.2 from the module proxy
# (`make deps-run buildkit binfmt`, about 8 minutes) and makes the bases
# (busybox, a Debian bookworm minbase with debootstrap, a two-platform busybox
# index; 1-3 minutes). Later runs reuse them.
#   bench/run.sh --quick --rounds 1     # small sizes: checks the script in minutes
#   bench/run.sh --only busybox-app     # one workload (names: compare.py --help)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: must run as root" >&2; exit 1; }
BKDIR=/usr/local/libexec/imgc/buildkit
BASES="$ROOT/.cache/bench-bases"

"$ROOT/bench/refenv/setup.sh"
"$ROOT/.ci/apt-need" qemu-user-static
make -C "$ROOT" --no-print-directory deps-run buildkit binfmt build
[ -f "$BASES/debian-bookworm/index.json" ] || "$ROOT/bench/refenv/make-base-images.sh" "$BASES"
(cd "$ROOT" && go run ./internal/cmd/mkbase -multiarch "$BASES/multiarch")
for b in busybox debian-bookworm; do
  name="${b%-bookworm}"
  skopeo --insecure-policy copy -q "oci:$BASES/$b:latest" "containers-storage:localhost/bench-base-$name:latest"
done

state="$(mktemp -d /tmp/imgc-bench-bk.XXXXXX)"
REGISTRY=127.0.0.1:5077
trap 'BUILDKIT_BIN_DIR="$BKDIR" "$ROOT/bench/refenv/buildkit.sh" stop "$state" >/dev/null 2>&1 || true
  "$ROOT/bench/refenv/registry.sh" stop "$state/registry" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT
# A loopback registry (distribution, plain HTTP) for the shared-cache phase.
"$ROOT/bench/refenv/registry.sh" start "$state/registry" "${REGISTRY#*:}" >/dev/null
printf '[registry."%s"]\n  http = true\n  insecure = true\n' "$REGISTRY" > "$state/buildkitd.toml"
eval "$(BUILDKIT_BIN_DIR="$BKDIR" "$ROOT/bench/refenv/buildkit.sh" start "$state" | grep '^BUILDKIT_HOST=')"

python3 "$ROOT/bench/compare.py" --buildkit-dir "$BKDIR" --buildkit-host "$BUILDKIT_HOST" \
  --buildkit-root "$state/root" --busybox "$BASES/busybox" --debian "$BASES/debian-bookworm" \
  --multiarch "$BASES/multiarch" --registry "$REGISTRY" "$@"
