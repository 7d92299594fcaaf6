package model

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/agext/levenshtein"

	"github.com/imgc-dev/imgc/internal/configvalue"
)

// Checks of single values shared by the HCL front end, the Dockerfile
// importer and Check. Each returns an error that states the rule
// and the fix, as a diagnostic's detail.

// knownOS and knownArch are Go's GOOS and GOARCH values (go/build's
// lists), the names OCI platforms use.
var (
	knownOS = []string{
		"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
		"linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos",
	}
	knownArch = []string{
		"386", "amd64", "amd64p32", "arm", "arm64", "arm64be", "armbe", "loong64", "mips",
		"mips64", "mips64le", "mips64p32", "mips64p32le", "mipsle", "ppc", "ppc64", "ppc64le",
		"riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
	}
)

// ValidatePlatform checks a platform "os/arch[/variant]": a known GOOS
// and GOARCH, and a variant of lower-case letters, digits and dots.
func ValidatePlatform(p string) error {
	parts := strings.Split(p, "/")
	if len(parts) < 2 || len(parts) > 3 || !platformPattern.MatchString(p) {
		return fmt.Errorf("%q is not a platform. Write OS/ARCH or OS/ARCH/VARIANT in lower case, for example linux/amd64 or linux/arm64/v8", p)
	}
	if !contains(knownOS, parts[0]) {
		return fmt.Errorf("%q names the operating system %q, which Go and OCI do not know.%s Use a GOOS value such as linux", p, parts[0], Suggestion(parts[0], knownOS, ""))
	}
	if !contains(knownArch, parts[1]) {
		return fmt.Errorf("%q names the architecture %q, which Go and OCI do not know.%s Use a GOARCH value such as amd64 or arm64", p, parts[1], Suggestion(parts[1], knownArch, ""))
	}
	return nil
}

// ValidatePort checks an exposed port: PORT or FIRST-LAST, each from 1 to
// 65535, optionally followed by /tcp, /udp or /sctp.
func ValidatePort(p string) error {
	const how = "Write PORT or FIRST-LAST with ports from 1 to 65535, optionally followed by /tcp, /udp or /sctp, such as 8080/tcp or 8000-8010"
	ports, proto, hasProto := strings.Cut(p, "/")
	if hasProto && proto != "tcp" && proto != "udp" && proto != "sctp" {
		return fmt.Errorf("%q has the protocol %q, which is not tcp, udp or sctp. %s", p, proto, how)
	}
	first, last, isRange := strings.Cut(ports, "-")
	lo, err := portNumber(first)
	if err != nil {
		return fmt.Errorf("%q is not a port: %v. %s", p, err, how)
	}
	if isRange {
		hi, err := portNumber(last)
		if err != nil {
			return fmt.Errorf("%q is not a port range: %v. %s", p, err, how)
		}
		if hi < lo {
			return fmt.Errorf("%q is not a port range: it ends before it starts. %s", p, how)
		}
	}
	return nil
}

func portNumber(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s is outside 1 to 65535", s)
	}
	return n, nil
}

// ValidateStopSignal checks a stop signal as Docker reads it: a signal
// name with or without SIG (any case, RTMIN+N and RTMAX-N included) or a
// number from 1 to 64.
func ValidateStopSignal(s string) error {
	const how = "Use a signal name such as SIGTERM, SIGINT or SIGQUIT (SIG is optional), or a number from 1 to 64"
	if configvalue.Signal(s) {
		return nil
	}
	if s != "" && strings.TrimLeft(s, "0123456789") == "" {
		return fmt.Errorf("%s is not a signal number. %s", s, how)
	}
	var full []string
	for _, n := range configvalue.SignalNames {
		full = append(full, "SIG"+n)
	}
	sug := Suggestion(strings.ToUpper(s), full, "")
	if sug == "" {
		sug = Suggestion(strings.TrimPrefix(strings.ToUpper(s), "SIG"), configvalue.SignalNames, "SIG")
	}
	return fmt.Errorf("%q is not a signal.%s %s", s, sug, how)
}

var platformPattern = regexp.MustCompile(`^[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_.]+)?$`)

// Platform is a parsed "os/arch[/variant]".
type Platform struct {
	OS, Architecture, Variant string
}

// ParsePlatform checks p with ValidatePlatform and splits it. The
// variant every CPU of an architecture has is dropped, as containerd's
// platforms.Normalize (and so BuildKit) drops it: linux/arm64/v8 is
// linux/arm64, linux/amd64/v1 linux/amd64, and matches an index entry
// with or without the variant.
func ParsePlatform(p string) (Platform, error) {
	if err := ValidatePlatform(p); err != nil {
		return Platform{}, err
	}
	parts := strings.Split(p, "/")
	out := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		out.Variant = parts[2]
	}
	switch {
	case out.Architecture == "arm64" && (out.Variant == "v8" || out.Variant == "8" || out.Variant == "v8.0"):
		out.Variant = ""
	case out.Architecture == "amd64" && out.Variant == "v1":
		out.Variant = ""
	}
	return out, nil
}

// DidYouMean returns the candidate closest to name when it is close enough
// to be a likely typo, or "".
func DidYouMean(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// Suggestion is " Did you mean PREFIX+X?" for the closest candidate, or "":
// the one did-you-mean of every diagnostic.
func Suggestion(name string, candidates []string, prefix string) string {
	if s := DidYouMean(name, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", prefix+s)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// MaxID is the largest user or group id imgc accepts: Linux ids are 32
// bits, and 4294967295 is (uid_t)-1, "no id". A larger number must not
// wrap (2^40 would become 0, root).
const MaxID = 1<<32 - 2

// ValidateUser checks the numeric parts of a user given as USER[:GROUP]
// (names are looked up in the image when the step runs).
func ValidateUser(s string) error {
	for _, part := range strings.SplitN(s, ":", 2) {
		if part == "" || strings.Trim(part, "0123456789") != "" {
			continue
		}
		if n, err := strconv.ParseUint(part, 10, 64); err != nil || n > MaxID {
			return fmt.Errorf("the id %s is above %d, the largest user or group id", part, uint64(MaxID))
		}
	}
	return nil
}

// scpRemote is git's scp-like syntax, user@host:path.
var scpRemote = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:/.*$`)

// ValidateGitRemote checks a git source's repository URL: https, http, git
// or ssh, or scp-like user@host:path (never a local path or another
// transport, which git would also run).
func ValidateGitRemote(remote string) error {
	if scpRemote.MatchString(remote) && !strings.Contains(strings.SplitN(remote, ":", 2)[0], "/") {
		return nil
	}
	for _, scheme := range []string{"https://", "http://", "git://", "ssh://"} {
		if rest, ok := strings.CutPrefix(remote, scheme); ok && rest != "" && !strings.HasPrefix(rest, "/") {
			return nil
		}
	}
	return fmt.Errorf("%q is not a git repository URL: give https://HOST/PATH, http://, git://, ssh:// or USER@HOST:PATH", remote)
}

// ValidateGitRef checks a git source's ref and subdirectory: a ref git
// accepts as a name, and a relative subdirectory inside the tree.
func ValidateGitRef(ref, subdir string) error {
	if strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, " ~^:?*[\\") || strings.Contains(ref, "..") {
		return fmt.Errorf("%q is not a git branch, tag or commit: give a name such as main or v1.2, or a full commit id", ref)
	}
	for _, part := range strings.Split(subdir, "/") {
		if part == ".." {
			return fmt.Errorf("the subdirectory %q leaves the repository: give a path inside it", subdir)
		}
	}
	return nil
}

// proxyArgs are BuildKit's predefined proxy build arguments, in any case.
var proxyArgs = []string{"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"}

// IsProxyArg reports whether a build argument is one of BuildKit's
// predefined proxy arguments (HTTP_PROXY, https_proxy, NO_PROXY...): given
// on the command line, it reaches every run step's environment without an
// ARG, and stays out of cache keys and the image.
func IsProxyArg(name string) bool {
	for _, p := range proxyArgs {
		if strings.EqualFold(name, p) {
			return true
		}
	}
	return false
}

// ProxyEnv is the environment the proxy arguments among args (NAME=VALUE)
// give run steps, as BuildKit's: each in upper and lower case
// (HTTP_PROXY and http_proxy), a later argument winning.
func ProxyEnv(args []string) []string {
	vals := map[string]string{}
	for _, a := range args {
		name, v, ok := strings.Cut(a, "=")
		if ok && IsProxyArg(name) {
			vals[strings.ToLower(name)] = v
		}
	}
	var out []string
	for _, p := range proxyArgs {
		if v, ok := vals[p]; ok && v != "" {
			out = append(out, strings.ToUpper(p)+"="+v, p+"="+v)
		}
	}
	return out
}
