// Package dockerfile imports Dockerfiles into imgc.
//
// Import evaluates a Dockerfile into the same model (model.Config) an
// .image.hcl configuration evaluates to, and checks it with the same
// model.Check, so `imgc build` and `imgc plan` treat both alike. It parses with BuildKit's own parser and instruction
// packages and mimics BuildKit's dispatcher (dockerfile2llb): global ARGs
// usable in FROM, in-stage ARGs passed to RUN as environment, ENV and ARG
// expansion with BuildKit's shell lexer in the instructions Docker expands,
// and every instruction mapped to an hcl.Range over its Dockerfile lines.
//
// Convert writes the configuration a person would write for the same
// Dockerfile, as formatted HCL: stages, variables for ARGs, mounts, one
// config block per stage. What HCL cannot say exactly is a warning.
//
// Both start from one reading of the Dockerfile (read, in import.go): one
// function per instruction (dispatch.go, run.go, copy.go) fills a
// Dockerfile-level form (form.go) of stages and steps whose values carry
// the HCL template they came from and whose lines are ranges, with the ARG
// declarations, the comments and the diagnostics, each marked for the
// import, the conversion or both. Import lowers the form to the model
// (lower.go); Convert names the variables and prints it (convert.go,
// write.go).
//
// The package deliberately does not build, resolve base images or read the
// build context: variables a stage's base image defines (such as PATH) are
// left as written for the runtime to expand against the base image's
// config. A stage's ONBUILD triggers are imported at the start of a stage
// built on it; triggers of images from outside the Dockerfile are not read. It never imports BuildKit's LLB client. Windows images are
// rejected with a diagnostic; COPY and ADD heredocs become copies of
// inline content (inline.go). Git
// sources and SSH mounts become model values; resolving a ref, a URL or an
// agent is the compiler's and the engine's business.
package dockerfile
