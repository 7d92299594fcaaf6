package imageconfig

import (
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/ir"
)

// RunContext is what run step r sees over an image whose config is cfg:
// its environment (cfg's, with r's expanded against it), its user and its
// working directory (r's, else the image's, else "/").
func RunContext(cfg v1.Config, r *ir.Run) (env []string, user, cwd string) {
	env = MergeEnv(cfg.Env, ExpandEnv(cfg.Env, r.Env))
	user = r.User
	if user == "" {
		user = cfg.User
	}
	cwd = ExpandWorkdir(cfg.Env, r.Workdir)
	if cwd == "" {
		cwd = cfg.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	return env, user, cwd
}

// HistoryComment is the history comment of a layer made at origin o of the
// configuration project names: the source line, relative to the project
// ("../x" when outside), so that history, and so digests, do not depend on
// where the project is checked out.
func HistoryComment(project string, o ir.Origin) string {
	return "imgc: " + RelativeOrigin(ProjectDir(project), o)
}

// ProjectDir is the directory of the configuration project names (the
// project's directory, or its configuration file).
func ProjectDir(project string) string {
	if project == "" {
		return ""
	}
	if fi, err := os.Stat(project); err == nil && !fi.IsDir() {
		return filepath.Dir(project)
	}
	return project
}

// RelativeOrigin renders o with its file relative to dir, however the two
// were written: `imgc build proj/Dockerfile`, `./proj/Dockerfile` and
// `cd proj && imgc build Dockerfile` all give "Dockerfile:3", so that an
// image's history, and so its digest, depends neither on where the project
// is checked out nor on how its path was typed.
func RelativeOrigin(dir string, o ir.Origin) string {
	o.File = RelativeFile(dir, o.File)
	return o.String()
}

// RelativeFile is file relative to dir, however the two were written
// (see RelativeOrigin); file as it is when dir is empty.
func RelativeFile(dir, file string) string {
	if dir == "" || file == "" {
		return file
	}
	d, derr := filepath.Abs(dir)
	f, ferr := filepath.Abs(file)
	if derr == nil && ferr == nil {
		if rel, err := filepath.Rel(d, f); err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return file
}
