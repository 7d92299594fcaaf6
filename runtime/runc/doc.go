// Package runc runs one build step's process in a container with runc: it
// writes an OCI runtime bundle whose defaults follow Docker's (mounts,
// capabilities, masked and read-only paths, rlimits), runs `runc run`
// without a terminal, streams the output, reports the exit code and, on
// cancellation, kills and deletes the container so that nothing outlives
// Run. It resolves users against the image's own /etc/passwd and
// /etc/group, and finds the mount-point stubs runc creates so they can be
// kept out of layers (FindStubs, Stubs.Remove). Every path it resolves in a
// container's filesystem goes through a descriptor of its root (package
// internal/fsroot), never through a joined path string. Bundles, which hold
// the step's environment, are written in memory (BundleRoot) and removed
// after the step; the runc it runs is Binary's.
//
// It deliberately does not prepare the root filesystem (package overlay
// mounts it), keep container state between calls, set up networks beyond
// the host's namespace or a loopback-only one, limit resources with
// cgroups, or apply a seccomp profile.
package runc
