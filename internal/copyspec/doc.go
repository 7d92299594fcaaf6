// Package copyspec resolves the sources of a COPY (or ADD) against a
// directory with Docker's rules: a directory source copies its contents,
// globs (* ** ? [...]) select several sources, several sources need a
// directory destination ending in "/", `parents` keeps the relative
// structure, and excluded or ignored paths are left out. Symlinks are copied
// as symlinks and never followed out of the root.
//
// It only lists what would be copied; it neither reads file contents nor
// hashes them (ir.CopyFile.Digest stays empty) nor writes anything.
package copyspec
