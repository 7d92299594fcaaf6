// Package imageconfig resolves a step's environment and working directory
// and an image's config the way Docker does ($VAR and ${VAR:-x} expanded
// against the base image's environment, ENV chains, WORKDIR relative to the
// previous one), for every engine: two engines that resolve these alike
// build the same image. It neither runs steps nor reads files.
package imageconfig
