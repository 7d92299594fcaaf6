// Package layer converts between directory trees and uncompressed OCI layer
// tars.
//
// It writes layers from overlayfs upper dirs (WriteUpperDir) and from lists of
// files made without a container (WriteEntries), deterministically: sorted
// entries, numeric owners, no access or change times, PAX format, and mtimes
// clamped to SOURCE_DATE_EPOCH when asked. It unpacks layers into a directory
// that serves as an overlay lower dir (Apply, whiteouts become overlay
// whiteouts) or into a merged root (ApplyToRoot, whiteouts delete), never
// writing outside that directory and refusing device nodes from untrusted
// layers.
//
// It deliberately does not compress, hash or store layers, know about
// images, manifests or caches, or mount anything: callers wrap the tar
// streams (go-containerregistry computes digests and compression) and the
// runtime package decides where trees live.
package layer
