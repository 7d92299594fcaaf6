// Package store is imgc's content store: the cache directory every build
// reads and writes. It holds
//
//   - oci/: an OCI image layout of every blob (layers, configs, manifests),
//     whose index.json names the built images (TagImages, LookupImage,
//     Image reads one back by manifest digest);
//   - keys/: the cache index, one entry per layer key: the layer it made,
//     the content it was built on and when (LookupKey, PutKey);
//   - snapshots/: layers unpacked once, by diff id, as overlay lower dirs
//     (Snapshots, AdoptSnapshot), base layers within UnpackLimits against
//     decompression bombs;
//   - builds/: each project's last build, for `imgc plan` (RecordBuild,
//     LastBuild);
//   - exports/: the stamps of the files the last export to each
//     destination wrote, so that an unchanged one is not written again
//     (RecordExport, ExportUpToDate);
//   - remote/: the layers of stored images that stayed in a registry (a
//     push mounted them from a shared cache), downloaded through the
//     BlobFetcher the caller sets when something opens them (RemoteBlob,
//     PutRemoteBlob, SetBlobFetcher);
//   - mounts/cache/, downloads/, tmp/ and locks/.
//
// It streams layer tars into blobs, computing both digests and
// compressing on goroutines of their own as the tar is written
// (NewLayerWriter, PutLayer), lists what it holds (Images, History, Inspect, CacheList,
// DiskUsage) and prunes it (Prune). Writes are atomic (a temporary file and
// a rename) and guarded by file locks, so concurrent builds may share a
// cache directory and a killed build never corrupts it: a build holds the
// store's lock shared (LockShared), Prune exclusively.
//
// It deliberately does not pull or push images, write layouts or archives
// elsewhere (package imageio), run or schedule anything, mount overlays or
// decide what a layer contains (package engine/local), or compute cache
// keys: it trusts the keys it is given, and imports only the IR.
package store
