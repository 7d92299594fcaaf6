package ir

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

const (
	colorBold   = "\x1b[1m"
	colorGreen  = "\x1b[32m"
	colorYellow = "\x1b[33m"
	colorDim    = "\x1b[2m"
	colorReset  = "\x1b[0m"
)

// PrintText writes the plan for people: per target in build order, a table
// of its layers (name, steps, source line, short key, cache status and
// reason), then what the optimizer did. st holds the cache status by key; a
// layer without an entry is a miss, "never built". color adds ANSI colors.
func PrintText(w io.Writer, p *Plan, st map[CacheKey]Status, color bool) {
	paint := func(code, s string) string {
		if !color || s == "" {
			return s
		}
		return code + s + colorReset
	}
	src := sourcer(p.Project)
	mask := Masker(p.Sensitive)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, t := range p.Targets {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		role := "built for other targets"
		if t.Output {
			role = "output"
		} else if allSkipped(st, t) {
			role = "not built: nothing needs it this time"
		}
		head := fmt.Sprintf("%s %s", t.Kind, t.Name)
		fmt.Fprintf(tw, "%s  from %s  %s  (%s)\n", paint(colorBold, head), shortBase(p, t.Base), t.Platform, role)
		if len(t.Layers) == 0 {
			fmt.Fprintf(tw, "  %s\n", paint(colorDim, "no layers: the base as it is"))
			continue
		}
		fmt.Fprintf(tw, "  #\tLAYER\tSTEPS\tSOURCE\tKEY\tCACHE\n")
		for j, l := range t.Layers {
			s := statusOf(st, l)
			cache := paint(colorYellow, "miss") + "  " + s.Reason
			if s.Skipped {
				cache = paint(colorDim, "skip  "+s.Reason)
			}
			if s.Hit {
				cache = paint(colorGreen, "hit")
				if s.From != "" {
					cache += "  from " + s.From
				}
				if s.Empty {
					cache += "  " + paint(colorDim, "empty: not in the image")
				}
			}
			key := l.Key.Short()
			if pending := l.PendingSource(); pending != "" {
				key = "pending"
				cache = paint(colorYellow, "miss") + "  key known only after downloading " + clip(mask(pending), 60)
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", j+1, clip(l.Name, 40), clip(mask(stepsText(l)), 48), src(l.Origin), key, cache)
			for _, d := range definitionSources(src, l) {
				fmt.Fprintf(tw, "  \t\t%s\t%s\t\t\n", paint(colorDim, "  defined at"), d)
			}
		}
	}
	tw.Flush()
	if len(p.Optimizations) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", paint(colorBold, "optimizations"))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, o := range p.Optimizations {
		detail := o.Detail
		if !o.Applied {
			detail = "(not applied at this level) " + detail
		}
		where := originsText(src, o.Origins)
		if where == "" {
			where = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", o.Pass, where, detail)
	}
	tw.Flush()
}

// jsonPlan is the spec's `plan --format json` shape, plus extra fields.
type jsonPlan struct {
	Project       string             `json:"project"`
	Targets       []jsonTarget       `json:"targets"`
	Optimizations []jsonOptimization `json:"optimizations"`
}

type jsonTarget struct {
	Name      string      `json:"name"`
	Kind      TargetKind  `json:"kind"`
	From      string      `json:"from"`
	BaseKey   string      `json:"base_key"`
	Platform  string      `json:"platform"`
	Output    bool        `json:"output"`
	Tags      []string    `json:"tags,omitempty"`
	DependsOn []string    `json:"depends_on,omitempty"`
	Source    string      `json:"source"`
	Layers    []jsonLayer `json:"layers"`
}

type jsonLayer struct {
	Name      string            `json:"name"`
	CacheKey  string            `json:"cache_key"`
	Parent    string            `json:"parent"`
	Cache     string            `json:"cache"`
	Reason    string            `json:"reason"`
	Source    string            `json:"source"`
	CreatedBy string            `json:"created_by"`
	NoCache   bool              `json:"no_cache,omitempty"`
	Skipped   bool              `json:"skipped,omitempty"`
	Empty     bool              `json:"empty,omitempty"`
	From      string            `json:"from,omitempty"`
	Steps     []jsonStep        `json:"steps"`
	Inputs    []KeyInput        `json:"inputs"`
	Vars      map[string]string `json:"vars,omitempty"`
	// KeyPending names the remote source (a URL without a checksum, a git
	// ref) the key does not see yet: the build resolves it first.
	KeyPending string `json:"key_pending,omitempty"`
}

type jsonStep struct {
	Kind    StepKind `json:"kind"`
	Summary string   `json:"summary"`
	Source  string   `json:"source"`
	// Definition is the step's line in the step definition it was
	// expanded from.
	Definition string `json:"definition,omitempty"`
}

type jsonOptimization struct {
	Pass    string   `json:"pass"`
	Detail  string   `json:"detail"`
	Source  string   `json:"source"`
	Sources []string `json:"sources,omitempty"`
	Applied bool     `json:"applied"`
}

// PrintJSON writes the plan as `imgc plan --format json` prints it.
func PrintJSON(w io.Writer, p *Plan, st map[CacheKey]Status) error {
	src := sourcer(p.Project)
	mask := Masker(p.Sensitive)
	out := jsonPlan{Project: p.Project, Targets: []jsonTarget{}, Optimizations: []jsonOptimization{}}
	for _, t := range p.Targets {
		jt := jsonTarget{
			Name: t.Name, Kind: t.Kind, From: baseText(p, t.Base), BaseKey: t.Base.Key.String(),
			Platform: t.Platform.String(), Output: t.Output, Tags: t.Tags, DependsOn: t.DependsOn,
			Source: src(t.Origin), Layers: []jsonLayer{},
		}
		for _, l := range t.Layers {
			s := statusOf(st, l)
			jl := jsonLayer{
				Name: l.Name, CacheKey: l.Key.String(), Parent: l.Parent.String(), Cache: "miss", Reason: s.Reason,
				Source: src(l.Origin), CreatedBy: l.CreatedBy, NoCache: l.NoCache, Steps: []jsonStep{},
				Inputs: l.Inputs, Vars: l.Vars,
			}
			if s.Hit {
				jl.Cache, jl.Empty, jl.From = "hit", s.Empty, s.From
			}
			jl.Skipped = s.Skipped
			if pending := l.PendingSource(); pending != "" {
				jl.KeyPending = mask(pending)
				jl.Reason = "key known only after downloading " + jl.KeyPending
			}
			if jl.Inputs == nil {
				jl.Inputs = []KeyInput{}
			}
			for _, step := range l.Steps {
				js := jsonStep{Kind: step.Kind(), Summary: mask(StepSummary(step)), Source: src(step.Source())}
				if os := StepOrigins(step); len(os) > 1 {
					js.Definition = src(os[1])
				}
				jl.Steps = append(jl.Steps, js)
			}
			jt.Layers = append(jt.Layers, jl)
		}
		out.Targets = append(out.Targets, jt)
	}
	for _, o := range p.Optimizations {
		jo := jsonOptimization{Pass: o.Pass, Detail: o.Detail, Applied: o.Applied}
		for _, or := range o.Origins {
			jo.Sources = append(jo.Sources, src(or))
		}
		if len(jo.Sources) > 0 {
			jo.Source = jo.Sources[0]
		}
		out.Optimizations = append(out.Optimizations, jo)
	}
	j := &jsonWriter{w: w, buf: make([]byte, 0, jsonFlushAt+4<<10)}
	j.plan(&out)
	j.buf = append(j.buf, '\n')
	if j.err == nil {
		_, j.err = w.Write(j.buf)
	}
	if j.err != nil {
		return fmt.Errorf("writing plan: %w", j.err)
	}
	return nil
}

// WouldBuild tells whether a build of p now would make any layer: one that
// st (the cache status by key) does not hold and that is not skipped.
func (p *Plan) WouldBuild(st map[CacheKey]Status) bool {
	for _, t := range p.Targets {
		for _, l := range t.Layers {
			if s := statusOf(st, l); !s.Hit && !s.Skipped {
				return true
			}
		}
	}
	return false
}

// allSkipped tells a stage the build will not make at all.
func allSkipped(st map[CacheKey]Status, t *Target) bool {
	for _, l := range t.Layers {
		if s := statusOf(st, l); !s.Skipped && !s.Hit {
			return false
		}
	}
	for _, l := range t.Layers {
		if statusOf(st, l).Skipped {
			return true
		}
	}
	return false
}

func statusOf(st map[CacheKey]Status, l *Layer) Status {
	s, ok := st[l.Key]
	if !ok {
		return Status{Reason: "never built"}
	}
	if !s.Hit && s.Reason == "" {
		s.Reason = "never built"
	}
	if s.Hit {
		s.Reason = ""
	}
	return s
}

// shortBase is baseText for people: a local layout's path relative to the
// project when that is shorter, and the digest cut to 12 hex digits.
func shortBase(p *Plan, b Base) string {
	if b.Kind == BaseScratch || b.Kind == BaseTarget {
		return baseText(p, b)
	}
	ref := b.Ref.String()
	if b.Kind == BaseOCILayout || b.Kind == BaseDockerArchive {
		dir := p.Project
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			dir = filepath.Dir(dir)
		}
		if rel, err := filepath.Rel(dir, ref); err == nil && len(rel) < len(ref) {
			ref = rel
		}
		ref = string(b.Kind) + ":" + ref
	}
	if d := b.Digest; d != "" && !strings.Contains(ref, "@") {
		if len(d) > 19 {
			d = d[:19] + "…"
		}
		ref += "@" + d
	}
	return ref
}

// baseText renders a base as it reads in a configuration.
func baseText(p *Plan, b Base) string {
	switch b.Kind {
	case BaseScratch:
		return "scratch"
	case BaseTarget:
		if strings.HasPrefix(b.Target, "module.") {
			return b.Target // a module's stage is named by its reference
		}
		kind := KindStage
		if t := p.Target(b.Target); t != nil {
			kind = t.Kind
		}
		return string(kind) + "." + b.Target
	case BaseOCILayout, BaseDockerArchive:
		s := b.Ref.Qualified()
		if b.Digest != "" {
			s += "@" + b.Digest
		}
		return s
	default:
		s := b.Ref.String()
		if b.Digest != "" && !strings.Contains(s, "@") {
			s += "@" + b.Digest
		}
		return s
	}
}

func stepsText(l *Layer) string {
	if len(l.Steps) == 1 {
		return StepSummary(l.Steps[0])
	}
	kinds := make([]string, len(l.Steps))
	for i, s := range l.Steps {
		kinds[i] = string(s.Kind())
	}
	return fmt.Sprintf("%d steps: %s", len(l.Steps), strings.Join(kinds, ", "))
}

// StepSummary is a one-line description of a step: "run make install",
// "copy 3 files to /app/".
func StepSummary(s Step) string {
	switch s := s.(type) {
	case *Run:
		if s.Shell {
			return "run " + firstLine(s.Command)
		}
		return "run " + strings.Join(s.Argv, " ")
	case *Copy:
		from := ""
		if s.FromTarget != "" {
			from = " from " + s.FromTarget
		}
		if s.Content != nil {
			return fmt.Sprintf("copy <<%s to %s", strings.Join(s.Sources, ""), shownDest(s.Dest, s.InWorkdir))
		}
		if s.FromTarget == "" {
			return fmt.Sprintf("copy %s%s to %s", countFiles(s.Files), from, shownDest(s.Dest, s.InWorkdir))
		}
		return fmt.Sprintf("copy %s%s to %s", strings.Join(s.Sources, " "), from, shownDest(s.Dest, s.InWorkdir))
	case *Add:
		if s.URL != "" {
			return fmt.Sprintf("add %s to %s", s.URL, shownDest(s.Dest, s.InWorkdir))
		}
		if s.Git != nil {
			return fmt.Sprintf("add %s to %s", s.Git, shownDest(s.Dest, s.InWorkdir))
		}
		return fmt.Sprintf("add %s to %s", countFiles(s.Files), shownDest(s.Dest, s.InWorkdir))
	case *Mkdir:
		return "mkdir " + s.Path
	}
	return string(s.Kind())
}

// countFiles names a lone source or counts the files (not directories)
// copied.
func countFiles(fs []CopyFile) string {
	if len(fs) == 1 {
		return fs[0].Src
	}
	n := 0
	for _, f := range fs {
		if !f.Mode.IsDir() {
			n++
		}
	}
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// definitionSources are the lines, in step definitions, of the steps of
// l that were expanded from one, each once, in order.
func definitionSources(src func(Origin) string, l *Layer) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range l.Steps {
		os := StepOrigins(s)
		if len(os) < 2 {
			continue
		}
		if d := src(os[1]); d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func originsText(src func(Origin) string, os []Origin) string {
	var parts []string
	for _, o := range os {
		if s := src(o); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// sourcer renders origins as file:line (the first line of a span), with files below the project's
// directory relative to it so output does not depend on where it lives.
func sourcer(project string) func(Origin) string {
	dir := project
	if fi, err := os.Stat(project); err == nil && !fi.IsDir() {
		dir = filepath.Dir(project)
	}
	return func(o Origin) string {
		if o.File != "" && filepath.IsAbs(o.File) && dir != "" {
			// A module beside the configuration is ../platform/x.image.hcl;
			// a file far away stays absolute.
			if rel, err := filepath.Rel(dir, o.File); err == nil && strings.Count(rel, ".."+string(filepath.Separator)) <= 2 {
				o.File = filepath.ToSlash(rel)
			}
		}
		if o.File == "" {
			return ""
		}
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	}
}

// shownDest is a destination as plan shows it: one in the image's working
// directory (Copy.InWorkdir) as a path relative to it.
func shownDest(dest string, inWorkdir bool) string {
	if !inWorkdir {
		return dest
	}
	return "." + dest
}
