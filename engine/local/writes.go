package local

import (
	"os"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// checkWrites checks the layer tar at tarPath against the writes its steps
// declare (engine.CheckWrites).
func checkWrites(l *ir.Layer, tarPath string) error {
	if _, ok := engine.DeclaredWrites(l); !ok {
		return nil
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	return engine.CheckWrites(l, f)
}
