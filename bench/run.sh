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
"$ROOT/.ci/apt-need" qemu-user-static e2fsprogs mount
make -C "$ROOT" --no-print-directory deps-run buildkit binfmt build
[ -f "$BASES/debian-bookworm/index.json" ] || "$ROOT/bench/refenv/make-base-images.sh" "$BASES"
(cd "$ROOT" && go run ./internal/cmd/mkbase -multiarch "$BASES/multiarch")
for b in busybox debian-bookworm; do
  name="${b%-bookworm}"
  skopeo --insecure-policy copy -q "oci:$BASES/$b:latest" "containers-storage:localhost/bench-base-$name:latest"
done

# The engines' state (BuildKit's root, imgc's cache dirs, the build contexts
# and outputs) lives on a fresh journaled ext4 on a loop device, as on most
# hosts. The root file system of the machine this was written on is ext4
# without a journal, where creating files within a minute of deleting many
# is slow (ext4 then skips every recently deleted inode while it looks for a
# free one): one engine's cleanup before its cold build made its next cold
# builds 2-3x slower round after round, and would slow whichever engine ran
# next. buildah's storage stays in /var/lib/containers.
FS="$ROOT/.cache/bench-fs"
img="$ROOT/.cache/bench-fs.img"
mkdir -p "$FS"
rm -f "$img"
truncate -s 60G "$img"
mkfs.ext4 -q -F "$img"
loopdev="$(losetup --find --show --direct-io=on "$img")"
mount "$loopdev" "$FS"
export TMPDIR="$FS/tmp"
mkdir -p "$TMPDIR"

state="$(mktemp -d "$TMPDIR/imgc-bench-bk.XXXXXX")"
REGISTRY=127.0.0.1:5077
trap 'BUILDKIT_BIN_DIR="$BKDIR" "$ROOT/bench/refenv/buildkit.sh" stop "$state" >/dev/null 2>&1 || true
  "$ROOT/bench/refenv/registry.sh" stop "$state/registry" >/dev/null 2>&1 || true; rm -rf "$state"
  umount "$FS" || umount -l "$FS"; losetup -d "$loopdev" 2>/dev/null || true; rm -f "$img"' EXIT
# A loopback registry (distribution, plain HTTP) for the shared-cache phase.
"$ROOT/bench/refenv/registry.sh" start "$state/registry" "${REGISTRY#*:}" >/dev/null
printf '[registry."%s"]\n  http = true\n  insecure = true\n' "$REGISTRY" > "$state/buildkitd.toml"
eval "$(BUILDKIT_BIN_DIR="$BKDIR" "$ROOT/bench/refenv/buildkit.sh" start "$state" | grep '^BUILDKIT_HOST=')"

python3 "$ROOT/bench/compare.py" --buildkit-dir "$BKDIR" --buildkit-host "$BUILDKIT_HOST" \
  --buildkit-root "$state/root" --busybox "$BASES/busybox" --debian "$BASES/debian-bookworm" \
  --multiarch "$BASES/multiarch" --registry "$REGISTRY" "$@"
