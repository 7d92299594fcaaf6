package dockerfile

// The templates the conversion writes instead of a model value: a field
// whose value came from an ARG expansion keeps its HCL template
// ("${var.VERSION}"), and an image reference keeps the text the Dockerfile
// wrote (the model holds it parsed and normalised). They are recorded by
// owner (a stage, step or run) and field, only when converting.

// setTmpl records the HCL template of a field whose value came from an
// expansion, when it is more than the literal value.
func (im *importer) setTmpl(owner any, field string, x expansion) {
	if !im.converting || x.Tmpl == "" || x.Tmpl == quoteLit(x.Value) {
		return
	}
	m := im.tmpl[owner]
	if m == nil {
		m = map[string]string{}
		im.tmpl[owner] = m
	}
	m[field] = x.Tmpl
}

// forceTmpl records a template whose value differs from the model's (a
// FROM that only has a value once --var gives one).
func (im *importer) forceTmpl(owner any, field, tmpl string) {
	if im.tmpl[owner] == nil {
		im.tmpl[owner] = map[string]string{}
	}
	im.tmpl[owner][field] = tmpl
}

// keepWritten records, when converting, an image reference as written
// (the model holds it parsed and normalised), unless a template is
// recorded already.
func (im *importer) keepWritten(owner any, field, written string) {
	if _, ok := im.tmpl[owner][field]; !ok && im.converting {
		im.forceTmpl(owner, field, quoteLit(written))
	}
}

// template returns the recorded template of a field, or value quoted.
func (im *importer) template(owner any, field, value string) string {
	if t, ok := im.tmpl[owner][field]; ok {
		return t
	}
	return quoteLit(value)
}
