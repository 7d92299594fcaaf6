package imageconfig

import (
	"testing"

	"github.com/imgc-dev/imgc/ir"
)

func TestRelativeOrigin(t *testing.T) {
	tests := []struct {
		dir  string
		o    ir.Origin
		want string
	}{
		{"/src/app", ir.Origin{File: "/src/app/app.image.hcl", Line: 61, EndLine: 64}, "app.image.hcl:61-64"},
		{"/src/app", ir.Origin{File: "/src/app/docker/Dockerfile", Line: 3}, "docker/Dockerfile:3"},
		{"/src/app", ir.Origin{File: "/src/shared/base.image.hcl", Line: 2}, "../shared/base.image.hcl:2"},
		{"/src/app", ir.Origin{File: "app.image.hcl", Line: 1}, "app.image.hcl:1"},
		{"", ir.Origin{File: "/src/app/app.image.hcl", Line: 1}, "/src/app/app.image.hcl:1"},
		{"/src/app", ir.Origin{}, ""},
	}
	for _, tt := range tests {
		if got := RelativeOrigin(tt.dir, tt.o); got != tt.want {
			t.Errorf("RelativeOrigin(%q, %+v) = %q, want %q", tt.dir, tt.o, got, tt.want)
		}
	}
}
