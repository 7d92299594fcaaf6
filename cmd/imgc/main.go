// Command imgc builds container images from .image.hcl configurations and
// Dockerfiles. This package only wires the CLI: parsing flags, rendering
// diagnostics and progress, and choosing exit codes.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/store"
)

// Exit statuses, as the CLI contract fixes them.
const (
	exitOK       = 0
	exitFailed   = 1 // a build step failed
	exitBadInput = 2 // the configuration or the command line is wrong
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

type cli struct {
	Build    buildCmd    `cmd:"" help:"Build images from a configuration or a Dockerfile."`
	Plan     planCmd     `cmd:"" help:"Show every layer, its cache key, and whether it will be rebuilt and why."`
	Validate validateCmd `cmd:"" help:"Check a configuration alone (no variable values, build context or base needed) and report every error."`
	Fmt      fmtCmd      `cmd:"" help:"Rewrite .image.hcl files in canonical format."`
	Convert  convertCmd  `cmd:"" help:"Convert a Dockerfile into an .image.hcl configuration."`
	Images   imagesCmd   `cmd:"" help:"List the images in imgc's local store."`
	History  historyCmd  `cmd:"" help:"Show an image's layers with their sizes and the source line that made each."`
	Inspect  inspectCmd  `cmd:"" help:"Print an image's manifest and config (env, entrypoint, labels, healthcheck...) as JSON."`
	Tag      tagCmd      `cmd:"" help:"Give an image in the local store another name, like docker tag."`
	Rmi      rmiCmd      `cmd:"" help:"Remove images from the local store, like docker rmi."`
	Pull     pullCmd     `cmd:"" help:"Copy an image from a registry into the local store and print its digest."`
	Load     loadCmd     `cmd:"" help:"Read a docker archive (docker save) or an OCI layout archive into the local store."`
	Save     saveCmd     `cmd:"" help:"Write an image from the local store as a docker-loadable tarball."`
	Push     pushCmd     `cmd:"" help:"Push an image from the local store to a registry."`
	Login    loginCmd    `cmd:"" help:"Save credentials for a registry in Docker's config.json, which docker and other tools share."`
	Logout   logoutCmd   `cmd:"" help:"Remove a registry's credentials from Docker's config.json."`
	Run      runCmd      `cmd:"" help:"Run an image from the local store once with runc, like docker run --rm."`
	Cache    cacheCmd    `cmd:"" help:"Inspect and prune the build cache."`
	Version  versionCmd  `cmd:"" help:"Print imgc's version."`

	VersionFlag      kong.VersionFlag `name:"version" help:"Print imgc's version and exit."`
	InsecureRegistry []string         `name:"insecure-registry" sep:"none" placeholder:"HOST[:PORT]" help:"Reach this registry over plain HTTP or HTTPS without certificate checks (repeatable; see also the registries file in docs/cli.md)."`
	NoColor          bool             `name:"no-color" help:"Print diagnostics and progress without colours or live redraws, as terraform -no-color (also $NO_COLOR)."`
}

// env is what every command runs with; tests swap the streams.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	// tty is true when stderr is a terminal: colour and live progress.
	tty bool
	// sshAgents are build's --ssh agents, which git sources use too.
	sshAgents map[string]string
}

// exitError carries an exit status for errors already reported to the user.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	// imgc is a short-lived process that allocates most of what it needs up
	// front (parsed files, plans): collecting garbage less often saves more
	// time than the memory it costs.
	debug.SetGCPercent(400)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	code := run(os.Args[1:], flushingWriter{out}, os.Stderr)
	out.Flush()
	os.Exit(code)
}

// flushingWriter is stdout, buffered: plans and listings are written in many
// small pieces. Commands that stream (imgc run) flush it and write to
// os.Stdout directly.
type flushingWriter struct{ *bufio.Writer }

// streaming returns w unbuffered, for output that must appear as it comes.
func streaming(w io.Writer) io.Writer {
	if f, ok := w.(flushingWriter); ok {
		f.Flush()
		return os.Stdout
	}
	return w
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "imgc: internal error: %v\nThis is a bug in imgc, not in your configuration; please report it with the output of `imgc version`.\n", r)
			if os.Getenv("IMGC_DEBUG") != "" {
				fmt.Fprintf(stderr, "%s\n", debug.Stack())
			}
			code = exitFailed
		}
	}()

	// IMGC_CPUPROFILE=FILE writes a CPU profile of the run, for performance work.
	if path := os.Getenv("IMGC_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	// IMGC_MEMPROFILE=FILE writes a profile of every allocation the run made.
	if path := os.Getenv("IMGC_MEMPROFILE"); path != "" {
		runtime.MemProfileRate = 512
		defer func() {
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var c cli
	parser, err := kong.New(&c,
		kong.Name("imgc"),
		kong.Description("imgc builds container images from .image.hcl configurations and Dockerfiles, and tells you what rebuilds and why."),
		kong.Writers(stdout, stderr),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Exit(func(int) { panic(kongExit{}) }),
		kong.Vars{"passes": optionalPasses(), "version": "imgc " + versionString()},
	)
	if err != nil {
		panic(err)
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, tty: isTerminal(stderr)}
	if msg := unknownCommand(parser, args); msg != "" {
		fmt.Fprintln(stderr, msg)
		return exitBadInput
	}
	spelled, misspelt := terraformSpellings(parser, runArgs(parser, args))
	kctx, err := parseArgs(parser, spelled)
	if err != nil {
		return e.parseError(err, args, misspelt)
	}
	if c.NoColor || os.Getenv("NO_COLOR") != "" {
		e.tty = false
	}
	kctx.Bind(e)
	rs, err := imageio.ReadRegistrySettings(imageio.RegistriesFile())
	if err != nil {
		fmt.Fprintf(stderr, "imgc: %v\n", err)
		return exitBadInput
	}
	imageio.SetInsecureRegistries(append(rs.InsecureRegistries, c.InsecureRegistry...))
	if err := kctx.Run(e); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "imgc: %v\n", err)
			return exitBadInput
		}
		fmt.Fprintf(stderr, "imgc: %v\n", registryError(err))
		var noImage *store.NoImageError
		if errors.As(err, &noImage) {
			return exitBadInput // a wrong name on the command line
		}
		return exitFailed
	}
	return exitOK
}

// optionalPasses names the optimizer passes --pass can turn off.
func optionalPasses() string {
	var names []string
	for _, p := range compiler.Passes() {
		if !p.Required {
			names = append(names, p.Name+" ("+p.Level+")")
		}
	}
	return strings.Join(names, ", ")
}

// unknownCommand explains a first argument that names no command, which
// kong would only call an unexpected argument.
func unknownCommand(p *kong.Kong, args []string) string {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return ""
	}
	var names []string
	for _, n := range p.Model.Node.Children {
		if n.Name == args[0] {
			return ""
		}
		names = append(names, n.Name)
	}
	return fmt.Sprintf("imgc: unknown command %q; the commands are %s (see imgc --help)", args[0], strings.Join(names, ", "))
}

// terraformSpellings accepts Terraform's one-dash flags where Terraform
// users type them (imgc plan -out FILE -detailed-exitcode -var NAME=VALUE
// -var-file FILE -target NAME, imgc fmt -check -diff), by giving a word
// of one dash that names one of the command's long flags its second dash.
// Without it, -target would read as -t arget: a tag. misspelt is, for a
// word of one dash that names no long flag but is close to one
// (-detailed-exitcodes), the word, a NUL and what to say when the
// arguments do not parse because of it.
func terraformSpellings(p *kong.Kong, args []string) (out []string, misspelt string) {
	node := p.Model.Node
	long := map[string]bool{}
	for _, f := range node.Flags {
		long[f.Name] = true
	}
	for _, a := range args {
		var next *kong.Node
		for _, n := range node.Children {
			if n.Name == a || slices.Contains(n.Aliases, a) {
				next = n
			}
		}
		if next == nil {
			break
		}
		node = next
		for _, f := range node.Flags {
			long[f.Name] = true
		}
	}
	out = slices.Clone(args)
	for i, a := range out {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(a, "=")
		if len(name) > 2 && name[0] == '-' && name[1] != '-' && long[name[1:]] {
			out[i] = "-" + a
			continue
		}
		if len(name) > 3 && name[0] == '-' && name[1] != '-' && misspelt == "" {
			if s := model.DidYouMean(name[1:], slices.Sorted(maps.Keys(long))); s != "" {
				misspelt = name + "\x00" + fmt.Sprintf("unknown flag %s, did you mean -%s?", name, s)
			}
		}
	}
	return out, misspelt
}

// kongExit is how --help ends parsing without os.Exit, so run stays testable.
type kongExit struct{}

func (kongExit) Error() string { return "exit" }

func parseArgs(p *kong.Kong, args []string) (kctx *kong.Context, err error) {
	defer func() {
		if r := recover(); r != nil {
			if ke, ok := r.(kongExit); ok {
				err = ke
				return
			}
			panic(r)
		}
	}()
	return p.Parse(args)
}

func isTerminal(w io.Writer) bool {
	if _, ok := w.(flushingWriter); ok {
		w = os.Stdout
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	fmt.Fprintf(e.stdout, "imgc %s\n", versionString())
	return nil
}

// versionString is the link-time version, else the module's.
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return v
}

// parseError reports a command line kong could not parse, and returns the
// exit status: misspelt is terraformSpellings' word and message.
func (e *env) parseError(err error, args []string, misspelt string) int {
	var ke kongExit
	if errors.As(err, &ke) {
		return exitOK // --help
	}
	msg := err.Error()
	if word, m, ok := strings.Cut(misspelt, "\x00"); ok && strings.HasPrefix(msg, "unknown flag "+word[:2]) {
		// kong read the word as short flags: -d, -e, ... (and failed
		// on them, not on another mistake).
		msg = m
	}
	if len(args) > 0 && args[0] == "validate" && (slices.Contains(args, "-json") || slices.Contains(args, "--json")) {
		// A tool reading validate -json gets JSON, this error too.
		e.validateJSON(hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid command line", Detail: msg}})
		return exitBadInput
	}
	fmt.Fprintf(e.stderr, "imgc: %s\n", msg)
	return exitBadInput
}
