package stdlib

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
)

// Language dependency macros. Each copies only the manifest and lock files
// first, then installs with the tool's download cache as a cache mount: an
// edit to the sources (copied by a later step) keeps the install layer's
// cache key, so dependencies are not installed again.

// toolReads is what an install reads besides its manifests that earlier
// steps may have written: the interpreter or toolchain and its
// configuration (certificates, proxies, registries).
var toolReads = []string{"/etc", "/usr"}

// homeWrites is where tools leave per-user state (telemetry, configs,
// logs) besides their cache mounts, for root and for other users, and
// their temporary files.
var homeWrites = []string{"/root", "/home", "/tmp"}

// manifestSteps copies files (relative to the context directory src) into
// dir and returns the copy step and the copied paths in the image.
func manifestSteps(src, dir string, files ...string) (*model.Copy, []string) {
	cp := &model.Copy{FileSpec: model.FileSpec{Dest: dir + "/"}}
	var copied []string
	for _, f := range files {
		cp.Src = append(cp.Src, path.Join(src, f))
		copied = append(copied, path.Join(dir, f))
	}
	return cp, copied
}

func dirAttribute(def string) MacroAttribute {
	return MacroAttribute{Name: "dir", Type: cty.String, Doc: "The project directory in the image, where the manifests are copied and the install runs (default " + def + ")."}
}

var srcAttribute = MacroAttribute{Name: "src", Type: cty.String, Doc: "The directory of the build context that holds the manifests (default \".\")."}

// dirs reads the dir and src attributes.
// dirs checks the dir and src attributes, recording what is wrong in errs.
func dirs(attrs map[string]cty.Value, defDir string, errs *argErrors) (dir, src string) {
	dir, err := absPath("dir", attrString(attrs, "dir", defDir))
	errs.check("dir", err)
	src, err = contextPath("src", attrString(attrs, "src", "."))
	errs.check("src", err)
	return dir, src
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// PipInstall installs Python requirements.
var PipInstall = Macro{
	Name: "pip_install",
	Doc:  "Copies a requirements file alone and installs it with pip, with pip's download cache as a cache mount.",
	Attributes: []MacroAttribute{
		{Name: "requirements", Type: cty.String, Doc: "The requirements file in the build context (default requirements.txt)."},
		{Name: "dest", Type: cty.String, Doc: "The directory in the image the requirements file is copied to (default /app)."},
		{Name: "venv", Type: cty.String, Doc: "A virtual environment to create (if missing) and install into, such as /opt/venv; unset installs into the interpreter's own site-packages."},
		{Name: "python", Type: cty.String, Doc: "The Python interpreter command (default python3)."},
	},
	Expand: expandPipInstall,
}

var commandPattern = regexp.MustCompile(`^[A-Za-z0-9._/+-]+$`)

func expandPipInstall(attrs map[string]cty.Value) ([]model.Step, error) {
	var errs argErrors
	req, err := contextPath("requirements", attrString(attrs, "requirements", "requirements.txt"))
	if !errs.check("requirements", err) && req == "." {
		errs.add("requirements", "`requirements` names the context directory; name the requirements file")
	}
	dest, err := absPath("dest", attrString(attrs, "dest", "/app"))
	errs.check("dest", err)
	python := attrString(attrs, "python", "python3")
	if !commandPattern.MatchString(python) {
		errs.add("python", "`python` is %q, which is not a plain command name or path; give one such as python3 or /usr/local/bin/python", python)
	}
	venv := ""
	if v, ok := attrs["venv"]; ok && !v.IsNull() {
		venv, err = absPath("venv", v.AsString())
		if !errs.check("venv", err) && venv == "/" {
			errs.add("venv", "`venv` is the root directory; give a directory of its own such as /opt/venv")
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	cp := &model.Copy{FileSpec: model.FileSpec{Src: []string{req}, Dest: dest + "/"}}
	reqPath := path.Join(dest, path.Base(req))
	run := &model.Run{
		Env: []model.EnvVar{
			{Name: "PIP_DISABLE_PIP_VERSION_CHECK", Value: "1"},
			{Name: "PIP_ROOT_USER_ACTION", Value: "ignore"},
		},
		Mounts: []model.Mount{{Type: "cache", Target: "/root/.cache/pip", ID: "pip-cache", Sharing: "shared"}},
		Reads:  concat([]string{reqPath}, toolReads),
	}
	if venv != "" {
		run.Command = &model.Sh{Script: fmt.Sprintf("%s -m venv %s && %s/bin/pip install -r %s", python, venv, venv, reqPath)}
		run.Reads = append(run.Reads, venv)
		run.Writes = concat([]string{venv}, homeWrites)
	} else {
		run.Command = &model.Sh{Script: fmt.Sprintf("%s -m pip install -r %s", python, reqPath)}
		// site-packages and scripts: /usr/local (python images, pip on
		// Debian), /usr/lib (system Python), ~/.local (--user).
		run.Writes = concat([]string{"/usr"}, homeWrites)
	}
	return []model.Step{cp, run}, nil
}

// nodeMacro describes npm_ci, yarn_install and pnpm_install, which differ
// in their lock file, command and cache.
type nodeMacro struct {
	lock       string
	command    string
	production string // flag added for production = true
	cache      model.Mount
	env        []model.EnvVar
	// writes are what the tool writes besides node_modules and the
	// home and temporary directories.
	writes []string
}

func (n nodeMacro) expand(attrs map[string]cty.Value) ([]model.Step, error) {
	var errs argErrors
	dir, src := dirs(attrs, "/app", &errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	cp, copied := manifestSteps(src, dir, "package.json", n.lock)
	cmd := n.command
	if attrBool(attrs, "production", false) {
		cmd += " " + n.production
	}
	run := &model.Run{
		Command: &model.Sh{Script: cmd},
		Env:     n.env,
		Workdir: dir,
		Mounts:  []model.Mount{n.cache},
		Reads:   concat(copied, toolReads),
		Writes:  concat([]string{path.Join(dir, "node_modules")}, n.writes, homeWrites),
	}
	return []model.Step{cp, run}, nil
}

func nodeAttributes() []MacroAttribute {
	return []MacroAttribute{
		dirAttribute("/app"),
		srcAttribute,
		{Name: "production", Type: cty.Bool, Doc: "Install only production dependencies, leaving devDependencies out (default false)."},
	}
}

var npmCi = nodeMacro{
	lock:       "package-lock.json",
	command:    "npm ci --no-audit --no-fund",
	production: "--omit=dev",
	cache:      model.Mount{Type: "cache", Target: "/root/.npm", ID: "npm-cache", Sharing: "shared"},
	env:        []model.EnvVar{{Name: "NPM_CONFIG_UPDATE_NOTIFIER", Value: "false"}},
}

// NpmCi installs a Node.js project's locked dependencies with npm.
var NpmCi = Macro{
	Name:       "npm_ci",
	Doc:        "Copies package.json and package-lock.json alone and runs npm ci, with npm's cache as a cache mount.",
	Attributes: nodeAttributes(),
	Expand:     npmCi.expand,
}

var yarnInstall = nodeMacro{
	lock:       "yarn.lock",
	command:    "yarn install --frozen-lockfile --non-interactive",
	production: "--production",
	cache:      model.Mount{Type: "cache", Target: "/usr/local/share/.cache/yarn", ID: "yarn-cache", Sharing: "shared"},
	env:        []model.EnvVar{{Name: "YARN_CACHE_FOLDER", Value: "/usr/local/share/.cache/yarn"}},
	// Yarn 1 keeps root's global folder and config beside its cache.
	writes: []string{"/usr/local/share/.config/yarn", "/usr/local/share/.yarnrc"},
}

// YarnInstall installs a Node.js project's locked dependencies with Yarn 1.
var YarnInstall = Macro{
	Name:       "yarn_install",
	Doc:        "Copies package.json and yarn.lock alone and runs yarn install --frozen-lockfile (Yarn 1), with Yarn's cache as a cache mount.",
	Attributes: nodeAttributes(),
	Expand:     yarnInstall.expand,
}

var pnpmInstall = nodeMacro{
	lock:       "pnpm-lock.yaml",
	command:    "pnpm install --frozen-lockfile --store-dir /root/.local/share/pnpm/store",
	production: "--prod",
	cache:      model.Mount{Type: "cache", Target: "/root/.local/share/pnpm/store", ID: "pnpm-store", Sharing: "shared"},
}

// PnpmInstall installs a Node.js project's locked dependencies with pnpm.
var PnpmInstall = Macro{
	Name:       "pnpm_install",
	Doc:        "Copies package.json and pnpm-lock.yaml alone and runs pnpm install --frozen-lockfile, with pnpm's store as a cache mount.",
	Attributes: nodeAttributes(),
	Expand:     pnpmInstall.expand,
}

// Go's caches: the defaults of the golang images (GOPATH=/go).
const (
	defaultGoModCache = "/go/pkg/mod"
	goBuildCache      = "/root/.cache/go-build"
)

var modcacheAttribute = MacroAttribute{Name: "modcache", Type: cty.String, Doc: "The module cache directory, GOMODCACHE (default /go/pkg/mod, as in the golang images)."}

func goCaches(modcache string) ([]model.EnvVar, []model.Mount) {
	env := []model.EnvVar{{Name: "GOMODCACHE", Value: modcache}, {Name: "GOCACHE", Value: goBuildCache}}
	mounts := []model.Mount{
		{Type: "cache", Target: modcache, ID: "go-mod", Sharing: "shared"},
		{Type: "cache", Target: goBuildCache, ID: "go-build", Sharing: "shared"},
	}
	return env, mounts
}

// GoModDownload downloads a Go module's dependencies into the module cache.
var GoModDownload = Macro{
	Name: "go_mod_download",
	Doc:  "Copies go.mod and go.sum alone and runs go mod download into a module cache mount shared with go_build.",
	Attributes: []MacroAttribute{
		dirAttribute("/src"),
		srcAttribute,
		modcacheAttribute,
	},
	Expand: expandGoModDownload,
}

func expandGoModDownload(attrs map[string]cty.Value) ([]model.Step, error) {
	var errs argErrors
	dir, src := dirs(attrs, "/src", &errs)
	modcache, err := absPath("modcache", attrString(attrs, "modcache", defaultGoModCache))
	errs.check("modcache", err)
	if err := errs.err(); err != nil {
		return nil, err
	}
	cp, copied := manifestSteps(src, dir, "go.mod", "go.sum")
	env, mounts := goCaches(modcache)
	return []model.Step{cp, &model.Run{
		Command: &model.Sh{Script: "go mod download"},
		Env:     env,
		Workdir: dir,
		Mounts:  mounts,
		Reads:   concat(copied, toolReads),
		// The module cache is a mount: nothing reaches the layer but
		// what go keeps in the user's home (telemetry).
		Writes: concat([]string{modcache}, homeWrites),
	}}, nil
}

// GoBuild compiles Go packages with the module and build caches mounted.
var GoBuild = Macro{
	Name: "go_build",
	Doc:  "Runs go build with the module and build caches as cache mounts, writing one binary.",
	Attributes: []MacroAttribute{
		{Name: "output", Type: cty.String, Required: true, Doc: "The binary to write, an absolute path such as /out/server."},
		{Name: "packages", Type: cty.List(cty.String), Doc: "The packages to build, relative to dir (default [\".\"])."},
		dirAttribute("/src"),
		modcacheAttribute,
		{Name: "cgo", Type: cty.Bool, Doc: "Build with cgo (default false: a static binary that runs FROM scratch)."},
		{Name: "ldflags", Type: cty.String, Doc: "Linker flags (default \"-s -w\": no symbol table or DWARF)."},
	},
	Expand: expandGoBuild,
}

var goPackagePattern = regexp.MustCompile(`^[A-Za-z0-9._/@+-]+(/\.\.\.)?$`)
var ldflagsPattern = regexp.MustCompile(`^[A-Za-z0-9._/=:,+ -]*$`)

func expandGoBuild(attrs map[string]cty.Value) ([]model.Step, error) {
	var errs argErrors
	dir, err := absPath("dir", attrString(attrs, "dir", "/src"))
	errs.check("dir", err)
	modcache, err := absPath("modcache", attrString(attrs, "modcache", defaultGoModCache))
	errs.check("modcache", err)
	output, err := absPath("output", attrString(attrs, "output", ""))
	errs.check("output", err)
	pkgs, err := attrStrings(attrs, "packages")
	errs.check("packages", err)
	if _, set := attrs["packages"]; set && err == nil && !attrs["packages"].IsNull() && len(pkgs) == 0 {
		errs.add("packages", "`packages` is empty; list the packages to build, such as [\"./cmd/server\"]")
	}
	if len(pkgs) == 0 {
		pkgs = []string{"."}
	}
	for _, p := range pkgs {
		if !goPackagePattern.MatchString(p) {
			errs.add("packages", "%q is not a Go package path; write it as ./cmd/server or example.com/m/cmd/server", p)
		}
	}
	ldflags := attrString(attrs, "ldflags", "-s -w")
	if !ldflagsPattern.MatchString(ldflags) {
		errs.add("ldflags", "`ldflags` is %q, which holds quotes or shell characters; use flags such as -s -w -X main.version=1.2.3", ldflags)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	env, mounts := goCaches(modcache)
	cgo := "0"
	if attrBool(attrs, "cgo", false) {
		cgo = "1"
	}
	env = append([]model.EnvVar{{Name: "CGO_ENABLED", Value: cgo}}, env...)
	sh := "go build -trimpath"
	if ldflags != "" {
		sh += " -ldflags='" + ldflags + "'"
	}
	sh += " -o " + output + " " + strings.Join(pkgs, " ")
	return []model.Step{&model.Run{
		Command: &model.Sh{Script: sh},
		Env:     env,
		Workdir: dir,
		Mounts:  mounts,
		Reads:   concat([]string{dir, modcache}, toolReads),
		Writes:  concat([]string{output}, homeWrites),
	}}, nil
}

// CargoFetch downloads a Rust crate's locked dependencies.
var CargoFetch = Macro{
	Name: "cargo_fetch",
	Doc:  "Copies Cargo.toml and Cargo.lock alone and runs cargo fetch --locked, with Cargo's registry and git caches as cache mounts.",
	Attributes: []MacroAttribute{
		dirAttribute("/app"),
		srcAttribute,
		{Name: "cargo_home", Type: cty.String, Doc: "CARGO_HOME (default /usr/local/cargo, as in the rust images)."},
	},
	Expand: expandCargoFetch,
}

func expandCargoFetch(attrs map[string]cty.Value) ([]model.Step, error) {
	var errs argErrors
	dir, src := dirs(attrs, "/app", &errs)
	home, err := absPath("cargo_home", attrString(attrs, "cargo_home", "/usr/local/cargo"))
	errs.check("cargo_home", err)
	if err := errs.err(); err != nil {
		return nil, err
	}
	cp, copied := manifestSteps(src, dir, "Cargo.toml", "Cargo.lock")
	// Cargo refuses a manifest without a target, and the sources are not
	// copied yet: a placeholder src/main.rs stands in for the fetch and is
	// removed in the same step, so it never reaches the layer.
	sh := "if [ -e src ]; then cargo fetch --locked; " +
		"else mkdir src && echo 'fn main() {}' > src/main.rs && { cargo fetch --locked; status=$?; rm -rf src; exit $status; }; fi"
	return []model.Step{cp, &model.Run{
		Command: &model.Sh{Script: sh},
		Env:     []model.EnvVar{{Name: "CARGO_HOME", Value: home}},
		Workdir: dir,
		Mounts: []model.Mount{
			{Type: "cache", Target: path.Join(home, "registry"), ID: "cargo-registry", Sharing: "shared"},
			{Type: "cache", Target: path.Join(home, "git"), ID: "cargo-git", Sharing: "shared"},
		},
		Reads: concat(copied, toolReads),
		// CARGO_HOME whole: besides the mounted registry and git caches,
		// cargo keeps its lock files (.package-cache, .global-cache) there.
		Writes: concat([]string{path.Join(dir, "src"), home}, homeWrites),
	}}, nil
}
