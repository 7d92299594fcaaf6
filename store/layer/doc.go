// Package layer converts between directory trees and uncompressed OCI layer
// tars.
//
// It writes layers from overlayfs upper dirs (WriteUpperDir: whiteout devices
// become ".wh." files, opaque dirs get ".wh..wh..opq", overlay xattrs are
// dropped, and with Options.Lowers directories that were only copied up are
// left out) and from lists of files made without a container (WriteEntries),
// deterministically: sorted entries, numeric owners, no access or change
// times, PAX format, whole-second mtimes clamped to SOURCE_DATE_EPOCH when
// asked. It unpacks layers into a directory that serves as an overlay lower
// dir (Apply: whiteouts become overlay whiteouts) or into a merged root
// (ApplyToRoot: whiteouts delete), and materialises file lists in an upper
// or merged dir (WriteEntriesToDir). Every write goes through file
// descriptors resolved by openat2, so nothing lands outside the directory,
// and device nodes from untrusted layers are refused. Unpacking can be
// bounded (ApplyOptions.MaxSize counts contents by logical size and a
// header's worth per entry, against decompression bombs), names are at
// most 4096 bytes, and all-zero blocks (the holes of sparse entries too)
// are written as holes.
//
// It deliberately does not compress, hash or store layers, know about
// images, manifests or caches, or mount anything: callers wrap the tar
// streams (the store compresses them and computes their digests as it
// writes them), and the store (snapshots) and engine/local (upper dirs,
// mounted roots) decide where trees live. It sits under store because the
// store unpacks every snapshot with it; the local engine writes layers
// with it.
package layer
