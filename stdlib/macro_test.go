package stdlib

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
)

func list(s ...string) cty.Value {
	vals := make([]cty.Value, len(s))
	for i, v := range s {
		vals[i] = cty.StringVal(v)
	}
	return cty.ListVal(vals)
}

func macroNamed(t *testing.T, name string) Macro {
	t.Helper()
	for _, m := range Macros() {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no macro %q", name)
	return Macro{}
}

// expand fills unset attributes with typed nulls, as the language front
// end does, and expands.
func expand(t *testing.T, name string, attrs map[string]cty.Value) ([]model.Step, error) {
	t.Helper()
	m := macroNamed(t, name)
	full := map[string]cty.Value{}
	for _, a := range m.Attributes {
		full[a.Name] = cty.NullVal(a.Type)
	}
	for k, v := range attrs {
		if _, ok := full[k]; !ok {
			t.Fatalf("%s has no attribute %q", name, k)
		}
		full[k] = v
	}
	return m.Expand(full)
}

var (
	aptMountsWant = []model.Mount{
		{Type: "cache", Target: "/var/cache/apt", ID: "apt-cache", Sharing: "locked"},
		{Type: "cache", Target: "/var/lib/apt/lists", ID: "apt-lists", Sharing: "locked"},
	}
	apkMountsWant = []model.Mount{
		{Type: "cache", Target: "/var/cache/apk", ID: "apk-cache", Sharing: "locked"},
		{Type: "cache", Target: "/etc/apk/cache", ID: "apk-packages", Sharing: "locked"},
	}
	dnfMountsWant = []model.Mount{
		{Type: "cache", Target: "/var/cache/dnf", ID: "dnf-cache", Sharing: "locked"},
		{Type: "cache", Target: "/var/cache/libdnf5", ID: "libdnf5-cache", Sharing: "locked"},
	}
	sysReads  = []string{"/bin", "/boot", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/root", "/run", "/sbin", "/tmp", "/usr", "/var"}
	sysWrites = []string{"/bin", "/boot", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/root", "/run", "/sbin", "/tmp", "/usr", "/var"}
	goEnv     = []model.EnvVar{{Name: "GOMODCACHE", Value: "/go/pkg/mod"}, {Name: "GOCACHE", Value: "/root/.cache/go-build"}}
	goMounts  = []model.Mount{{Type: "cache", Target: "/go/pkg/mod", ID: "go-mod", Sharing: "shared"}, {Type: "cache", Target: "/root/.cache/go-build", ID: "go-build", Sharing: "shared"}}
	homeTmp   = []string{"/root", "/home", "/tmp"}
	debianEnv = []model.EnvVar{{Name: "DEBIAN_FRONTEND", Value: "noninteractive"}}
)

func TestMacroExpansions(t *testing.T) {
	anyInstall := func(pkg string) string {
		return "if command -v apt-get >/dev/null 2>&1; then apt-get update && apt-get install -y --no-install-recommends " + pkg +
			"; elif command -v apk >/dev/null 2>&1; then apk add --update-cache " + pkg +
			"; elif command -v dnf >/dev/null 2>&1; then dnf install -y --setopt=install_weak_deps=False --setopt=keepcache=True " + pkg + " && rm -f /var/log/dnf*.log /var/log/hawkey.log" +
			"; else echo 'found no apt-get, apk or dnf to install " + pkg + " with' >&2; exit 1; fi"
	}
	allMounts := append(append(append([]model.Mount(nil), aptMountsWant...), apkMountsWant...), dnfMountsWant...)
	tests := []struct {
		name  string
		macro string
		attrs map[string]cty.Value
		want  []model.Step
	}{
		{
			name:  "apt sorted, deduplicated, pinned",
			macro: "apt_install",
			attrs: map[string]cty.Value{"packages": list("curl", "ca-certificates", "git=1:2.39.2-1.1", "curl", "libssl3/bookworm-backports")},
			want: []model.Step{&model.Run{
				Command: &model.Sh{Script: "apt-get update && apt-get install -y --no-install-recommends ca-certificates curl git=1:2.39.2-1.1 libssl3/bookworm-backports"},
				Env:     debianEnv,
				User:    "root",
				Mounts:  aptMountsWant,
				Reads:   sysReads, Writes: sysWrites,
			}},
		},
		{
			name:  "apk with versions and a tagged repository",
			macro: "apk_add",
			attrs: map[string]cty.Value{"packages": list("tzdata", "curl=8.5.0-r0", "edge-tool@testing", "musl~1.2")},
			want: []model.Step{&model.Run{Command: &model.Sh{Script: "apk add --update-cache curl=8.5.0-r0 edge-tool@testing musl~1.2 tzdata"},
				User: "root", Mounts: apkMountsWant, Reads: sysReads, Writes: sysWrites,
			}},
		},
		{
			name:  "dnf without weak dependencies, logs cleaned",
			macro: "dnf_install",
			attrs: map[string]cty.Value{"packages": list("httpd-2.4.57-5.fc39", "python3.11", "gcc-c++")},
			want: []model.Step{&model.Run{Command: &model.Sh{Script: "dnf install -y --setopt=install_weak_deps=False --setopt=keepcache=True gcc-c++ httpd-2.4.57-5.fc39 python3.11 && rm -f /var/log/dnf*.log /var/log/hawkey.log"},
				User: "root", Mounts: dnfMountsWant, Reads: sysReads, Writes: sysWrites,
			}},
		},
		{
			name:  "pip defaults",
			macro: "pip_install",
			want: []model.Step{
				&model.Copy{FileSpec: model.FileSpec{Src: []string{"requirements.txt"}, Dest: "/app/"}},
				&model.Run{
					Command: &model.Sh{Script: "python3 -m pip install -r /app/requirements.txt"},
					Env:     []model.EnvVar{{Name: "PIP_DISABLE_PIP_VERSION_CHECK", Value: "1"}, {Name: "PIP_ROOT_USER_ACTION", Value: "ignore"}},
					Mounts:  []model.Mount{{Type: "cache", Target: "/root/.cache/pip", ID: "pip-cache", Sharing: "shared"}},
					Reads:   []string{"/app/requirements.txt", "/etc", "/usr"},
					Writes:  []string{"/usr", "/root", "/home", "/tmp"},
				},
			},
		},
		{
			name:  "pip into a virtual environment",
			macro: "pip_install",
			attrs: map[string]cty.Value{"requirements": cty.StringVal("deps/prod.txt"), "dest": cty.StringVal("/opt/src/"), "venv": cty.StringVal("/opt/venv"), "python": cty.StringVal("python3.12")},
			want: []model.Step{
				&model.Copy{FileSpec: model.FileSpec{Src: []string{"deps/prod.txt"}, Dest: "/opt/src/"}},
				&model.Run{
					Command: &model.Sh{Script: "python3.12 -m venv /opt/venv && /opt/venv/bin/pip install -r /opt/src/prod.txt"},
					Env:     []model.EnvVar{{Name: "PIP_DISABLE_PIP_VERSION_CHECK", Value: "1"}, {Name: "PIP_ROOT_USER_ACTION", Value: "ignore"}},
					Mounts:  []model.Mount{{Type: "cache", Target: "/root/.cache/pip", ID: "pip-cache", Sharing: "shared"}},
					Reads:   []string{"/opt/src/prod.txt", "/etc", "/usr", "/opt/venv"},
					Writes:  []string{"/opt/venv", "/root", "/home", "/tmp"},
				},
			},
		},
		{
			name:  "npm ci production",
			macro: "npm_ci",
			attrs: map[string]cty.Value{"dir": cty.StringVal("/srv/web"), "src": cty.StringVal("web"), "production": cty.True},
			want: []model.Step{
				&model.Copy{FileSpec: model.FileSpec{Src: []string{"web/package.json", "web/package-lock.json"}, Dest: "/srv/web/"}},
				&model.Run{
					Command: &model.Sh{Script: "npm ci --no-audit --no-fund --omit=dev"},
					Env:     []model.EnvVar{{Name: "NPM_CONFIG_UPDATE_NOTIFIER", Value: "false"}},
					Workdir: "/srv/web",
					Mounts:  []model.Mount{{Type: "cache", Target: "/root/.npm", ID: "npm-cache", Sharing: "shared"}},
					Reads:   []string{"/srv/web/package.json", "/srv/web/package-lock.json", "/etc", "/usr"},
					Writes:  []string{"/srv/web/node_modules", "/root", "/home", "/tmp"},
				},
			},
		},
		{
			name:  "npm ci defaults keep dev dependencies",
			macro: "npm_ci",
			want: []model.Step{
				&model.Copy{FileSpec: model.FileSpec{Src: []string{"package.json", "package-lock.json"}, Dest: "/app/"}},
				&model.Run{Command: &model.Sh{Script: "npm ci --no-audit --no-fund"}, Env: []model.EnvVar{{Name: "NPM_CONFIG_UPDATE_NOTIFIER", Value: "false"}}, Workdir: "/app",
					Mounts: []model.Mount{{Type: "cache", Target: "/root/.npm", ID: "npm-cache", Sharing: "shared"}},
					Reads:  []string{"/app/package.json", "/app/package-lock.json", "/etc", "/usr"},
					Writes: []string{"/app/node_modules", "/root", "/home", "/tmp"},
				},
			},
		},
		{
			name:  "yarn production",
			macro: "yarn_install",
			attrs: map[string]cty.Value{"production": cty.True},
			want: []model.Step{
				&model.Copy{FileSpec: model.FileSpec{Src: []string{"package.json", "yarn.lock"}, Dest: "/app/"}},
				&model.Run{Command: &model.Sh{Script: "yarn install --frozen-lockfile --non-interactive --production"},
					Env:     []model.EnvVar{{Name: "YARN_CACHE_FOLDER", Value: "/usr/local/share/.cache/yarn"}},
					Workdir: "/app",
					Mounts:  []model.Mount{{Type: "cache", Target: "/usr/local/share/.cache/yarn", ID: "yarn-cache", Sharing: "shared"}},
					Reads:   []string{"/app/package.json", "/app/yarn.lock", "/etc", "/usr"},
					Writes:  []string{"/app/node_modules", "/usr/local/share/.config/yarn", "/usr/local/share/.yarnrc", "/root", "/home", "/tmp"},
				},
			},
		},
		{
			name:  "pnpm production",
			macro: "pnpm_install",
			attrs: map[string]cty.Value{"production": cty.True},
			want: []model.Step{
				&model.Copy{FileSpec: model.FileSpec{Src: []string{"package.json", "pnpm-lock.yaml"}, Dest: "/app/"}},
				&model.Run{Command: &model.Sh{Script: "pnpm install --frozen-lockfile --store-dir /root/.local/share/pnpm/store --prod"},
					Workdir: "/app",
					Mounts:  []model.Mount{{Type: "cache", Target: "/root/.local/share/pnpm/store", ID: "pnpm-store", Sharing: "shared"}},
					Reads:   []string{"/app/package.json", "/app/pnpm-lock.yaml", "/etc", "/usr"},
					Writes:  []string{"/app/node_modules", "/root", "/home", "/tmp"},
				},
			},
		},
		{
			name:  "go mod download",
			macro: "go_mod_download",
			want: []model.Step{
				&model.Copy{FileSpec: model.FileSpec{Src: []string{"go.mod", "go.sum"}, Dest: "/src/"}},
				&model.Run{Command: &model.Sh{Script: "go mod download"}, Env: goEnv, Workdir: "/src", Mounts: goMounts,
					Reads:  []string{"/src/go.mod", "/src/go.sum", "/etc", "/usr"},
					Writes: append([]string{"/go/pkg/mod"}, homeTmp...),
				},
			},
		},
		{
			name:  "go build static by default",
			macro: "go_build",
			attrs: map[string]cty.Value{"output": cty.StringVal("/out/server"), "packages": list("./cmd/server"), "ldflags": cty.StringVal("-s -w -X main.version=1.2.3")},
			want: []model.Step{&model.Run{Command: &model.Sh{Script: "go build -trimpath -ldflags='-s -w -X main.version=1.2.3' -o /out/server ./cmd/server"},
				Env: append([]model.EnvVar{{Name: "CGO_ENABLED", Value: "0"}}, goEnv...), Workdir: "/src", Mounts: goMounts,
				Reads:  []string{"/src", "/go/pkg/mod", "/etc", "/usr"},
				Writes: append([]string{"/out/server"}, homeTmp...),
			}},
		},
		{
			name:  "go build with cgo, no ldflags",
			macro: "go_build",
			attrs: map[string]cty.Value{"output": cty.StringVal("/bin/app"), "cgo": cty.True, "ldflags": cty.StringVal(""), "dir": cty.StringVal("/w"), "modcache": cty.StringVal("/root/go/pkg/mod")},
			want: []model.Step{&model.Run{Command: &model.Sh{Script: "go build -trimpath -o /bin/app ."},
				Env:     []model.EnvVar{{Name: "CGO_ENABLED", Value: "1"}, {Name: "GOMODCACHE", Value: "/root/go/pkg/mod"}, {Name: "GOCACHE", Value: "/root/.cache/go-build"}},
				Workdir: "/w",
				Mounts:  []model.Mount{{Type: "cache", Target: "/root/go/pkg/mod", ID: "go-mod", Sharing: "shared"}, {Type: "cache", Target: "/root/.cache/go-build", ID: "go-build", Sharing: "shared"}},
				Reads:   []string{"/w", "/root/go/pkg/mod", "/etc", "/usr"},
				Writes:  append([]string{"/bin/app"}, homeTmp...),
			}},
		},
		{
			name:  "cargo fetch",
			macro: "cargo_fetch",
			want: []model.Step{
				&model.Copy{FileSpec: model.FileSpec{Src: []string{"Cargo.toml", "Cargo.lock"}, Dest: "/app/"}},
				&model.Run{
					Command: &model.Sh{Script: "if [ -e src ]; then cargo fetch --locked; else mkdir src && echo 'fn main() {}' > src/main.rs && { cargo fetch --locked; status=$?; rm -rf src; exit $status; }; fi"},
					Env:     []model.EnvVar{{Name: "CARGO_HOME", Value: "/usr/local/cargo"}},
					Workdir: "/app",
					Mounts: []model.Mount{
						{Type: "cache", Target: "/usr/local/cargo/registry", ID: "cargo-registry", Sharing: "shared"},
						{Type: "cache", Target: "/usr/local/cargo/git", ID: "cargo-git", Sharing: "shared"},
					},
					Reads:  []string{"/app/Cargo.toml", "/app/Cargo.lock", "/etc", "/usr"},
					Writes: []string{"/app/src", "/usr/local/cargo", "/root", "/home", "/tmp"},
				},
			},
		},
		{
			name:  "user with ids",
			macro: "user",
			attrs: map[string]cty.Value{"name": cty.StringVal("app"), "uid": cty.NumberIntVal(1000), "gid": cty.NumberIntVal(1000), "home": cty.StringVal("/home/app")},
			want: []model.Step{&model.Run{
				Command: &model.Sh{Script: `if ! grep -q '^[^:]*:[^:]*:1000:' /etc/group; then if command -v groupadd >/dev/null 2>&1; then groupadd -g 1000 app; elif command -v addgroup >/dev/null 2>&1; then addgroup -g 1000 app; else echo 'app:x:1000:' >> /etc/group; fi; fi` +
					` && group=$(awk -F: '$3 == 1000 { print $1; exit }' /etc/group)` +
					` && if command -v useradd >/dev/null 2>&1; then useradd -l -m -d /home/app -s /bin/sh -u 1000 -g "$group" app; elif command -v adduser >/dev/null 2>&1; then adduser -D -h /home/app -s /bin/sh -u 1000 -G "$group" app;` +
					` else uid=1000 && gid=1000 && echo "app:x:$uid:$gid::/home/app:/bin/sh" >> /etc/passwd && if [ -f /etc/shadow ]; then echo 'app:!:::::::' >> /etc/shadow; fi && mkdir -p /home/app && chown $uid:$gid /home/app; fi`},
				User:   "root",
				Reads:  []string{"/bin", "/etc", "/sbin", "/usr"},
				Writes: []string{"/etc", "/var/log", "/var/mail", "/var/spool/mail", "/home/app"},
			}},
		},
		{
			name:  "user with a uid only takes it as gid",
			macro: "user",
			attrs: map[string]cty.Value{"name": cty.StringVal("svc"), "uid": cty.NumberIntVal(10001), "home": cty.StringVal("/var/lib/svc"), "shell": cty.StringVal("/sbin/nologin")},
			want: []model.Step{&model.Run{
				Command: &model.Sh{Script: `if ! grep -q '^[^:]*:[^:]*:10001:' /etc/group; then if command -v groupadd >/dev/null 2>&1; then groupadd -g 10001 svc; elif command -v addgroup >/dev/null 2>&1; then addgroup -g 10001 svc; else echo 'svc:x:10001:' >> /etc/group; fi; fi` +
					` && group=$(awk -F: '$3 == 10001 { print $1; exit }' /etc/group)` +
					` && if command -v useradd >/dev/null 2>&1; then useradd -l -m -d /var/lib/svc -s /sbin/nologin -u 10001 -g "$group" svc; elif command -v adduser >/dev/null 2>&1; then adduser -D -h /var/lib/svc -s /sbin/nologin -u 10001 -G "$group" svc;` +
					` else uid=10001 && gid=10001 && echo "svc:x:$uid:$gid::/var/lib/svc:/sbin/nologin" >> /etc/passwd && if [ -f /etc/shadow ]; then echo 'svc:!:::::::' >> /etc/shadow; fi && mkdir -p /var/lib/svc && chown $uid:$gid /var/lib/svc; fi`},
				User:   "root",
				Reads:  []string{"/bin", "/etc", "/sbin", "/usr"},
				Writes: []string{"/etc", "/var/log", "/var/mail", "/var/spool/mail", "/var/lib/svc"},
			}},
		},
		{
			name:  "user without ids",
			macro: "user",
			attrs: map[string]cty.Value{"name": cty.StringVal("app")},
			want: []model.Step{&model.Run{
				Command: &model.Sh{Script: `if command -v useradd >/dev/null 2>&1; then useradd -l -m -U -d /home/app -s /bin/sh app; elif command -v adduser >/dev/null 2>&1; then adduser -D -h /home/app -s /bin/sh app;` +
					` else uid=$(awk -F: '$3 >= 1000 && $3 < 60000 && $3 >= m { m = $3 + 1 } END { print (m ? m : 1000) }' /etc/passwd) && gid=$uid && echo "app:x:$gid:" >> /etc/group` +
					` && echo "app:x:$uid:$gid::/home/app:/bin/sh" >> /etc/passwd && if [ -f /etc/shadow ]; then echo 'app:!:::::::' >> /etc/shadow; fi && mkdir -p /home/app && chown $uid:$gid /home/app; fi`},
				User:   "root",
				Reads:  []string{"/bin", "/etc", "/sbin", "/usr"},
				Writes: []string{"/etc", "/var/log", "/var/mail", "/var/spool/mail", "/home/app"},
			}},
		},
		{
			name:  "ca certificates with any package manager",
			macro: "ca_certificates",
			want: []model.Step{&model.Run{Command: &model.Sh{Script: anyInstall("ca-certificates")}, Env: debianEnv, User: "root",
				Mounts: allMounts, Reads: sysReads, Writes: sysWrites,
			}},
		},
		{
			name:  "timezone installs tzdata",
			macro: "timezone",
			attrs: map[string]cty.Value{"zone": cty.StringVal("Europe/Berlin")},
			want: []model.Step{&model.Run{
				Command: &model.Sh{Script: "{ " + anyInstall("tzdata") + "; } && if [ ! -f /usr/share/zoneinfo/Europe/Berlin ]; then echo 'time zone Europe/Berlin is not in /usr/share/zoneinfo' >&2; exit 1; fi" +
					" && ln -sf /usr/share/zoneinfo/Europe/Berlin /etc/localtime && echo Europe/Berlin > /etc/timezone"},
				Env: debianEnv, User: "root", Mounts: allMounts, Reads: sysReads, Writes: sysWrites,
			}},
		},
		{
			name:  "timezone without install",
			macro: "timezone",
			attrs: map[string]cty.Value{"zone": cty.StringVal("UTC"), "install": cty.False},
			want: []model.Step{&model.Run{
				Command: &model.Sh{Script: "if [ ! -f /usr/share/zoneinfo/UTC ]; then echo 'time zone UTC is not in /usr/share/zoneinfo' >&2; exit 1; fi" +
					" && ln -sf /usr/share/zoneinfo/UTC /etc/localtime && echo UTC > /etc/timezone"},
				User:   "root",
				Reads:  []string{"/usr/share/zoneinfo"},
				Writes: []string{"/etc/localtime", "/etc/timezone"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := expand(t, tt.macro, tt.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("expansion (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMacroErrors(t *testing.T) {
	tests := []struct {
		macro string
		attrs map[string]cty.Value
		want  string // a substring of the error
	}{
		{"apt_install", map[string]cty.Value{"packages": cty.ListValEmpty(cty.String)}, "`packages` is empty"},
		{"apt_install", map[string]cty.Value{"packages": list("curl; rm -rf /")}, `"curl; rm -rf /" is not a Debian package`},
		{"apt_install", map[string]cty.Value{"packages": list("-y")}, `"-y" is not a Debian package`},
		{"apt_install", map[string]cty.Value{"packages": cty.ListVal([]cty.Value{cty.NullVal(cty.String)})}, "null element"},
		{"apk_add", map[string]cty.Value{"packages": list("curl>8")}, `"curl>8" is not an Alpine package`},
		{"apk_add", map[string]cty.Value{"packages": list("Curl")}, `"Curl" is not an Alpine package`},
		{"dnf_install", map[string]cty.Value{"packages": list("@development-tools")}, `"@development-tools" is not an RPM package`},
		{"dnf_install", map[string]cty.Value{"packages": list("gcc $(id)")}, "is not an RPM package"},
		{"pip_install", map[string]cty.Value{"requirements": cty.StringVal("../requirements.txt")}, "leaves the build context"},
		{"pip_install", map[string]cty.Value{"requirements": cty.StringVal("/requirements.txt")}, "is absolute"},
		{"pip_install", map[string]cty.Value{"requirements": cty.StringVal("req*.txt")}, "glob or shell characters"},
		{"pip_install", map[string]cty.Value{"requirements": cty.StringVal(".")}, "names the context directory"},
		{"pip_install", map[string]cty.Value{"dest": cty.StringVal("app")}, "`dest` is \"app\", which is not an absolute path"},
		{"pip_install", map[string]cty.Value{"venv": cty.StringVal("/")}, "`venv` is the root directory"},
		{"pip_install", map[string]cty.Value{"python": cty.StringVal("python3 -I")}, "not a plain command"},
		{"npm_ci", map[string]cty.Value{"dir": cty.StringVal("/my app")}, "holds characters a macro cannot place"},
		{"npm_ci", map[string]cty.Value{"src": cty.StringVal("")}, "`src` is empty"},
		{"yarn_install", map[string]cty.Value{"dir": cty.StringVal("relative")}, "not an absolute path"},
		{"pnpm_install", map[string]cty.Value{"src": cty.StringVal("web/../..")}, "leaves the build context"},
		{"go_mod_download", map[string]cty.Value{"modcache": cty.StringVal("go/pkg/mod")}, "modcache"},
		{"go_build", nil, "`output` is \"\", which is not an absolute path"},
		{"go_build", map[string]cty.Value{"output": cty.StringVal("/out/x"), "packages": cty.ListValEmpty(cty.String)}, "`packages` is empty"},
		{"go_build", map[string]cty.Value{"output": cty.StringVal("/out/x"), "packages": list("./cmd; reboot")}, "is not a Go package path"},
		{"go_build", map[string]cty.Value{"output": cty.StringVal("/out/x"), "ldflags": cty.StringVal("-X 'main.v=1'")}, "ldflags"},
		{"cargo_fetch", map[string]cty.Value{"cargo_home": cty.StringVal("~/.cargo")}, "cargo_home"},
		{"user", map[string]cty.Value{"name": cty.StringVal("App User")}, "is not a portable user name"},
		{"user", map[string]cty.Value{"name": cty.StringVal("1app")}, "is not a portable user name"},
		{"user", map[string]cty.Value{"name": cty.StringVal("app"), "uid": cty.NumberFloatVal(1.5)}, "`uid` is 1.5, which is not a whole number"},
		{"user", map[string]cty.Value{"name": cty.StringVal("app"), "gid": cty.NumberIntVal(-1)}, "`gid` is -1"},
		{"user", map[string]cty.Value{"name": cty.StringVal("app"), "home": cty.StringVal("home/app")}, "home"},
		{"timezone", map[string]cty.Value{"zone": cty.StringVal("../../etc/passwd")}, "is not an IANA time zone name"},
		{"timezone", map[string]cty.Value{"zone": cty.StringVal("Europe/Berlin; id")}, "is not an IANA time zone name"},
	}
	for _, tt := range tests {
		t.Run(tt.macro+"/"+tt.want, func(t *testing.T) {
			steps, err := expand(t, tt.macro, tt.attrs)
			if err == nil {
				t.Fatalf("no error; expanded to %+v", steps)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if msg := err.Error(); strings.HasPrefix(msg, "failed") || msg != strings.TrimSuffix(msg, ".") {
				t.Errorf("error %q: errors start lower case without \"failed\" and end without a period", msg)
			}
			if !strings.Contains(err.Error(), "; ") {
				t.Errorf("error %q says no fix: the rule, then \"; \" and what to do", err)
			}
		})
	}
}

// TestMacrosAreWellFormed keeps every macro and attribute named and
// documented: docs/stdlib.md is written from them.
func TestMacrosAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Macros() {
		if seen[m.Name] {
			t.Errorf("macro %s is registered twice", m.Name)
		}
		seen[m.Name] = true
		if m.Doc == "" || !strings.HasSuffix(m.Doc, ".") {
			t.Errorf("macro %s: Doc %q is not a sentence", m.Name, m.Doc)
		}
		for _, a := range m.Attributes {
			if a.Doc == "" {
				t.Errorf("macro %s: attribute %s has no Doc", m.Name, a.Name)
			}
			if !hclsyntax.ValidIdentifier(a.Name) || a.Type == cty.NilType {
				t.Errorf("macro %s: attribute %q needs an identifier name and a type", m.Name, a.Name)
			}
		}
		if m.Expand == nil {
			t.Errorf("macro %s has no Expand", m.Name)
		}
	}
}

// TestDocsCoverStdlib keeps docs/stdlib.md complete: every macro has a
// section and every attribute and function is mentioned.
func TestDocsCoverStdlib(t *testing.T) {
	b, err := os.ReadFile("../docs/stdlib.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, m := range Macros() {
		if !strings.Contains(doc, "\n### "+m.Name+"\n") {
			t.Errorf("docs/stdlib.md has no section for the macro %s", m.Name)
		}
		for _, a := range m.Attributes {
			if !strings.Contains(doc, a.Name) {
				t.Errorf("docs/stdlib.md does not mention %s's attribute %s", m.Name, a.Name)
			}
		}
	}
	for name := range Functions(t.TempDir()) {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/stdlib.md does not mention the function %s", name)
		}
	}
}
