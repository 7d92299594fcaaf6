// Package testbase gives tests a real base image without a registry: a
// busybox image made on the fly from the host's /bin/busybox (Debian's
// busybox-static) and written as an OCI image layout, plus helpers to read an
// image back as a plain directory for assertions.
//
// It is for tests only. It does not download anything, it does not make a
// Debian or any other distribution image, and its unpacking helper trusts its
// input (it is meant for images the test itself built), so it must never be
// used on untrusted layers.
package testbase
