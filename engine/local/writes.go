package local

import (
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// checkWrites checks the names of the entries of layer l's tar, as they
// were written, against the writes its steps declare
// (engine.CheckWriteNames): the tar is not read again.
func checkWrites(l *ir.Layer, names []string) error {
	return engine.CheckWriteNames(l, names)
}
