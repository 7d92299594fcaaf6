// Package imageio moves images between imgc's store and the outside world.
//
// In: it opens base images without reading their layers (a registry
// reference, "oci:PATH[:TAG]" layouts, "docker-archive:PATH" tarballs;
// ResolveBase, BaseOnBuild) and pulls them into the store (PullBase).
// Local bases are read as registries are: every blob of an OCI layout is
// checked against the digest and size that named it while it is read, the
// metadata read into memory is bounded, only regular files are opened, and
// a docker archive's layers are checked against its config's diff ids as
// they are copied. Registry pulls and pushes retry with backoff.
//
// Out: it writes stored images as OCI layouts, OCI layout archives and
// `docker load` tarballs (WriteOutput, Save) with go-containerregistry's
// layout and tarball packages, and pushes them with its remote package
// (PushDigest, Push), uploading only the blobs a registry lacks.
//
// Shared caches (--cache-to, --cache-from): ExportCache writes a set of
// cache key records and their layer blobs as an OCI artifact (artifactType
// CacheArtifactType) to a registry or an OCI layout directory, uploading
// or copying only the blobs the destination lacks and replacing its index
// last; OpenCache reads one's records without reading a layer, and
// CacheSource.Fetch downloads a layer, checked against its digest, size
// and diff id before the store lists it.
//
// WriteImage stores a built image's config and manifest. It marshals the
// two documents itself instead of composing them with ggcr's mutate: the
// layers are blobs the store already holds (compressed in the background
// while later steps ran) and known by the descriptors of the cache index,
// base layers keep the OCI media types they were imported under, and the
// history interleaves empty-layer entries with the base's. mutate would
// re-derive every descriptor from v1.Layer values, add a history entry per
// added layer, and take the base's manifest and config media types, so
// keeping image digests byte-identical across rebuilds and imgc versions
// would need as much code as writing the JSON, and the store would be read
// again. Digests of layer blobs are computed while they are written (see
// store.PutLayerTar), never by reading them back.
//
// It deliberately does not build anything, decide what an image contains,
// choose cache keys, or know about plans beyond the base references the IR
// carries: the engine decides what to pull and what to write, the store
// keeps the blobs.
package imageio
