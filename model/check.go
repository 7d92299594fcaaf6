package model

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/imageref"
)

// Check reports every broken rule of cfg, once each, and removes what
// breaks it, so that the Config it leaves satisfies all of them:
//
//   - every stage has a base; a Target names a declared stage, and no
//     stage depends on itself through bases, copies or mounts (a cycle
//     is cut at the reference that closes it, which becomes scratch or
//     loses its step);
//   - a platform is a valid "os/arch[/variant]" (an invalid one is
//     cleared);
//   - an Image holds a parsed reference;
//   - a run step has a command that is not empty, a network mode of
//     default, none or host, and mounts of a known type with a target
//     (a secret mount may have only Env);
//   - a copy step has sources and a destination; an add step has exactly
//     one of sources and a URL, and a destination;
//   - a layer holds no layer.
//
// A step that breaks a rule is removed from its stage (or layer). Both
// front ends call Check before they return; the compiler treats a broken
// rule as an internal error.
func Check(cfg *Config) hcl.Diagnostics {
	if cfg == nil {
		return nil
	}
	c := &checker{cfg: cfg}
	for _, st := range cfg.Stages {
		c.stage(st)
	}
	c.references()
	return c.diags
}

type checker struct {
	cfg   *Config
	diags hcl.Diagnostics
}

func (c *checker) errorf(rng hcl.Range, summary, format string, args ...any) {
	c.diags = append(c.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

// first is the first of ranges that is set.
func first(ranges ...hcl.Range) hcl.Range {
	for _, r := range ranges {
		if r != (hcl.Range{}) {
			return r
		}
	}
	return hcl.Range{}
}

func (c *checker) stage(st *Stage) {
	switch b := st.From.Base.(type) {
	case nil:
		c.errorf(first(st.From.Range, st.DeclRange), "Missing base",
			"The %s %q has no `from`. Every stage and image starts from a base: an image reference, a stage, or \"scratch\".", st.Kind, st.Name)
		st.From.Base = &Scratch{}
	case *Image:
		if !c.image(b, first(st.From.Range, st.DeclRange)) {
			st.From.Base = &Scratch{}
		}
	}
	if st.Platform != "" {
		if d := CheckPlatform(st.Platform, first(st.PlatformRange, st.DeclRange)); d != nil {
			c.diags = append(c.diags, d)
			st.Platform = ""
		}
	}
	if len(st.Platforms) > 0 {
		var ok []string
		for _, p := range st.Platforms {
			if d := CheckPlatform(p, first(st.PlatformsRange, st.DeclRange)); d != nil {
				c.diags = append(c.diags, d)
				continue
			}
			ok = append(ok, p)
		}
		st.Platforms = ok
	}
	st.Steps = c.steps(st.Steps)
}

func (c *checker) image(b *Image, rng hcl.Range) bool {
	if b.Ref.IsZero() {
		c.errorf(rng, "Invalid image reference", "The image reference is empty. Write NAME[:TAG][@DIGEST], oci:PATH[:TAG] or docker-archive:PATH.")
		return false
	}
	return true
}

// steps keeps the steps that satisfy the rules.
func (c *checker) steps(steps []Step) []Step {
	kept := steps[:0]
	for _, s := range steps {
		if l, ok := s.(*Layer); ok {
			l.Steps = c.steps(c.flat(l.Steps))
			kept = append(kept, l)
			continue
		}
		valid := c.values(s)
		if c.complete(s) && valid {
			kept = append(kept, s)
		}
	}
	return kept
}

// flat leaves out the layers nested in a layer.
func (c *checker) flat(steps []Step) []Step {
	kept := steps[:0]
	for _, s := range steps {
		if _, nested := s.(*Layer); nested {
			c.errorf(s.StepRange(), "Nested layer block", "A layer block holds run, copy and add steps only; layers do not nest. Move the inner steps into the outer layer block.")
			continue
		}
		kept = append(kept, s)
	}
	return kept
}

// CheckStep reports what is wrong with the values a step has: an empty
// command, an unknown network mode or mount type, an empty image
// reference. It never reports what the step lacks, so a front end may
// call it on a step it leaves out for errors of its own, to report
// everything in one run; Check reports the same with the same words. (A
// front end that reports a value where it reads it, with CheckNetwork,
// CheckMountType or CheckPlatform, leaves the value out of the model.)
func CheckStep(s Step) hcl.Diagnostics {
	c := &checker{}
	c.values(s)
	return c.diags
}

func (c *checker) values(s Step) bool {
	switch s := s.(type) {
	case *Run:
		return c.runValues(s)
	case *Copy:
		if b, ok := s.From.(*Image); ok {
			return c.image(b, first(s.FromRange, s.Range))
		}
	case *Add:
	case *Mkdir:
	case *Layer:
		ok := true
		for _, inner := range s.Steps {
			ok = c.values(inner) && ok
		}
		return ok
	default:
		panic(fmt.Sprintf("model: unknown step type %T", s))
	}
	return true
}

func (c *checker) runValues(r *Run) bool {
	ok := true
	where := first(r.CommandRange, r.Range)
	switch cmd := r.Command.(type) {
	case *Sh:
		if strings.TrimSpace(cmd.Script) == "" {
			c.errorf(where, "Empty command", "The sh command is empty. Give the command to run.")
			ok = false
		}
	case *Exec:
		if len(cmd.Argv) == 0 {
			c.errorf(where, "Empty command", "The exec vector is empty. Give the program to run and its arguments.")
			ok = false
		}
	case *Script:
		if !strings.HasPrefix(cmd.Text, "#!") {
			c.errorf(where, "Script without interpreter line", "A script runs as an executable file, so it must start with a #! line naming its interpreter, such as #!/bin/sh. Add one, or use sh.")
			ok = false
		}
		if cmd.Name == "" || cmd.Name == "." || cmd.Name == ".." || strings.ContainsAny(cmd.Name, "/\x00") {
			c.errorf(where, "Invalid script name", "The script name %q must be a file name: not empty, without a slash. Use a name such as EOF.", cmd.Name)
			ok = false
		}
	}
	if r.Network != "" {
		if d := CheckNetwork(r.Network, first(r.NetworkRange, r.Range)); d != nil {
			c.diags = append(c.diags, d)
			ok = false
		}
	}
	for _, d := range r.Devices {
		if diag := CheckDevice(d.Name, first(d.NameRange, d.Range, r.Range)); diag != nil {
			c.diags = append(c.diags, diag)
			ok = false
		}
	}
	for _, m := range r.Mounts {
		if d := CheckMountType(m.Type, first(m.TypeRange, m.DeclRange, m.Range)); d != nil {
			c.diags = append(c.diags, d)
			ok = false
		}
		if b, isImage := m.From.(*Image); isImage && !c.image(b, first(m.FromRange, m.Range)) {
			ok = false
		}
	}
	return ok
}

// mountTypes are the mount types, sorted.
var mountTypes = []string{"bind", "cache", "secret", "ssh", "tmpfs"}

// complete reports what a step lacks.
func (c *checker) complete(s Step) bool {
	switch s := s.(type) {
	case *Run:
		ok := true
		if s.Command == nil {
			c.diags = append(c.diags, MissingCommand(first(s.CommandRange, s.Range)))
			ok = false
		}
		for _, m := range s.Mounts {
			// An ssh mount's default target is the compiler's to choose.
			if contains(mountTypes, m.Type) && m.Target == "" && !(m.Type == "secret" && m.Env != "") && m.Type != "ssh" {
				c.diags = append(c.diags, MissingMountTarget(m.Type, first(m.DeclRange, m.Range)))
				ok = false
			}
		}
		return ok
	case *Copy:
		if s.Content != nil {
			return c.inlineFile(s)
		}
		switch {
		case len(s.Src) == 0:
			c.errorf(s.Range, "Copy without source", "A copy step needs at least one source in src. Name the files or directories to copy.")
			return false
		case s.Dest == "":
			c.errorf(s.Range, "Copy without destination", "A copy step needs dest, the path in the image to copy to. Set dest; end it with \"/\" for a directory.")
			return false
		}
	case *Add:
		n := 0
		for _, set := range []bool{s.URL != "", len(s.Src) > 0, s.Git != nil} {
			if set {
				n++
			}
		}
		switch {
		case n > 1:
			c.diags = append(c.diags, ConflictingAddSources(s.Range))
			return false
		case n == 0:
			c.diags = append(c.diags, MissingAddSource(s.Range))
			return false
		case s.Dest == "":
			c.errorf(s.Range, "Add without destination", "An add step needs dest, the path in the image to add to. Set dest; end it with \"/\" for a directory.")
			return false
		}
	}
	return true
}

// MissingCommand, MissingMountTarget, MissingAddSource and
// ConflictingAddSources are what a step may lack. A front end reports
// them itself, from which attributes a block has, when it leaves the step
// out for other errors too; Check reports the same with the same words
// when a step reaches it.

// MissingCommand is the error for a run step without a command.
func MissingCommand(rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing command", Subject: rng.Ptr(),
		Detail: "A run step needs a command. Add sh = \"...\" for a shell command, exec = [...] for an argument vector, or script = \"#!...\" for a program with a #! line."}
}

// MissingMountTarget is the error for a mount of type typ without a
// target.
func MissingMountTarget(typ string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing mount target", Subject: rng.Ptr(),
		Detail: fmt.Sprintf("A %s mount needs the path it is mounted at. Add target = \"/path\".", typ)}
}

// MissingAddSource is the error for an add step with neither sources nor
// a URL.
func MissingAddSource(rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing add source", Subject: rng.Ptr(),
		Detail: "An add step needs src = [...] (files from the context), url = \"https://...\" (a download) or git = \"https://.../repo.git\" (a checkout)."}
}

// ConflictingAddSources is the error for an add step with both sources
// and a URL.
func ConflictingAddSources(rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Conflicting add sources", Subject: rng.Ptr(),
		Detail: "An add step takes one of src (files from the context), url (one download) and git (a checkout). Use one add step for each."}
}

// CheckPlatform is the error for a platform p written at rng that is not
// a valid "os/arch[/variant]", or nil. A front end may report it where it
// reads the platform, and then leave the platform out.
func CheckPlatform(p string, rng hcl.Range) *hcl.Diagnostic {
	if err := ValidatePlatform(p); err != nil {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid platform", Detail: Sentence(err.Error()), Subject: rng.Ptr()}
	}
	return nil
}

// InvalidImageRef is the error for an image reference imageref.Parse
// rejected, written as written at rng. alternatives, when set, ends the
// list of what the place takes (", scratch, or a stage reference such as
// stage.build").
func InvalidImageRef(written string, err error, rng hcl.Range, alternatives string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid image reference", Subject: rng.Ptr()}
	switch {
	case errors.Is(err, imageref.ErrNoPath):
		d.Detail = fmt.Sprintf("%q names no path. Write oci:PATH[:TAG] or docker-archive:PATH.", written)
	case alternatives == "":
		d.Detail = fmt.Sprintf("%q is not an image reference: %s. Write NAME[:TAG][@DIGEST], oci:PATH[:TAG] or docker-archive:PATH.", written, err)
	default:
		d.Detail = fmt.Sprintf("%q is not an image reference: %s. Write NAME[:TAG][@DIGEST], oci:PATH[:TAG], docker-archive:PATH%s.", written, err, alternatives)
	}
	return d
}

// CheckNetwork is the error for a network mode n written at rng that is
// not default, none or host, or nil. (An unset mode is "" in the model,
// which Check does not ask about.)
func CheckNetwork(n string, rng hcl.Range) *hcl.Diagnostic {
	return oneOf(rng, n, "network mode", "default", "none", "host")
}

// CheckMountType is the error for a mount type written at rng that is not
// bind, cache, secret, ssh or tmpfs, or nil.
func CheckMountType(typ string, rng hcl.Range) *hcl.Diagnostic {
	if contains(mountTypes, typ) {
		return nil
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported mount type", Subject: rng.Ptr(),
		Detail: fmt.Sprintf("%q is not a mount type.%s Use one of bind, cache, secret, ssh or tmpfs.", typ, Suggestion(typ, mountTypes, ""))}
}

// CheckDevice is the error for a CDI device name written at rng that
// cannot name a device (empty, or with a space or control character), or
// nil. Which names exist is known only where the step runs.
func CheckDevice(name string, rng hcl.Range) *hcl.Diagnostic {
	if name != "" && !strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid device name", Subject: rng.Ptr(),
		Detail: fmt.Sprintf("%q is not a CDI device name. Name a device as vendor.com/class=name (one device), vendor.com/class (the first of its kind) or vendor.com/class=* (all of them), as the host's CDI spec files (in /etc/cdi and /var/run/cdi) list them.", name)}
}

// oneOf is the error for v unless it is one of allowed, or nil.
func oneOf(rng hcl.Range, v, what string, allowed ...string) *hcl.Diagnostic {
	if contains(allowed, v) {
		return nil
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + what, Subject: rng.Ptr(),
		Detail: fmt.Sprintf("%q is not a valid %s.%s Use one of %s.", v, what, Suggestion(v, allowed, ""), strings.Join(quoted, ", "))}
}

// edge is a reference from one stage to another; cut removes it.
type edge struct {
	to  string
	rng hcl.Range
	cut func()
}

// references reports references to undeclared stages and cycles, and
// cuts each.
func (c *checker) references() {
	byName := map[string]*Stage{}
	var names []string
	for _, st := range c.cfg.Stages {
		if byName[st.Name] == nil {
			byName[st.Name] = st
			names = append(names, st.Name)
		}
	}
	edges := map[string][]edge{}
	for _, st := range c.cfg.Stages {
		for _, e := range stageEdges(st) {
			if byName[e.to] == nil {
				c.errorf(e.rng, "Reference to undeclared stage", "No stage %q is declared.%s Declare it with a stage block, or fix the name.",
					e.to, Suggestion(e.to, names, ""))
				e.cut()
				continue
			}
			edges[st.Name] = append(edges[st.Name], e)
		}
	}
	name := func(n string) string { return string(byName[n].Kind) + "." + n }
	to := func(e edge) string { return e.to }
	rng := func(e edge) hcl.Range { return e.rng }
	for _, cycle := range Cycles(names, edges, to, rng) {
		c.errorf(cycle[0].rng, "Cycle between stages", "%s A stage cannot depend on itself, directly or through other stages; remove one of these references.",
			DescribeCycle(cycle, to, rng, name))
		cycle[0].cut()
	}
}

// stageEdges lists st's references to stages in the order they are
// written: its base, then its steps' copies and mounts.
func stageEdges(st *Stage) []edge {
	var out []edge
	if t, ok := st.From.Base.(*Target); ok {
		out = append(out, edge{to: t.Name, rng: first(st.From.Range, st.DeclRange), cut: func() { st.From.Base = &Scratch{} }})
	}
	var walk func(steps *[]Step)
	walk = func(steps *[]Step) {
		for _, s := range *steps {
			switch s := s.(type) {
			case *Run:
				for _, m := range s.Mounts {
					if t, ok := m.From.(*Target); ok {
						out = append(out, edge{to: t.Name, rng: first(m.FromRange, m.Range, s.Range), cut: remove(steps, s)})
					}
				}
			case *Copy:
				if t, ok := s.From.(*Target); ok {
					out = append(out, edge{to: t.Name, rng: first(s.FromRange, s.Range), cut: remove(steps, s)})
				}
			case *Layer:
				walk(&s.Steps)
			}
		}
	}
	walk(&st.Steps)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].rng, out[j].rng
		return a.Filename == b.Filename && a.Start.Byte < b.Start.Byte
	})
	return out
}

// remove returns a function that removes step from *steps.
func remove(steps *[]Step, step Step) func() {
	return func() {
		for i, s := range *steps {
			if s == step {
				*steps = append((*steps)[:i:i], (*steps)[i+1:]...)
				return
			}
		}
	}
}

// Cycles finds cycles in a graph of named nodes whose edges E point at
// to(e) from a source range rng(e). It returns one cycle per strongly
// connected component that has one, each as the edges from its first node
// (in nodes order) back to it, sorted by where their first edge is
// written.
func Cycles[E any](nodes []string, edges map[string][]E, to func(E) string, rng func(E) hcl.Range) [][]E {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var sccs [][]string
	next := 0
	var connect func(n string)
	connect = func(n string) {
		index[n], low[n] = next, next
		next++
		stack = append(stack, n)
		onStack[n] = true
		for _, e := range edges[n] {
			if _, seen := index[to(e)]; !seen {
				connect(to(e))
				low[n] = min(low[n], low[to(e)])
			} else if onStack[to(e)] {
				low[n] = min(low[n], index[to(e)])
			}
		}
		if low[n] == index[n] {
			var scc []string
			for {
				m := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[m] = false
				scc = append(scc, m)
				if m == n {
					break
				}
			}
			sccs = append(sccs, scc)
		}
	}
	for _, n := range nodes {
		if _, seen := index[n]; !seen {
			connect(n)
		}
	}
	order := map[string]int{}
	for i, n := range nodes {
		order[n] = i
	}
	var cycles [][]E
	for _, scc := range sccs {
		sort.Slice(scc, func(i, j int) bool { return order[scc[i]] < order[scc[j]] })
		if cycle := cycleFrom(scc, edges, to); cycle != nil {
			cycles = append(cycles, cycle)
		}
	}
	sort.Slice(cycles, func(i, j int) bool {
		return rng(cycles[i][0]).Start.Byte < rng(cycles[j][0]).Start.Byte
	})
	return cycles
}

// cycleFrom finds the shortest cycle from the first node of a strongly
// connected component back to it, or nil when it has none.
func cycleFrom[E any](scc []string, edges map[string][]E, to func(E) string) []E {
	start := scc[0]
	if len(scc) == 1 {
		for _, e := range edges[start] {
			if to(e) == start {
				return []E{e}
			}
		}
		return nil
	}
	in := map[string]bool{}
	for _, n := range scc {
		in[n] = true
	}
	type step struct {
		from string
		e    E
	}
	prev := map[string]step{}
	queue := []string{start}
	found := false
	for len(queue) > 0 && !found {
		n := queue[0]
		queue = queue[1:]
		for _, e := range edges[n] {
			if !in[to(e)] {
				continue
			}
			if to(e) == start {
				prev[start] = step{from: n, e: e}
				found = true
				break
			}
			if _, seen := prev[to(e)]; !seen {
				prev[to(e)] = step{from: n, e: e}
				queue = append(queue, to(e))
			}
		}
	}
	if !found {
		return nil
	}
	var cycle []E
	for n := start; ; {
		s := prev[n]
		cycle = append([]E{s.e}, cycle...)
		n = s.from
		if n == start {
			break
		}
	}
	return cycle
}

// DescribeCycle renders "a refers to b (at f:3), which refers to a (at
// f:7)." for a cycle's edges, which run from its start node around and
// back.
func DescribeCycle[E any](cycle []E, to func(E) string, rng func(E) hcl.Range, name func(string) string) string {
	start := to(cycle[len(cycle)-1])
	var b strings.Builder
	for i, e := range cycle {
		if i == 0 {
			fmt.Fprintf(&b, "%s refers to %s (at %s)", name(start), name(to(e)), shortRange(rng(e)))
		} else {
			fmt.Fprintf(&b, ", which refers to %s (at %s)", name(to(e)), shortRange(rng(e)))
		}
	}
	b.WriteString(".")
	return b.String()
}

// shortRange is "file:line" for details, where the full path is noise.
func shortRange(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", filepath.Base(r.Filename), r.Start.Line)
}

// Sentence capitalises an error message and ends it with a period; every
// front end and the compiler word Go errors in details with it.
func Sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// inlineFile checks a copy of inline content: no other source, a
// destination, and a file name where it lands in a directory.
func (c *checker) inlineFile(s *Copy) bool {
	switch {
	case len(s.Src) > 0:
		c.errorf(s.Range, "Copy with src and content", "A copy step copies either the files in src or the text in content. Remove one, or write two copy steps in a layer block.")
	case s.From != nil:
		c.errorf(first(s.FromRange, s.Range), "Content with from", "content is the text of the file to write; it takes no from. Remove from.")
	case s.Parents || len(s.Exclude) > 0:
		c.errorf(s.Range, "Content with parents or exclude", "parents and exclude select files of src; a copy of content has none. Remove them.")
	case s.Dest == "":
		c.errorf(s.Range, "Copy without destination", "A copy step needs dest, the path in the image to write to. Set dest; end it with \"/\" for a directory and give name.")
	case s.Name == "" && strings.HasSuffix(s.Dest, "/"):
		c.errorf(s.Range, "Inline file without name", "dest %q is a directory, so the file written from content needs a name. Set name, or give the file's path in dest.", s.Dest)
	case s.Name == "." || s.Name == ".." || strings.ContainsAny(s.Name, "/\x00"):
		c.errorf(s.Range, "Invalid file name", "name %q is not a file name. Give one path element, such as \"app.conf\", without \"/\".", s.Name)
	default:
		return true
	}
	return false
}
