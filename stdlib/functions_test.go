package stdlib

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// eval evaluates an HCL expression with the functions of baseDir.
func eval(t *testing.T, baseDir, src string) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parsing %s: %v", src, diags)
	}
	return expr.Value(&hcl.EvalContext{Functions: Functions(baseDir)})
}

func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"hello.txt":           "hello\n",
		"tmpl/greeting.tmpl":  "Hello, ${name}! %{ for p in pkgs }[${upper(p)}]%{ endfor }",
		"tmpl/self.tmpl":      "${templatefile(\"x\", {})}",
		"tmpl/broken.tmpl":    "ok\n%{ if true }\nno end",
		"src/a.go":            "package a",
		"src/a_test.go":       "package a",
		"src/sub/b.go":        "package b",
		"src/sub/deep/c.go":   "package c",
		"src/sub/deep/README": "c",
		"binary.bin":          "\xff\xfe",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func strs(s ...string) cty.Value {
	vals := make([]cty.Value, len(s))
	for i, v := range s {
		vals[i] = cty.StringVal(v)
	}
	return cty.SetVal(vals)
}

func TestFunctions(t *testing.T) {
	dir := testDir(t)
	t.Setenv("IMGC_TEST_SET", "from-env")
	for _, tc := range []struct {
		expr    string
		want    cty.Value
		wantErr string // a substring of the error; "" for success
	}{
		// cty standard library, a sample per family
		{`upper("abc")`, cty.StringVal("ABC"), ""},
		{`join(",", ["a", "b"])`, cty.StringVal("a,b"), ""},
		{`format("%s-%d", "v", 3)`, cty.StringVal("v-3"), ""},
		{`replace("a-b-c", "-", "_")`, cty.StringVal("a_b_c"), ""},
		{`regex("^v([0-9]+)", "v12x")`, cty.TupleVal([]cty.Value{cty.StringVal("12")}), ""},
		{`trimprefix("v1.2", "v")`, cty.StringVal("1.2"), ""},
		{`length("héllo")`, cty.NumberIntVal(5), ""},
		{`length(["a", "b"])`, cty.NumberIntVal(2), ""},
		{`length({a = 1})`, cty.NumberIntVal(1), ""},
		{`length(5)`, cty.NilVal, "argument must be a string"},
		{`concat(["a"], ["b"])`, cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}), ""},
		{`contains(["a", "b"], "b")`, cty.True, ""},
		{`merge({a = 1}, {b = 2})`, cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1), "b": cty.NumberIntVal(2)}), ""},
		{`max(1, 5, 3)`, cty.NumberIntVal(5), ""},
		{`parseint("ff", 16)`, cty.NumberIntVal(255), ""},
		{`jsonencode({a = [1]})`, cty.StringVal(`{"a":[1]}`), ""},
		{`jsondecode("[true]")`, cty.TupleVal([]cty.Value{cty.True}), ""},
		{`formatdate("YYYY-MM-DD", "2024-03-01T10:00:00Z")`, cty.StringVal("2024-03-01"), ""},
		{`tostring(3)`, cty.StringVal("3"), ""},
		{`can(regex("^[0-9]+$", "abc"))`, cty.False, ""},
		{`try(tonumber("x"), 7)`, cty.NumberIntVal(7), ""},

		// Terraform's, where go-cty's differ or are missing
		{`index(["a", "b"], "b")`, cty.NumberIntVal(1), ""},
		{`index(["a", "b"], "c")`, cty.NilVal, "item not found"},
		{`coalesce("", "x")`, cty.StringVal("x"), ""},
		{`coalesce(null, 2)`, cty.NumberIntVal(2), ""},
		{`replace("a1b2", "/[0-9]/", "X")`, cty.StringVal("aXbX"), ""},
		{`replace("v1.2", "/v([0-9]+)/", "$1")`, cty.StringVal("1.2"), ""},
		{`replace("a/b", "/", "-")`, cty.StringVal("a-b"), ""},
		{`lookup({a = "1"}, "a")`, cty.StringVal("1"), ""},
		{`lookup({a = "1"}, "b", "d")`, cty.StringVal("d"), ""},
		{`lookup({a = "1"}, "b")`, cty.NilVal, "has no key"},
		{`startswith("v1.2", "v")`, cty.True, ""},
		{`endswith("a.tar.gz", ".gz")`, cty.True, ""},
		{`strcontains("hello", "ell")`, cty.True, ""},
		{`basename("/a/b/c.txt")`, cty.StringVal("c.txt"), ""},
		{`dirname("/a/b/c.txt")`, cty.StringVal("/a/b"), ""},
		{`urlencode("a b&c")`, cty.StringVal("a+b%26c"), ""},
		{`md5("hello")`, cty.StringVal("5d41402abc4b2a76b9719d911017c592"), ""},
		{`sha1("hello")`, cty.StringVal("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"), ""},
		{`base64sha256("hello")`, cty.StringVal("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="), ""},
		{`alltrue([true, true])`, cty.True, ""},
		{`anytrue([false, true])`, cty.True, ""},
		{`alltrue([])`, cty.True, ""},
		{`sum([1, 2, 3.5])`, cty.NumberFloatVal(6.5), ""},
		{`one(["x"])`, cty.StringVal("x"), ""},
		{`one([])`, cty.NullVal(cty.DynamicPseudoType), ""},

		// imgc's own
		{`env("IMGC_TEST_SET")`, cty.StringVal("from-env"), ""},
		{`env("IMGC_TEST_UNSET", "fallback")`, cty.StringVal("fallback"), ""},
		{`env("IMGC_TEST_UNSET")`, cty.NilVal, "is not set"},
		{`env("A", "b", "c")`, cty.NilVal, "at most one default"},
		{`sha256("hello\n")`, cty.StringVal("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"), ""},
		{`base64encode("imgc")`, cty.StringVal("aW1nYw=="), ""},
		{`base64decode("aW1nYw==")`, cty.StringVal("imgc"), ""},
		{`base64decode("!!")`, cty.NilVal, "decoding base64"},
		{`base64decode("//4=")`, cty.NilVal, "not valid UTF-8"},
		{`semvercmp("1.2.3", "v1.10.0")`, cty.NumberIntVal(-1), ""},
		{`semvercmp("2.0.0", "2.0.0")`, cty.NumberIntVal(0), ""},
		{`semvercmp("2.0.0", "2.0.0-rc.1")`, cty.NumberIntVal(1), ""},
		{`semvercmp("1.x", "1.0.0")`, cty.NilVal, "not a semantic version"},
		{`file("hello.txt")`, cty.StringVal("hello\n"), ""},
		{`file("missing.txt")`, cty.NilVal, "no file exists at missing.txt"},
		{`file("binary.bin")`, cty.NilVal, "not valid UTF-8"},
		{`fileexists("hello.txt")`, cty.True, ""},
		{`filebase64("hello.txt")`, cty.StringVal("aGVsbG8K"), ""},
		{`filebase64("missing.txt")`, cty.NilVal, "no file exists at missing.txt"},
		{`abspath("/x/../y")`, cty.StringVal("/y"), ""},
		{`fileexists("missing.txt")`, cty.False, ""},
		{`fileexists("src")`, cty.NilVal, "not a regular file"},
		{`filesha256("hello.txt")`, cty.StringVal("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"), ""},
		{`fileset("src", "*.go")`, strs("a.go", "a_test.go"), ""},
		{`fileset("src", "**/*.go")`, strs("a.go", "a_test.go", "sub/b.go", "sub/deep/c.go"), ""},
		{`fileset("src", "sub/**")`, strs("sub/b.go", "sub/deep/README", "sub/deep/c.go"), ""},
		{`fileset("src", "**/deep/?.go")`, strs("sub/deep/c.go"), ""},
		{`fileset("src", "*.rs")`, cty.SetValEmpty(cty.String), ""},
		{`fileset("src", "[")`, cty.NilVal, "invalid pattern"},
		{`fileset("nodir", "*")`, cty.SetValEmpty(cty.String), ""},
		{`templatefile("tmpl/greeting.tmpl", {name = "imgc", pkgs = ["a", "b"]})`, cty.StringVal("Hello, imgc! [A][B]"), ""},
		{`templatefile("tmpl/greeting.tmpl", {name = "imgc"})`, cty.NilVal, `refers to "pkgs"`},
		{`templatefile("tmpl/self.tmpl", {})`, cty.NilVal, "templatefile"},
		{`templatefile("tmpl/broken.tmpl", {})`, cty.NilVal, "parsing the template tmpl/broken.tmpl, line 3: Unexpected end of template"},
		{`templatefile("tmpl/missing.tmpl", {})`, cty.NilVal, "no file exists at tmpl/missing.tmpl"},
		{`templatefile("tmpl/greeting.tmpl", "x")`, cty.NilVal, "object or a map"},
		{`yamlencode({b = [1, "two"], a = {c = true, d = null}, e = []})`,
			cty.StringVal("\"a\":\n  \"c\": true\n  \"d\": null\n\"b\":\n  - 1\n  - \"two\"\n\"e\": []\n"), ""},
		{`yamlencode("yes")`, cty.StringVal("\"yes\"\n"), ""},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got, diags := eval(t, dir, tc.expr)
			if tc.wantErr != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.wantErr) {
					t.Fatalf("got %#v, %v; want an error containing %q", got, diags, tc.wantErr)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if !got.RawEquals(tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestFunctionsAbsolutePath(t *testing.T) {
	dir := testDir(t)
	got, diags := eval(t, t.TempDir(), `file("`+filepath.Join(dir, "hello.txt")+`")`)
	if diags.HasErrors() || got.AsString() != "hello\n" {
		t.Fatalf("file with an absolute path = %#v, %v", got, diags)
	}
}
