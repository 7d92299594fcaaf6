package engine_test

import (
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// A step's working directory, made for it when the image lacks it, is not
// one of its writes: neither it nor the directories above it need be
// declared, but what is below it does.
func TestCheckWritesWorkdir(t *testing.T) {
	l := &ir.Layer{Name: "user", Steps: []ir.Step{&ir.Run{Shell: true, Command: "adduser app", Workdir: "/srv/app", Writes: []string{"/etc", "/home/app"}}}}
	if err := engine.CheckWriteNames(l, []string{"srv/", "srv/app/", "etc/", "etc/passwd", "home/app/"}); err != nil {
		t.Errorf("the working directory made for the step: %v", err)
	}
	err := engine.CheckWriteNames(l, []string{"srv/", "srv/app/", "srv/app/log", "srv/other"})
	if err == nil || !strings.Contains(err.Error(), "/srv/app/log, /srv/other") || strings.Contains(err.Error(), "/srv/app,") {
		t.Errorf("files in and beside the working directory: %v, want an error naming /srv/app/log and /srv/other only", err)
	}
	if err != nil && !strings.Contains(err.Error(), "(/etc, /home/app)") {
		t.Errorf("the declared writes are not listed plainly: %v", err)
	}
}
