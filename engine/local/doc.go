// Package local is imgc's first engine (engine.Engine): it builds a plan
// on this machine. It runs `run` steps with runc (package runc) over
// overlayfs (internal/overlay), with their cache, secret, bind and tmpfs
// mounts and a private network per build; writes `copy` and `add` steps
// without a container where it can; turns each layer's changes into a
// layer tar (store/layer), compressed into the store in the background
// while the next steps run; and assembles each target's config (Docker's
// merge rules, ONBUILD dropped) and image. Base images are pulled, and
// outputs written and pushed, through package imageio; blobs, the cache
// index, snapshots, cache mounts and build records live in the store.
//
// It builds the output targets and only the other targets they need
// (ir.Plan.NeededTargets): a stage whose readers all hit the cache is
// skipped. A target starts once its base is available, and a layer that
// reads another target (ir.Layer.Reads) waits for it just before it runs,
// so a target's first steps overlap with the stages it copies from. A
// `cache = false` layer runs on every build, and so does everything built
// on or from its result (ir.Plan.ForcedLayers). The caches of
// BuildOptions.CacheFrom are consulted by key where the local index misses
// (sharedcache.go): a layer of an output image is downloaded and verified
// at once, another stage's only when its content is needed, and an entry
// failing a check is refused with a warning and its layer built;
// BuildOptions.CacheTo exports the build's entries once it succeeded.
// Explain says the same
// before a build, for `imgc plan`. RunImage runs a stored image once, like
// `docker run --rm`.
//
// It never parses configurations and never computes cache keys: it trusts
// the keys of the plan it is given (after engine.Prepare ran ir.Check), and
// never imports lang, compiler or cmd. It never formats source locations
// either: a failing step comes back as an engine.StepError carrying the
// step's origins for the CLI to render. It does not decide where the store
// keeps things or how images are encoded on the wire.
package local
