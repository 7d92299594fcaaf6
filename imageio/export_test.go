package imageio

import "github.com/google/go-containerregistry/pkg/v1/remote"

// SetRegistryBackoff replaces the retry backoffs of pushes and pulls until
// the returned function restores them.
func SetRegistryBackoff(operation, request remote.Backoff) (restore func()) {
	oldOp, oldReq := registryBackoff, requestBackoff
	registryBackoff, requestBackoff = operation, request
	return func() { registryBackoff, requestBackoff = oldOp, oldReq }
}
