// Package overlay mounts and unmounts overlayfs stacks: many read-only lower
// dirs, optionally topped by a writable upper dir, which is what a build step
// runs in and what becomes its layer.
//
// It deliberately does not create, track or clean up the directories it is
// given, decide where layers live, or turn upper dirs into layers (package
// layer does). It turns off the overlay features whose upper dirs a layer
// cannot express (redirect_dir, metacopy) and the inode index.
package overlay
