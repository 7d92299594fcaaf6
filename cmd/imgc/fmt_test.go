package main

import "testing"

// gotextdiff's headers after the first hunk are recounted: the new file's
// lines start where the earlier hunks' additions and removals put them.
func TestFixHunkHeaders(t *testing.T) {
	in := "--- old/a\n+++ new/a\n@@ -1,3 +1,4 @@\n a\n+x\n b\n c\n@@ -10,3 +5,3 @@\n d\n-e\n+E\n f\n@@ -20,3 +1,2 @@\n g\n-h\n i\n"
	want := "--- old/a\n+++ new/a\n@@ -1,3 +1,4 @@\n a\n+x\n b\n c\n@@ -10,3 +11,3 @@\n d\n-e\n+E\n f\n@@ -20,3 +21,2 @@\n g\n-h\n i\n"
	if got := fixHunkHeaders(in); got != want {
		t.Errorf("fixHunkHeaders =\n%s\nwant\n%s", got, want)
	}
}
