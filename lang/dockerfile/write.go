package dockerfile

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

func (w *writer) stage(body *hclwrite.Body, st *stageForm) {
	w.cur = st
	w.comments(body, st.DeclRange.Start.Line)
	b := body.AppendNewBlock(string(st.Kind), []string{w.hclName(st.Name)}).Body()
	b.SetAttributeRaw("from", raw(w.base(&st.From)))
	if st.Platform.Value != "" {
		b.SetAttributeRaw("platform", raw(w.text(st.Platform)))
	}
	w.runSettings(b, nil, st.Env, st.Workdir, st.User, st.Shell)
	w.stageSteps(b, st.Steps)
	if st.Config != nil {
		b.AppendNewline()
		w.comments(b, st.Range.End.Line)
		w.config(b, st.Config)
	} else {
		w.comments(b, st.Range.End.Line)
	}
	body.AppendNewline()
}

// runSettings writes the attributes a stage and a run step share: env,
// workdir, user and shell. step is the range of the step, nil for the
// stage.
func (w *writer) runSettings(b *hclwrite.Body, step *hcl.Range, env []envText, workdir, user text, shell []string) {
	if len(env) > 0 {
		b.SetAttributeRaw("env", raw(w.envObject(step, env)))
	}
	if workdir.Value != "" {
		b.SetAttributeRaw("workdir", raw(w.text(workdir)))
	}
	if user.Value != "" {
		b.SetAttributeRaw("user", raw(w.text(user)))
	}
	if shell != nil {
		b.SetAttributeRaw("shell", raw(strList(shell)))
	}
}

// relativeToStage rewrites a step's or config's env value that the
// reader chained through the stage's env (PATH=/y:/x:$PATH over the stage's
// PATH=/x:$PATH) as the HCL front end reads it: relative to the stage's env
// (PATH = "/y:$PATH"). changed is false when the value reads the same both
// ways; a value that cannot be written so is kept, with a warning. at is
// the range of the step or config the value is in; nil for the stage's
// own env.
func (w *writer) relativeToStage(at *hcl.Range, e envText) (string, bool) {
	if w.cur == nil || at == nil || len(w.cur.Env) == 0 || !strings.Contains(e.Value, "$") {
		return e.Value, false
	}
	vars := map[string]string{}
	for _, v := range w.cur.Env {
		vars[v.Name] = v.Value
	}
	if lang.SubstituteVars(e.Value, vars) == e.Value {
		return e.Value, false
	}
	rel := e.Value
	for _, v := range w.cur.Env {
		if strings.Contains(v.Value, "$") && strings.Contains(rel, v.Value) {
			rel = strings.ReplaceAll(rel, v.Value, "$"+v.Name)
		}
	}
	if lang.SubstituteVars(rel, vars) == e.Value {
		return rel, true
	}
	*w.diags = append(*w.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Environment value not expressible",
		Detail:   fmt.Sprintf("The value %q of %s refers to the base image's $ variables that the stage's env sets again; in HCL a step's $NAME means the stage's value. Check the converted value.", e.Value, e.Name),
		Subject:  at.Ptr(),
	})
	return e.Value, false
}

func (w *writer) envObject(at *hcl.Range, env []envText) string {
	var sb strings.Builder
	sep := "\n"
	if len(env) == 1 {
		sep = " "
	}
	sb.WriteString("{" + sep)
	for _, e := range env {
		key := e.Name
		if !hclsyntax.ValidIdentifier(key) {
			key = `"` + quoteLit(key) + `"`
		}
		t := e.text
		if rel, changed := w.relativeToStage(at, e); changed {
			t = lit(rel)
		}
		fmt.Fprintf(&sb, "%s = %s%s", key, w.text(t), sep)
	}
	sb.WriteString("}")
	return sb.String()
}

// step writes a step, leaving out the run step settings o that steps
// blocks around it state.
func (w *writer) step(body *hclwrite.Body, step stepForm, depth int, o omit) {
	switch s := step.(type) {
	case *runForm:
		w.run(body, s, depth, o)
	case *copyForm:
		w.copyStep(body, s, depth)
	case *addForm:
		w.addStep(body, s)
	case *mkdirForm:
		b := body.AppendNewBlock("mkdir", nil).Body()
		b.SetAttributeRaw("path", raw(w.text(s.Path)))
		if s.User.Value != "" {
			b.SetAttributeRaw("user", raw(w.text(s.User)))
		}
	case *layerForm:
		b := body.AppendNewBlock("layer", []string{s.Name}).Body()
		for i, inner := range s.Steps {
			if i > 0 {
				b.AppendNewline()
			}
			w.step(b, inner, depth+1, omit{})
		}
	}
}

func (w *writer) run(body *hclwrite.Body, r *runForm, depth int, o omit) {
	var cmd, scriptName string
	switch c := r.Command.(type) {
	case *model.Exec:
		cmd = "exec = " + strList(c.Argv)
	case *model.Sh:
		cmd = "sh = " + shValue(c.Script, depth+1)
	case *model.Script:
		if strings.Contains(c.Text, "\n") && strings.HasSuffix(c.Text, "\n") {
			cmd = "script = " + heredoc(c.Text, depth+1)
		} else {
			cmd = "script = " + quoted(quoteLit(c.Text))
		}
		if c.Name != defaultScriptName {
			scriptName = quoted(quoteLit(c.Name))
		}
	}
	var env []envText
	var workdir, user text
	var shell []string
	if !o.env {
		env, user, shell = r.Env, r.User, r.Shell
	}
	if !o.workdir {
		workdir = r.Workdir
	}
	settings := len(env) > 0 || workdir.Value != "" || user.Value != "" || shell != nil
	if !settings && r.Network == "" && r.Security == "" && scriptName == "" && len(r.Devices) == 0 && len(r.Mounts) == 0 && !strings.Contains(cmd, "\n") {
		// One attribute: a one-line block.
		body.AppendUnstructuredTokens(raw("run { " + cmd + " }\n"))
		return
	}
	b := body.AppendNewBlock("run", nil).Body()
	name, value, _ := strings.Cut(cmd, " = ")
	b.SetAttributeRaw(name, raw(value))
	if scriptName != "" {
		b.SetAttributeRaw("script_name", raw(scriptName))
	}
	w.runSettings(b, &r.Range, env, workdir, user, shell)
	if r.Network != "" {
		b.SetAttributeRaw("network", raw(quoted(quoteLit(r.Network))))
	}
	if r.Security != "" {
		b.SetAttributeRaw("security", raw(quoted(quoteLit(r.Security))))
	}
	for _, d := range r.Devices {
		line := "device " + quoted(quoteLit(d.Name)) + " {}\n"
		if d.Required {
			line = "device " + quoted(quoteLit(d.Name)) + " { required = true }\n"
		}
		b.AppendUnstructuredTokens(raw(line))
	}
	for _, m := range r.Mounts {
		w.mount(b, m)
	}
}

// defaultScriptName is a run script's name when `script_name` is not set.
const defaultScriptName = "EOF"

// shValue writes a shell command: a heredoc for multi-line scripts, a list
// for "a && b" chains, else a quoted string.
func shValue(sh string, depth int) string {
	if strings.Contains(sh, "\n") && strings.HasSuffix(sh, "\n") {
		return heredoc(sh, depth)
	}
	parts := splitAnd(sh)
	if len(parts) > 1 && !strings.Contains(sh, "\n") {
		clean := true
		for _, p := range parts {
			if p == "" || strings.TrimSpace(p) != p {
				clean = false
			}
		}
		if clean {
			var sb strings.Builder
			sb.WriteString("[\n")
			for _, p := range parts {
				sb.WriteString(`"` + quoteLit(p) + "\",\n")
			}
			sb.WriteString("]")
			return sb.String()
		}
	}
	return `"` + quoteLit(sh) + `"`
}

// splitAnd splits a command at the " && " that are outside quotes, so that
// joining the parts with " && " (what the HCL front end does with a list)
// gives the command back. A && inside parentheses, $(...) or backquotes
// stays: only a chain of whole commands is split.
func splitAnd(sh string) []string {
	var parts []string
	var quote byte
	depth := 0
	start := 0
	for i := 0; i < len(sh); i++ {
		c := sh[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '\'' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\\':
			i++
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(' || c == '{':
			depth++
		case (c == ')' || c == '}') && depth > 0:
			depth--
		case depth == 0 && strings.HasPrefix(sh[i:], " && "):
			parts = append(parts, sh[start:i])
			start = i + len(" && ")
			i += len(" && ") - 1
		}
	}
	return append(parts, sh[start:])
}

// heredoc writes s (ending in a newline) as an HCL heredoc. The indented
// form is used only when HCL's indentation stripping gives back s exactly.
func heredoc(s string, depth int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	marker := "EOT"
	for n := 2; ; n++ {
		clash := false
		for _, l := range lines {
			if strings.TrimSpace(l) == marker {
				clash = true
			}
		}
		if !clash {
			break
		}
		marker = "EOT" + strconv.Itoa(n)
	}
	flush := false
	for _, l := range lines {
		if l != "" && strings.TrimSpace(l) == "" {
			flush = false
			break
		}
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			flush = true
		}
	}
	var sb strings.Builder
	if !flush {
		sb.WriteString("<<" + marker + "\n")
		for _, l := range lines {
			sb.WriteString(heredocLit(l) + "\n")
		}
		sb.WriteString(marker)
		return sb.String()
	}
	indent := strings.Repeat("  ", depth+1)
	sb.WriteString("<<-" + marker + "\n")
	for _, l := range lines {
		if l != "" {
			sb.WriteString(indent)
		}
		sb.WriteString(heredocLit(l) + "\n")
	}
	sb.WriteString(strings.Repeat("  ", depth) + marker)
	return sb.String()
}

func (w *writer) mount(body *hclwrite.Body, m mountForm) {
	b := body.AppendNewBlock("mount", []string{m.Type}).Body()
	str := func(name string, v text) {
		b.SetAttributeRaw(name, raw(w.text(v)))
	}
	switch m.Type {
	case "cache":
		str("target", m.Target)
		if m.ID.Value != m.Target.Value {
			str("id", m.ID)
		}
		if m.Sharing != "" && m.Sharing != "shared" {
			str("sharing", lit(m.Sharing))
		}
	case "secret":
		str("id", m.ID)
		if m.Target.Value != "" && (m.Target.Value != "/run/secrets/"+m.ID.Value || m.Env.Value != "") {
			str("target", m.Target)
		}
		if m.Env.Value != "" {
			str("env", m.Env)
		}
		if m.Required {
			b.SetAttributeRaw("required", raw("true"))
		}
	case "ssh":
		if m.ID.Value != "default" {
			str("id", m.ID)
		}
		if m.Target.Value != "" {
			str("target", m.Target)
		}
		if m.Required {
			b.SetAttributeRaw("required", raw("true"))
		}
	default:
		str("target", m.Target)
	}
	if m.Source.Value != "" {
		str("source", m.Source)
	}
	if m.From != nil {
		b.SetAttributeRaw("from", raw(w.base(m.From)))
	}
	switch m.Type {
	case "bind":
		if !m.ReadOnly {
			b.SetAttributeRaw("readonly", raw("false"))
		}
	case "cache":
		if m.ReadOnly {
			b.SetAttributeRaw("readonly", raw("true"))
		}
	}
	if m.Mode != nil {
		str("mode", lit(fmt.Sprintf("%04o", *m.Mode)))
	}
	if m.UID != nil {
		b.SetAttributeRaw("uid", raw(strconv.Itoa(*m.UID)))
	}
	if m.GID != nil {
		b.SetAttributeRaw("gid", raw(strconv.Itoa(*m.GID)))
	}
	if m.Size != 0 {
		b.SetAttributeRaw("size", raw(strconv.FormatInt(m.Size, 10)))
	}
}

// srcValue writes sources as a string or a list, with their templates.
func (w *writer) srcValue(src []text) string {
	parts := make([]string, len(src))
	for i, s := range src {
		parts[i] = w.text(s)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// checkSteps is model.CheckStep of every step, in layers too.
func checkSteps(steps []model.Step) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, s := range steps {
		diags = append(diags, model.CheckStep(s)...)
	}
	return diags
}

// base renders a base or a copy or mount source: a stage reference, or an
// image reference as the Dockerfile wrote it.
func (w *writer) base(f *baseForm) string {
	if f.Written != "" {
		tmpl := quoted(resolveDecls(f.Written, w.varNames))
		if len(f.Stages) == 0 {
			return tmpl
		}
		// BuildKit reads the expanded name as a stage's when one has it
		// (in any case), else as an image reference.
		var b strings.Builder
		for _, s := range f.Stages {
			fmt.Fprintf(&b, "lower(%s) == %s ? %s : ", tmpl, quoted(quoteLit(strings.ToLower(s))), w.stageRef(s))
		}
		return b.String() + tmpl
	}
	switch b := f.Base.(type) {
	case *model.Target:
		return w.stageRef(b.Name)
	case *model.Image:
		return quoted(quoteLit(b.Ref.Qualified()))
	}
	return `"scratch"`
}

func (w *writer) copyStep(body *hclwrite.Body, c *copyForm, depth int) {
	b := body.AppendNewBlock("copy", nil).Body()
	if c.Content != nil {
		w.inlineFile(b, c, depth)
		return
	}
	b.SetAttributeRaw("src", raw(w.srcValue(c.Src)))
	b.SetAttributeRaw("dest", raw(w.text(c.Dest)))
	if c.From != nil {
		b.SetAttributeRaw("from", raw(w.base(c.From)))
	}
	w.fileAttrs(b, c.fileForm)
	if c.Parents {
		b.SetAttributeRaw("parents", raw("true"))
	}
}

func (w *writer) addStep(body *hclwrite.Body, a *addForm) {
	b := body.AppendNewBlock("add", nil).Body()
	if a.URL.Value != "" {
		b.SetAttributeRaw("url", raw(w.text(a.URL)))
		if a.Checksum.Value != "" {
			b.SetAttributeRaw("checksum", raw(w.text(a.Checksum)))
		}
	} else if g := a.Git; g != nil {
		ref := g.Ref
		if g.Commit != "" {
			// HCL has no check of a ref against a commit: the commit,
			// which the step is keyed and checked out by, is kept.
			ref = g.Commit
		}
		gt := gitText{Remote: lit(g.Remote), Ref: lit(ref), Subdir: lit(g.Subdir)}
		if a.GitText != nil {
			gt = *a.GitText
		}
		b.SetAttributeRaw("git", raw(w.text(gt.Remote)))
		if gt.Ref.Value != "" || gt.Ref.Tmpl != "" {
			b.SetAttributeRaw("ref", raw(w.text(gt.Ref)))
		}
		if gt.Subdir.Value != "" || gt.Subdir.Tmpl != "" {
			b.SetAttributeRaw("subdir", raw(w.text(gt.Subdir)))
		}
		if g.KeepGitDir {
			b.SetAttributeRaw("keep_git_dir", raw("true"))
		}
		if g.SkipSubmodules {
			b.SetAttributeRaw("submodules", raw("false"))
		}
	} else {
		b.SetAttributeRaw("src", raw(w.srcValue(a.Src)))
	}
	b.SetAttributeRaw("dest", raw(w.text(a.Dest)))
	if a.Extract {
		b.SetAttributeRaw("extract", raw("true"))
	}
	w.fileAttrs(b, a.fileForm)
}

func (w *writer) fileAttrs(b *hclwrite.Body, f fileForm) {
	if len(f.Exclude) > 0 {
		b.SetAttributeRaw("exclude", raw(strList(f.Exclude)))
	}
	if f.Chown.Value != "" {
		b.SetAttributeRaw("chown", raw(w.text(f.Chown)))
	}
	if f.Chmod.Value != "" {
		b.SetAttributeRaw("chmod", raw(w.text(f.Chmod)))
	}
	if f.Link {
		b.SetAttributeRaw("link", raw("true"))
	}
}

func (w *writer) config(body *hclwrite.Body, c *configForm) {
	b := body.AppendNewBlock("config", nil).Body()
	if c.EntrypointSet {
		b.SetAttributeRaw("entrypoint", raw(strList(c.Entrypoint)))
	}
	if c.CmdSet {
		b.SetAttributeRaw("cmd", raw(strList(c.Cmd)))
	}
	if len(c.Env) > 0 {
		b.SetAttributeRaw("env", raw(w.envObject(&c.Range, c.Env)))
	}
	if c.User.Value != "" {
		b.SetAttributeRaw("user", raw(w.text(c.User)))
	}
	if c.Workdir.Value != "" {
		b.SetAttributeRaw("workdir", raw(w.text(c.Workdir)))
	}
	if len(c.Labels) > 0 {
		keys := make([]string, 0, len(c.Labels))
		for k := range c.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		sb.WriteString("{\n")
		for _, k := range keys {
			fmt.Fprintf(&sb, "\"%s\" = %s\n", quoteLit(k), w.text(c.Labels[k]))
		}
		sb.WriteString("}")
		b.SetAttributeRaw("labels", raw(sb.String()))
	}
	if len(c.Expose) > 0 {
		parts := make([]string, len(c.Expose))
		for i, p := range c.Expose {
			parts[i] = w.text(p)
		}
		b.SetAttributeRaw("expose", raw("["+strings.Join(parts, ", ")+"]"))
	}
	if len(c.Volumes) > 0 {
		parts := make([]string, len(c.Volumes))
		for i, v := range c.Volumes {
			parts[i] = w.text(v)
		}
		b.SetAttributeRaw("volumes", raw("["+strings.Join(parts, ", ")+"]"))
	}
	if c.StopSignal.Value != "" {
		b.SetAttributeRaw("stop_signal", raw(w.text(c.StopSignal)))
	}
	if c.Author.Value != "" {
		b.SetAttributeRaw("author", raw(w.text(c.Author)))
	}
	if len(c.OnBuild) > 0 {
		var sb strings.Builder
		sb.WriteString("[\n")
		for _, o := range c.OnBuild {
			sb.WriteString(`"` + quoteLit(o) + "\",\n")
		}
		sb.WriteString("]")
		b.SetAttributeRaw("onbuild", raw(sb.String()))
	}
	if c.Shell != nil {
		b.SetAttributeRaw("shell", raw(strList(c.Shell)))
	}
	if h := c.Healthcheck; h != nil {
		hb := b.AppendNewBlock("healthcheck", nil).Body()
		hb.SetAttributeRaw("test", raw(strList(h.Test)))
		for _, d := range []struct{ name, v string }{{"interval", h.Interval}, {"timeout", h.Timeout}, {"start_period", h.StartPeriod}, {"start_interval", h.StartInterval}} {
			if d.v != "" {
				hb.SetAttributeRaw(d.name, raw(`"`+d.v+`"`))
			}
		}
		if h.Retries != 0 {
			hb.SetAttributeRaw("retries", raw(strconv.Itoa(h.Retries)))
		}
	}
}
