package main

import (
	"errors"

	"github.com/imgc-dev/imgc/imageio"
)

// plainError is err as one sentence: the registry's or network's trouble
// in words when unreachableSentence knows it, else the innermost message
// of the chain.
func plainError(err error) string {
	if msg := imageio.ProblemSentence(err); msg != "" {
		return msg
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// sentenceError reads as msg, a sentence for people, and unwraps to the
// error it describes.
type sentenceError struct {
	msg string
	err error
}

func (e sentenceError) Error() string { return e.msg }
func (e sentenceError) Unwrap() error { return e.err }
