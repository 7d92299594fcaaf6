package stdlib

import (
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
)

// OS package macros: apt_install, apk_add and dnf_install. Each is one run
// step as root whose package manager caches and indexes are cache mounts,
// so they persist across builds and never reach the layer: no cleanup
// commands are needed for them.

// systemReads and systemWrites are where a package manager and the
// maintainer scripts it runs may read and write outside its cache mounts:
// the whole system hierarchy, but not the directories applications are
// conventionally copied to (/app, /src, /srv/...). Writes include /home,
// where a package's postinst may create a system user's home. The
// optimizer keeps these steps in order with anything else touching the
// system, and the runtime fails a step that writes elsewhere.
func systemReads() []string {
	return []string{"/bin", "/boot", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/root", "/run", "/sbin", "/tmp", "/usr", "/var"}
}

func systemWrites() []string {
	return []string{"/bin", "/boot", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/root", "/run", "/sbin", "/tmp", "/usr", "/var"}
}

var packagesAttribute = MacroAttribute{Name: "packages", Type: cty.List(cty.String), Required: true}

// AptInstall installs Debian or Ubuntu packages.
var AptInstall = Macro{
	Name: "apt_install",
	Doc:  "Installs Debian or Ubuntu packages with apt-get, keeping apt's caches and package lists out of the layer.",
	Attributes: []MacroAttribute{
		withDoc(packagesAttribute, "Packages to install: NAME, NAME=VERSION or NAME/RELEASE."),
	},
	Expand: expandAptInstall,
}

func expandAptInstall(attrs map[string]cty.Value) ([]model.Step, error) {
	pkgs, err := sortedPackages(attrs, validDebianPackage, "a Debian package (NAME, NAME=VERSION or NAME/RELEASE)")
	if err != nil {
		return nil, err
	}
	return []model.Step{&model.Run{
		Command: &model.Sh{Script: aptCommand(pkgs)},
		Env:     []model.EnvVar{{Name: "DEBIAN_FRONTEND", Value: "noninteractive"}},
		User:    "root",
		Mounts:  aptMounts(),
		Reads:   systemReads(),
		Writes:  systemWrites(),
	}}, nil
}

func aptCommand(pkgs []string) string {
	return "apt-get update && apt-get install -y --no-install-recommends " + strings.Join(pkgs, " ")
}

func aptMounts() []model.Mount {
	return []model.Mount{
		{Type: "cache", Target: "/var/cache/apt", ID: "apt-cache", Sharing: "locked"},
		{Type: "cache", Target: "/var/lib/apt/lists", ID: "apt-lists", Sharing: "locked"},
	}
}

// validDebianPackage accepts NAME, NAME=VERSION and NAME/RELEASE with the
// characters Debian policy allows, which also makes the name safe to place
// in a shell command unquoted.
func validDebianPackage(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && strings.ContainsRune("+-.=:~/", r):
		case i > 0 && r >= 'A' && r <= 'Z':
		default:
			return false
		}
	}
	return true
}

// ApkAdd installs Alpine packages.
var ApkAdd = Macro{
	Name: "apk_add",
	Doc:  "Installs Alpine packages with apk, keeping apk's index and package cache out of the layer.",
	Attributes: []MacroAttribute{
		withDoc(packagesAttribute, "Packages to install: NAME, NAME=VERSION, NAME~VERSION, or NAME@TAG for a tagged repository."),
	},
	Expand: expandApkAdd,
}

func expandApkAdd(attrs map[string]cty.Value) ([]model.Step, error) {
	pkgs, err := sortedPackages(attrs, apkPackagePattern.MatchString, "an Alpine package (NAME, NAME=VERSION, NAME~VERSION or NAME@TAG)")
	if err != nil {
		return nil, err
	}
	return []model.Step{&model.Run{
		Command: &model.Sh{Script: apkCommand(pkgs)},
		User:    "root",
		Mounts:  apkMounts(),
		Reads:   systemReads(),
		Writes:  systemWrites(),
	}}, nil
}

// apkCommand refreshes the index and installs. Not --no-cache: that would
// bypass the cache mounts; with them the index and packages stay out of
// the layer anyway.
func apkCommand(pkgs []string) string {
	return "apk add --update-cache " + strings.Join(pkgs, " ")
}

// apkMounts: apk keeps indexes in /var/cache/apk and, when /etc/apk/cache
// exists (the mount creates it), downloaded packages there.
func apkMounts() []model.Mount {
	return []model.Mount{
		{Type: "cache", Target: "/var/cache/apk", ID: "apk-cache", Sharing: "locked"},
		{Type: "cache", Target: "/etc/apk/cache", ID: "apk-packages", Sharing: "locked"},
	}
}

var apkPackagePattern = regexp.MustCompile(`^[a-z0-9][a-zA-Z0-9+._-]*(@[a-z0-9._-]+)?([=~][A-Za-z0-9+._-]+)?$`)

// DnfInstall installs Fedora, RHEL, CentOS Stream, Rocky or Alma packages.
var DnfInstall = Macro{
	Name: "dnf_install",
	Doc:  "Installs RPM packages with dnf without weak dependencies, keeping dnf's caches and logs out of the layer.",
	Attributes: []MacroAttribute{
		withDoc(packagesAttribute, "Packages to install: NAME or NAME-VERSION[-RELEASE], optionally with .ARCH."),
	},
	Expand: expandDnfInstall,
}

func expandDnfInstall(attrs map[string]cty.Value) ([]model.Step, error) {
	pkgs, err := sortedPackages(attrs, rpmPackagePattern.MatchString, "an RPM package (NAME or NAME-VERSION[-RELEASE][.ARCH])")
	if err != nil {
		return nil, err
	}
	return []model.Step{&model.Run{
		Command: &model.Sh{Script: dnfCommand(pkgs)},
		User:    "root",
		Mounts:  dnfMounts(),
		Reads:   systemReads(),
		Writes:  systemWrites(),
	}}, nil
}

// dnfCommand keeps downloaded packages (keepcache) because its caches are
// cache mounts, which `dnf clean all` would empty for the next build; what
// dnf leaves outside them, its logs, is removed in the same step.
func dnfCommand(pkgs []string) string {
	return "dnf install -y --setopt=install_weak_deps=False --setopt=keepcache=True " + strings.Join(pkgs, " ") +
		" && rm -f /var/log/dnf*.log /var/log/hawkey.log"
}

// dnfMounts covers dnf 4 (/var/cache/dnf) and dnf 5 (/var/cache/libdnf5);
// the mount point of the one a system does not use never reaches a layer.
func dnfMounts() []model.Mount {
	return []model.Mount{
		{Type: "cache", Target: "/var/cache/dnf", ID: "dnf-cache", Sharing: "locked"},
		{Type: "cache", Target: "/var/cache/libdnf5", ID: "libdnf5-cache", Sharing: "locked"},
	}
}

var rpmPackagePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9+._:-]*$`)

// installAny is a shell command that installs pkgs with whichever of
// apt-get, apk and dnf the image has, with the mounts all three need, for
// macros that work on any common distribution.
func installAny(pkgs []string) (sh string, mounts []model.Mount) {
	list := strings.Join(pkgs, " ")
	sh = "if command -v apt-get >/dev/null 2>&1; then " + aptCommand(pkgs) +
		"; elif command -v apk >/dev/null 2>&1; then " + apkCommand(pkgs) +
		"; elif command -v dnf >/dev/null 2>&1; then " + dnfCommand(pkgs) +
		"; else echo 'found no apt-get, apk or dnf to install " + list + " with' >&2; exit 1; fi"
	mounts = append(append(aptMounts(), apkMounts()...), dnfMounts()...)
	return sh, mounts
}

func withDoc(a MacroAttribute, doc string) MacroAttribute {
	a.Doc = doc
	return a
}
