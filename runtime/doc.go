// Package runtime executes imgc's layer IR (ir): it resolves and
// pulls base images, runs `run` steps with runc over overlayfs, writes
// `copy` and `add` steps, turns each layer's changes into an OCI layer,
// assembles image configs and manifests, and exports the results (the
// store, OCI layouts, archives, docker-load tarballs, registries). It
// builds the output targets and only the other targets they need: a stage
// whose readers all hit the cache is skipped. A target starts once its base
// is available, and a layer that reads another target waits for it just
// before it runs, so a target's first steps overlap with the stages it
// copies from. A `cache = false` layer runs on every build, and so does
// everything built on or from its result.
//
// Everything it produces lives in a Store: a cache directory holding an OCI
// image layout of every blob, a cache index from layer keys to blobs,
// unpacked layer snapshots used as overlay lower directories, persistent
// cache mounts, and a record of each project's last build for `imgc plan`.
// Writes are atomic and guarded by file locks, so concurrent builds may
// share a cache directory and a killed build never corrupts it.
//
// The runtime never parses configurations and never computes cache keys: it
// trusts the keys of the plan it is given, and never imports lang or
// compiler. It never formats source locations either: a failing step comes
// back as a StepError carrying the step's origins for the CLI to render.
package runtime
