package imageconfig

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/ir"
)

func TestRelativeOrigin(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir  string
		o    ir.Origin
		want string
	}{
		{"/src/app", ir.Origin{File: "/src/app/app.image.hcl", Line: 61, EndLine: 64}, "app.image.hcl:61-64"},
		{"/src/app", ir.Origin{File: "/src/app/docker/Dockerfile", Line: 3}, "docker/Dockerfile:3"},
		{"/src/app", ir.Origin{File: "/src/shared/base.image.hcl", Line: 2}, "../shared/base.image.hcl:2"},
		// However the path was typed (imgc build proj/Dockerfile,
		// ./proj/Dockerfile, or from proj): the same history comment.
		{"proj", ir.Origin{File: "proj/Dockerfile", Line: 13}, "Dockerfile:13"},
		{"./proj", ir.Origin{File: "proj/Dockerfile", Line: 13}, "Dockerfile:13"},
		{"proj", ir.Origin{File: "./proj/Dockerfile", Line: 13}, "Dockerfile:13"},
		{".", ir.Origin{File: "Dockerfile", Line: 13}, "Dockerfile:13"},
		{filepath.Join(wd, "proj"), ir.Origin{File: "proj/Dockerfile", Line: 13}, "Dockerfile:13"},
		{"", ir.Origin{File: "/src/app/app.image.hcl", Line: 1}, "/src/app/app.image.hcl:1"},
		{"/src/app", ir.Origin{}, ""},
	}
	for _, tt := range tests {
		if got := RelativeOrigin(tt.dir, tt.o); got != tt.want {
			t.Errorf("RelativeOrigin(%q, %+v) = %q, want %q", tt.dir, tt.o, got, tt.want)
		}
	}
}
