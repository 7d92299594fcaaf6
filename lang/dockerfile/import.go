package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/command"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

// Options are the inputs of a Dockerfile build that the file itself
// does not hold.
type Options struct {
	// BuildArgs override ARG defaults (--var / --build-arg).
	BuildArgs map[string]string
	// Ambient names the BuildArgs that come from the environment
	// (IMGC_VAR_*), which one variable may set for many builds: an ARG no
	// Dockerfile declares is not reported for them.
	Ambient map[string]bool
	// Target names the stage to build (docker build --target); the last
	// stage when empty.
	Target string
	// Dir is the build context directory.
	Dir string
	// Platform is the target platform "os/arch[/variant]" for
	// TARGETPLATFORM and friends; the host's when empty.
	Platform string
	// BaseOnBuild, if set, returns the ONBUILD triggers of an image from
	// outside the Dockerfile that a FROM names (as written there), so
	// that they run as Docker runs them. Without it they do not run.
	BaseOnBuild func(ref imageref.Ref) ([]string, error)
	// ValuesOptional lets a FROM that only has a value once --var gives
	// one go without (validate): scratch stands in, as for a conversion.
	ValuesOptional bool
	// Contexts are the named contexts (--build-context), by the name
	// contextKey gives.
	Contexts map[string]NamedContext
}

// Import evaluates a Dockerfile into the model an .image.hcl configuration
// evaluates to, with BuildKit's semantics for ARG, ENV and expansion. Every
// instruction keeps a range over its Dockerfile lines. The Config has
// passed model.Check; it is nil when Import reports an error.
func Import(filename string, src []byte, opts Options) (*model.Config, hcl.Diagnostics) {
	if diags := checkSize(filename, src); diags != nil {
		return nil, diags
	}
	f := read(filename, src, opts)
	diags := f.diagnostics(forImport)
	if !f.parsed {
		return nil, diags
	}
	cfg := f.lower(opts.Dir)
	diags = append(diags, model.Check(cfg)...)
	if diags.HasErrors() {
		// The reader does not leave broken instructions out one by one
		// as lang leaves out broken steps, and it checks options the
		// compiler checks too (the target): what it has is not compiled.
		return nil, diags
	}
	return cfg, diags
}

// reader holds the state of reading one Dockerfile into its form.
type reader struct {
	envWork int // environment variables given to RUN steps so far
	src     *source
	opts    Options
	lex     *shell.Lex
	lexKeep *shell.Lex
	escape  rune // the file's escape character
	f       *form

	global envList
	// globalUnset are global ARGs without a value, with their variable
	// references.
	globalUnset envList
	// globalAll is global and globalUnset together, once a FROM needs it.
	globalAll  *envList
	globalArgs []string
	usedArgs   map[string]bool
	stages     []*stageState
}

// stageState is the BuildKit dispatch state of one stage while its
// instructions are read.
type stageState struct {
	st     *stageForm
	index  int
	parent *stageState
	// external is a base from a registry: its environment is unknown
	// until the image is pulled.
	external bool
	stepped  bool

	env      envList        // what RUN sees and words expand against (ENV and ARG)
	imageEnv envList        // the image config's environment (ENV only)
	baseEnv  envList        // the environment inherited from a parent stage
	stEnv    map[string]int // name -> position in st.Env
	args     map[string]bool

	workdir, baseWorkdir string
	workdirKnown         bool
	user, baseUser       string
	// Templates of workdir and user.
	workdirTmpl, userTmpl string
	shell, baseShell      []string
	shellSet              bool
	cmdSet                bool

	cfg     configForm
	cfgUsed bool

	// mkdir is the step of the last WORKDIR while the next instruction
	// that changes files may still make it redundant (workdir.go), and
	// mkdirUser the user it was made as.
	mkdir     *mkdirForm
	mkdirUser string
}

// read reads a Dockerfile into its form.
func read(filename string, src []byte, opts Options) *form {
	r := &reader{
		src:      newSource(filename, src),
		opts:     opts,
		usedArgs: map[string]bool{},
	}
	r.f = &form{
		src:      r.src,
		args:     map[string]string{},
		comments: map[int][]string{},
	}
	r.run()
	return r.f
}

func (rd *reader) diag(to audience, sev hcl.DiagnosticSeverity, rng *hcl.Range, summary, detail string) {
	rd.f.diags = append(rd.f.diags, formDiag{to: to, diag: &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: detail, Subject: rng}})
}

func (rd *reader) errorf(rng hcl.Range, summary, detail string, args ...any) {
	rd.diag(forBoth, hcl.DiagError, rng.Ptr(), summary, fmt.Sprintf(detail, args...))
}

func (rd *reader) warnf(rng hcl.Range, summary, detail string, args ...any) {
	rd.diag(forBoth, hcl.DiagWarning, rng.Ptr(), summary, fmt.Sprintf(detail, args...))
}

// convertWarnf warns about what a conversion cannot keep.
func (rd *reader) convertWarnf(rng hcl.Range, summary, detail string, args ...any) {
	rd.diag(forConvert, hcl.DiagWarning, rng.Ptr(), summary, fmt.Sprintf(detail, args...))
}

// parsedNode is one instruction with its AST node.
type parsedNode struct {
	node *parser.Node
	cmd  any
	rng  hcl.Range
}

func (rd *reader) run() {
	res, err := parser.Parse(bytes.NewReader(rd.src.src))
	if err != nil {
		rd.errorf(rd.src.errorRange(err, nil), "Invalid Dockerfile", "%s Fix the Dockerfile syntax at this line.", sentence(errorText(err)))
		return
	}
	rd.lex, rd.lexKeep = newLexers(res.EscapeToken)
	rd.escape = res.EscapeToken
	rd.f.parsed = true
	for _, w := range res.Warnings {
		rng := rd.src.lines(1, 1)
		if w.Location != nil {
			rng = rd.src.locations([]parser.Range{*w.Location})
		}
		rd.warnf(rng, "Dockerfile warning", "%s", sentence(w.Short))
	}

	rd.trailingComments(res.AST)

	var meta []parsedNode
	var groups [][]parsedNode // one per FROM, starting with it
	prevEnd := 0
	for _, n := range res.AST.Children {
		rng := rd.src.node(n)
		if c := rd.rawComments(prevEnd+1, n.StartLine-1); len(c) > 0 {
			rd.f.comments[n.StartLine] = c
		}
		prevEnd = max(prevEnd, rng.End.Line)
		cmd, err := parseInstruction(n)
		if err != nil {
			detail := sentence(errorText(err))
			summary := "Invalid instruction"
			var ui *instructions.UnknownInstructionError
			if errors.As(err, &ui) {
				summary = "Unknown instruction"
				if sug := model.Suggestion(strings.ToUpper(ui.Instruction), instructionNames(), ""); sug != "" {
					detail += sug + " Fix its spelling."
				} else {
					detail += " Use one of the Dockerfile instructions (FROM, RUN, COPY, ADD, ENV, ARG, ...), or fix its spelling."
				}
			} else {
				detail += fmt.Sprintf(" Fix the %s instruction.", strings.ToUpper(n.Value))
			}
			rd.errorf(rng, summary, "%s", detail)
			continue
		}
		pn := parsedNode{node: n, cmd: cmd, rng: rng}
		if _, ok := cmd.(*instructions.Stage); ok {
			groups = append(groups, []parsedNode{pn})
			continue
		}
		if len(groups) == 0 {
			if _, ok := cmd.(*instructions.ArgCommand); ok {
				meta = append(meta, pn)
				continue
			}
			rd.errorf(rng, "Instruction before FROM", "Only ARG may come before the first FROM. Move this %s instruction after a FROM.", strings.ToUpper(n.Value))
			continue
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], pn)
	}
	if len(groups) == 0 {
		if !rd.f.diagnostics(forImport).HasErrors() {
			rd.errorf(rd.src.lines(1, 1), "No stage", "A Dockerfile needs at least one FROM instruction. Add one, for example FROM alpine.")
		}
		return
	}

	rd.initGlobal()
	for _, pn := range meta {
		rd.globalArg(pn)
	}
	for i, g := range groups {
		rd.stage(i, g)
	}
	rd.chooseTarget()
	rd.checkBuildArgs()
}

// trailingComments keeps the comments after the last instruction, which
// the parser attaches to nothing, for Convert.
func (rd *reader) trailingComments(ast *parser.Node) {
	if len(ast.Children) == 0 {
		return
	}
	last := ast.Children[len(ast.Children)-1]
	end := max(last.EndLine, rd.src.node(last).End.Line)
	if c := rd.rawComments(end+1, len(rd.src.starts)); len(c) > 0 {
		rd.f.comments[end+1] = c
	}
}

// rawComments are the comment lines from line start to end as written
// (`## x` stays `## x`), for Convert: a blank line between two comments is
// an empty string; the parser directives at the top of the file are left
// out.
func (rd *reader) rawComments(start, end int) []string {
	var out []string
	blank := false
	for line := start; line <= end && line <= len(rd.src.starts); line++ {
		r := rd.src.lines(line, line)
		text := strings.TrimSpace(string(rd.src.src[r.Start.Byte:r.End.Byte]))
		switch {
		case text == "":
			blank = len(out) > 0
		case !strings.HasPrefix(text, "#"):
			// Not a comment: a line of an instruction the parser
			// attaches to nothing.
		case start == 1 && len(out) == 0 && directive.MatchString(text):
		default:
			if blank {
				out = append(out, "")
			}
			blank = false
			out = append(out, text)
		}
	}
	return out
}

// directive is a parser directive (`# syntax=...`).
var directive = regexp.MustCompile(`^#\s*(?i:syntax|escape|check)\s*=`)

// platformArgs are BuildKit's automatic global ARGs.
var platformArgs = []string{
	"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
	"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
}

// hostPlatform is the platform imgc builds for by default.
func hostPlatform() (os, arch, variant string) {
	if runtime.GOARCH == "arm" {
		return "linux", "arm", "v7"
	}
	return "linux", runtime.GOARCH, ""
}

func (rd *reader) initGlobal() {
	bos, barch, bvar := hostPlatform()
	tos, tarch, tvar := bos, barch, bvar
	if p := rd.opts.Platform; p != "" {
		parts := strings.Split(p, "/")
		tos = parts[0]
		tarch, tvar = "", ""
		if len(parts) > 1 {
			tarch = parts[1]
		}
		if len(parts) > 2 {
			tvar = parts[2]
		}
	}
	format := func(os, arch, variant string) string {
		if variant != "" {
			return os + "/" + arch + "/" + variant
		}
		return os + "/" + arch
	}
	values := map[string]string{
		"BUILDPLATFORM": format(bos, barch, bvar), "BUILDOS": bos, "BUILDARCH": barch, "BUILDVARIANT": bvar,
		"TARGETPLATFORM": format(tos, tarch, tvar), "TARGETOS": tos, "TARGETARCH": tarch, "TARGETVARIANT": tvar,
	}
	for _, name := range platformArgs {
		v := values[name]
		if bv, ok := rd.opts.BuildArgs[name]; ok {
			v = bv
			rd.usedArgs[name] = true
		}
		e := envEntry{Name: name, Value: v}
		e.Tmpl = rd.f.declare(argDecl{Arg: name, Default: v, Platform: true})
		rd.global = rd.global.set(e)
	}
}

// globalArg declares ARGs before the first FROM: usable in FROM and as
// defaults of ARGs re-declared in a stage.
func (rd *reader) globalArg(pn parsedNode) {
	c := pn.cmd.(*instructions.ArgCommand)
	for _, kv := range c.Args {
		name := kv.Key
		again := contains(rd.globalArgs, name)
		rd.globalArgs = append(rd.globalArgs, name)
		if _, given := rd.opts.BuildArgs[name]; (again || IsPlatformArg(name)) && kv.Value == nil && !given {
			// ARG X after a global ARG X, or ARG TARGETARCH (BuildKit's):
			// the value stays, and so does its reference.
			continue
		}
		var e envEntry
		set, derived := false, ""
		if v, ok := rd.opts.BuildArgs[name]; ok {
			rd.usedArgs[name] = true
			e, set = envEntry{Name: name, Value: v, Tmpl: quoteLit(v)}, true
		} else if kv.Value != nil {
			x, err := rd.expandWord(*kv.Value, rd.global, false)
			if err != nil {
				rd.errorf(pn.rng, "Invalid ARG default", "%s Fix the variable reference in the default of %s.", sentence(err.Error()), name)
				continue
			}
			e, set = envEntry{Name: name, Value: x.Value}, true
			derived = rd.derived(pn.rng, name, x)
		} else if g, ok := rd.global.get(name); ok {
			e, set = g, true
		}
		def := ""
		if set {
			def = e.Value
		}
		e.Tmpl = rd.f.declare(argDecl{Arg: name, Default: def, Range: pn.rng, Global: true, Null: !set, Derived: derived})
		if set {
			rd.global = rd.global.set(e)
			rd.f.args[name] = e.Value
		} else {
			rd.f.args[name] = ""
			e.Name, e.Null = name, true
			rd.globalUnset = rd.globalUnset.set(e)
		}
	}
}

func (rd *reader) chooseTarget() {
	target := rd.stages[len(rd.stages)-1]
	if t := rd.opts.Target; t != "" {
		target = rd.stageNamed(t)
		if target == nil {
			names := make([]string, len(rd.stages))
			for i, s := range rd.stages {
				names[i] = s.st.Name
			}
			rd.errorf(rd.src.lines(1, 1), "Unknown target", "The target stage %q is not in this Dockerfile. Use one of: %s.", t, strings.Join(names, ", "))
			target = rd.stages[len(rd.stages)-1]
		}
	}
	target.st.Kind = model.KindImage
}

func (rd *reader) checkBuildArgs() {
	var unused []string
	for k := range rd.opts.BuildArgs {
		if !rd.usedArgs[k] && !rd.declared(k) && !rd.opts.Ambient[k] && !model.IsProxyArg(k) {
			unused = append(unused, k)
		}
	}
	if len(unused) == 0 {
		return
	}
	sort.Strings(unused)
	rd.diag(forBoth, hcl.DiagWarning, nil, "Unused build arguments", fmt.Sprintf("No ARG declares %s, so the value has no effect. Declare it with ARG or drop it from the command line.", strings.Join(unused, ", ")))
}

func (rd *reader) declared(name string) bool {
	if _, ok := rd.f.args[name]; ok {
		return true
	}
	for _, s := range rd.stages {
		if s.args[name] {
			return true
		}
	}
	return false
}

// instructionNames is every Dockerfile instruction, upper case and sorted,
// the candidates of an unknown instruction's did-you-mean.
func instructionNames() []string {
	names := make([]string, 0, len(command.Commands))
	for c := range command.Commands {
		names = append(names, strings.ToUpper(c))
	}
	sort.Strings(names)
	return names
}
