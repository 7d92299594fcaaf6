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
// Steps run under Docker's default seccomp profile. Their default network
// is a private namespace with outbound access through slirp4netns (Network,
// shared by the steps of a build); "none" is a loopback-only one and
// "host" the host's, which callers gate.
//
// It deliberately does not prepare the root filesystem (package overlay
// mounts it), keep container state between calls, give each step a
// network of its own when they share a Network, or limit resources with
// cgroups.
package runc
