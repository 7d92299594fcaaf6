package compiler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/ir"
)

func TestParseRef(t *testing.T) {
	const d = "sha256:2424c1850714a4d94666ec928e24d86de958646737b1d113f5b2207be44d37d8"
	tests := []struct {
		ref     string
		want    ir.Base
		wantErr bool
	}{
		{ref: "scratch", want: ir.Base{Kind: ir.BaseScratch}},
		{ref: "debian", want: ir.Base{Kind: ir.BaseRegistry, Ref: "docker.io/library/debian:latest"}},
		{ref: "debian:bookworm", want: ir.Base{Kind: ir.BaseRegistry, Ref: "docker.io/library/debian:bookworm"}},
		{ref: "docker.io/library/debian:bookworm", want: ir.Base{Kind: ir.BaseRegistry, Ref: "docker.io/library/debian:bookworm"}},
		{ref: "index.docker.io/bitnami/redis:7", want: ir.Base{Kind: ir.BaseRegistry, Ref: "docker.io/bitnami/redis:7"}},
		{ref: "debian@" + d, want: ir.Base{Kind: ir.BaseRegistry, Ref: "docker.io/library/debian@" + d, Digest: d}},
		{ref: "debian:bookworm@" + d, want: ir.Base{Kind: ir.BaseRegistry, Ref: "docker.io/library/debian:bookworm@" + d, Digest: d}},
		{ref: "localhost:5000/app", want: ir.Base{Kind: ir.BaseRegistry, Ref: "localhost:5000/app:latest"}},
		{ref: "ghcr.io/org/app:v1", want: ir.Base{Kind: ir.BaseRegistry, Ref: "ghcr.io/org/app:v1"}},
		{ref: "oci:layout", want: ir.Base{Kind: ir.BaseOCILayout, Ref: "/proj/layout"}},
		{ref: "oci:../images/base:v2", want: ir.Base{Kind: ir.BaseOCILayout, Ref: "/images/base:v2"}},
		{ref: "oci:/abs/layout", want: ir.Base{Kind: ir.BaseOCILayout, Ref: "/abs/layout"}},
		{ref: "docker-archive:img.tar", want: ir.Base{Kind: ir.BaseDockerArchive, Ref: "/proj/img.tar"}},
		{ref: "Not A Ref", wantErr: true},
		{ref: "oci:", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseRef(tt.ref, "/proj")
		if (err != nil) != tt.wantErr {
			t.Errorf("parseRef(%q) error = %v, want error %v", tt.ref, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpKeys); diff != "" && !tt.wantErr {
			t.Errorf("parseRef(%q) (-want +got):\n%s", tt.ref, diff)
		}
	}
}
