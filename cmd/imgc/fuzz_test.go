package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOutputFlag: no --output value panics, and one accepted names a known
// type and a destination.
func FuzzOutputFlag(f *testing.F) {
	for _, s := range []string{"out", "type=oci,dest=out", "type=oci-archive,dest=x.tar", "type=docker,dest=x.tar",
		"type=oci", "dest=x", "type=tar,dest=x", "", ",", "=", "type=oci,dest=x,extra=1", " type = docker , dest = a "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, diags := parseOutput(s)
		if diags.HasErrors() {
			return
		}
		switch out.Type {
		case "oci", "oci-archive", "docker", "local", "tar":
		default:
			t.Fatalf("parseOutput(%q) accepted type %q", s, out.Type)
		}
		if out.Dest == "" {
			t.Fatalf("parseOutput(%q) accepted an empty dest", s)
		}
	})
}

// FuzzSecretFlag: no --secret value panics, and one accepted has an id and
// exactly one source.
func FuzzSecretFlag(f *testing.F) {
	for _, s := range []string{"id=a,src=/f", "id=a,source=/f", "id=a,env=HOME", "id=a", "src=/f", "", ",,,", "id=,src=",
		"id=a,src=/f,env=X", "id=a=b,src=c=d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, diags := parseSecret(s)
		if diags.HasErrors() {
			return
		}
		if sec.id == "" || (sec.src == "") == (sec.env == "") {
			t.Fatalf("parseSecret(%q) = %+v", s, sec)
		}
	})
}

// --secret takes buildx's forms: a relative src is the working
// directory's, type=env reads src as the variable's name, and id=ID alone
// is the variable ID if it is set, else the file ID.
func TestSecretFlagForms(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("IMGC_TEST_TOKEN", "x")
	for in, want := range map[string]secretFlag{
		"id=a,src=tok.txt":                  {id: "a", src: filepath.Join(wd, "tok.txt")},
		"id=a,src=./d/../tok.txt":           {id: "a", src: filepath.Join(wd, "tok.txt")},
		"id=a,src=/abs/tok":                 {id: "a", src: "/abs/tok"},
		"type=env,id=a,src=IMGC_TEST_TOKEN": {id: "a", env: "IMGC_TEST_TOKEN"},
		"id=a,env=IMGC_TEST_TOKEN":          {id: "a", env: "IMGC_TEST_TOKEN"},
		"id=IMGC_TEST_TOKEN":                {id: "IMGC_TEST_TOKEN", env: "IMGC_TEST_TOKEN"},
		"id=imgc-test-file":                 {id: "imgc-test-file", src: filepath.Join(wd, "imgc-test-file")},
	} {
		got, diags := parseSecret(in)
		if diags.HasErrors() {
			t.Errorf("parseSecret(%q): %s", in, diags.Error())
			continue
		}
		if got != want {
			t.Errorf("parseSecret(%q) = %+v, want %+v", in, got, want)
		}
	}
	for _, in := range []string{"src=/f", "type=ssh,id=a,src=/f"} {
		if _, diags := parseSecret(in); !diags.HasErrors() {
			t.Errorf("parseSecret(%q): no error", in)
		}
	}
}

// An env= secret is written to memory (/dev/shm where it exists), readable
// only by imgc, and removed after the build.
func TestEnvSecretFile(t *testing.T) {
	t.Setenv("IMGC_TEST_SECRET", "s3cret")
	c := &buildCmd{Secret: []string{"id=tok,env=IMGC_TEST_SECRET"}}
	_, secrets, diags := c.parseOutputsAndSecrets()
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := secrets["tok"]
	if filepath.Dir(p) != secretTempDir() {
		t.Errorf("secret file %s is not in %s", p, secretTempDir())
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v; want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "s3cret" {
		t.Errorf("secret file holds %q", b)
	}
	removeEnvSecrets(secrets)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("secret file %s still there after the build: %v", p, err)
	}
}
