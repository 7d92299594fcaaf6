package imageref

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	const d = "sha256:2424c1850714a4d94666ec928e24d86de958646737b1d113f5b2207be44d37d8"
	tests := []struct {
		ref     string
		want    Ref
		str     string // String after InDir("/proj")
		wantErr bool
	}{
		{ref: "debian", want: Ref{Kind: Registry, Name: "docker.io/library/debian:latest"}, str: "docker.io/library/debian:latest"},
		{ref: "debian:bookworm", want: Ref{Kind: Registry, Name: "docker.io/library/debian:bookworm"}, str: "docker.io/library/debian:bookworm"},
		{ref: "docker.io/library/debian:bookworm", want: Ref{Kind: Registry, Name: "docker.io/library/debian:bookworm"}, str: "docker.io/library/debian:bookworm"},
		{ref: "index.docker.io/bitnami/redis:7", want: Ref{Kind: Registry, Name: "docker.io/bitnami/redis:7"}, str: "docker.io/bitnami/redis:7"},
		{ref: "debian@" + d, want: Ref{Kind: Registry, Name: "docker.io/library/debian@" + d, Digest: d}, str: "docker.io/library/debian@" + d},
		{ref: "debian:bookworm@" + d, want: Ref{Kind: Registry, Name: "docker.io/library/debian:bookworm@" + d, Digest: d}, str: "docker.io/library/debian:bookworm@" + d},
		{ref: "localhost:5000/app", want: Ref{Kind: Registry, Name: "localhost:5000/app:latest"}, str: "localhost:5000/app:latest"},
		{ref: "ghcr.io/org/app:v1", want: Ref{Kind: Registry, Name: "ghcr.io/org/app:v1"}, str: "ghcr.io/org/app:v1"},
		{ref: "oci:layout", want: Ref{Kind: OCILayout, Path: "layout"}, str: "/proj/layout"},
		{ref: "oci:../images/base:v2", want: Ref{Kind: OCILayout, Path: "../images/base", Tag: "v2"}, str: "/images/base:v2"},
		{ref: "oci:/abs/layout", want: Ref{Kind: OCILayout, Path: "/abs/layout"}, str: "/abs/layout"},
		{ref: "oci:/a:b/layout", want: Ref{Kind: OCILayout, Path: "/a:b/layout"}, str: "/a:b/layout"},
		{ref: "oci:/l@sha256:" + hex64, want: Ref{Kind: OCILayout, Path: "/l", Digest: "sha256:" + hex64}, str: "/l@sha256:" + hex64},
		{ref: "oci:/l:v1@sha256:" + hex64, want: Ref{Kind: OCILayout, Path: "/l", Tag: "v1", Digest: "sha256:" + hex64}, str: "/l:v1@sha256:" + hex64},
		{ref: "oci:/l@x/y", want: Ref{Kind: OCILayout, Path: "/l@x/y"}, str: "/l@x/y"},
		{ref: "docker-archive:img.tar", want: Ref{Kind: DockerArchive, Path: "img.tar"}, str: "/proj/img.tar"},
		{ref: "Not A Ref", wantErr: true},
		{ref: "oci:", wantErr: true},
		{ref: "docker-archive:", wantErr: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.ref)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", tt.ref, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.ref, diff)
		}
		if s := got.InDir("/proj").String(); s != tt.str {
			t.Errorf("Parse(%q).InDir(/proj).String() = %q, want %q", tt.ref, s, tt.str)
		}
	}
}

var hex64 = strings.Repeat("ab", 32)
