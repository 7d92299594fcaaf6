package compiler

import (
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/ir"
)

// pass is one entry of the pass table, as in Go's
// cmd/compile/internal/ssa/compile.go. A pass takes a plan and returns a new
// one (IR nodes are immutable: a pass copies what it changes), reports
// user errors as diagnostics on the state, and panics only on a compiler
// bug, which the driver reports naming the pass.
type pass struct {
	name string
	fn   func(*state, *ir.Plan) *ir.Plan
	// required passes always run and cannot be disabled with --pass.
	required bool
	// level is the lowest optimization level the pass runs at: "required"
	// for required passes, else LevelSafe or LevelAll.
	level string
	// keys is true for the pass that computes cache keys: from there on
	// the checker verifies every key and every later pass must keep them
	// valid (a pass that changes layers calls recomputeKeys).
	keys bool
	// doc says what the pass is for, for `--pass` help.
	doc string
	// preview, if set, records (not applied) what the pass would do when
	// the level is one below its own, so `plan` at safe shows what all
	// would do.
	preview func(*state, *ir.Plan)
}

// passes run in this order. Merging and reordering passes at LevelAll go
// after keys (they need keys to keep per-step cache entries, ir.Layer.Merged)
// and call recomputeKeys on what they change.
var passes = []pass{
	{name: "prune", fn: prune, required: true, level: "required", doc: "drop stages no target needs"},
	{name: "resolve", fn: resolveInputs, required: true, level: "required", doc: "list and hash copied files, resolve base digests"},
	{name: "keys", fn: computeKeys, required: true, level: "required", keys: true, doc: "compute cache keys"},
	{name: "dedupe", fn: dedupe, level: LevelSafe, doc: "build stages with identical keys once"},
	{name: "metadata", fn: metadata, level: LevelSafe, doc: "name the Dockerfile metadata instructions kept out of the layer chain"},
	{name: "parallel", fn: parallel, level: LevelSafe, doc: "record which targets build in parallel"},
	{name: "reorder", fn: reorder, level: LevelAll, preview: previewReorder, doc: "move steps that declare their effects before the context copies they do not depend on"},
	{name: "merge", fn: mergeRuns, level: LevelAll, preview: previewMergeRuns, doc: "merge adjacent run steps with identical settings into one layer"},
	{name: "mergecopy", fn: mergeCopies, level: LevelAll, preview: previewMergeCopies, doc: "merge adjacent copy steps with disjoint destinations into one layer"},
}

// passOrder lists constraints {a, b}: pass a must run before pass b.
var passOrder = [][2]string{
	{"prune", "resolve"},     // no files are hashed or bases resolved for unused stages
	{"resolve", "keys"},      // keys hash the file digests and base digests resolve fills in
	{"prune", "keys"},        // unused stages must not cost key computation
	{"keys", "dedupe"},       // dedupe compares keys
	{"keys", "merge"},        // merge recomputes keys, keeping per-step ones
	{"dedupe", "merge"},      // merged layers make equal stages look different
	{"prune", "metadata"},    // unused stages' instructions are not named
	{"dedupe", "parallel"},   // deduplicated stages are not built at all
	{"keys", "reorder"},      // reorder recomputes keys
	{"dedupe", "reorder"},    // reordered layers make equal stages look different
	{"reorder", "merge"},     // steps moved next to each other can then merge
	{"reorder", "mergecopy"}, // likewise copies left adjacent by a moved step
	{"dedupe", "mergecopy"},  // as for merge
}

// checkPasses runs ir.Check after every pass; tests turn it on.
var checkPasses = false

func findPass(name string) *pass {
	for i := range passes {
		if passes[i].name == name {
			return &passes[i]
		}
	}
	return nil
}

func passNames() []string {
	var names []string
	for _, p := range passes {
		names = append(names, p.name)
	}
	return names
}

// runPasses is the pass driver: it runs each enabled pass in table order,
// turns a panic into an internal error naming the pass, checks the plan
// between passes when checking is on, and collects what the passes record
// into the final plan's Optimizations.
func (s *state) runPasses(p *ir.Plan, table []pass) *ir.Plan {
	var records []ir.Optimization
	keysValid := false
	for _, ps := range table {
		if !ps.required && s.disabled[ps.name] {
			continue
		}
		if !ps.required && !s.anyTargetAt(ps.level, p) {
			if ps.preview != nil && s.anyTargetAt(LevelSafe, p) {
				recs, err := s.runPreview(ps, p)
				if err != nil {
					s.diags = append(s.diags, internalError(err))
					return p
				}
				records = append(records, recs...)
			}
			continue
		}
		next, recs, err := s.runPass(ps, p)
		if err != nil {
			s.diags = append(s.diags, internalError(err))
			return p
		}
		p = next
		records = append(records, recs...)
		keysValid = keysValid || ps.keys
		if s.check {
			if err := ir.Check(p, keysValid); err != nil {
				s.diags = append(s.diags, internalError(fmt.Errorf("internal error in pass %s: the plan it returned is invalid: %w", ps.name, err)))
				return p
			}
		}
	}
	out := *p
	out.Optimizations = append(slices.Clip(p.Optimizations), records...)
	return &out
}

func (s *state) runPass(ps pass, p *ir.Plan) (out *ir.Plan, recs []ir.Optimization, err error) {
	s.records = nil
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in pass %s: %v\n%s", ps.name, r, debug.Stack())
		}
	}()
	s.pass = ps.name
	out = ps.fn(s, p)
	if out == nil {
		return nil, nil, fmt.Errorf("internal error in pass %s: it returned no plan", ps.name)
	}
	return out, s.records, nil
}

func (s *state) runPreview(ps pass, p *ir.Plan) (recs []ir.Optimization, err error) {
	s.records = nil
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in pass %s (preview): %v\n%s", ps.name, r, debug.Stack())
		}
	}()
	s.pass = ps.name
	ps.preview(s, p)
	return s.records, nil
}

// anyTargetAt reports whether some target's level is at least level.
func (s *state) anyTargetAt(level string, p *ir.Plan) bool {
	for _, t := range p.Targets {
		if levelRank(s.level(t.Name)) >= levelRank(level) {
			return true
		}
	}
	return false
}

// record notes what the running pass did (applied) or would do at a higher
// level (not applied).
func (s *state) record(detail string, applied bool, origins ...ir.Origin) {
	s.records = append(s.records, ir.Optimization{Pass: s.pass, Detail: detail, Origins: origins, Applied: applied})
}

func internalError(err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Internal compiler error",
		Detail:   fmt.Sprintf("%v\n\nThis is a bug in imgc, not in your configuration. Please report it with the configuration that triggers it; --pass NAME=off may work around an optional pass.", err),
	}
}

// PassInfo describes an optimizer pass for `--pass` help and docs.
type PassInfo struct {
	Name string
	// Required passes cannot be turned off.
	Required bool
	// Level is "required", "safe" or "all".
	Level string
	Doc   string
}

// Passes lists the pass table in the order the passes run.
func Passes() []PassInfo {
	out := make([]PassInfo, len(passes))
	for i, p := range passes {
		out[i] = PassInfo{Name: p.name, Required: p.required, Level: p.level, Doc: p.doc}
	}
	return out
}
