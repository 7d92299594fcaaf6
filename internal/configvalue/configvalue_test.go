package configvalue

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPorts(t *testing.T) {
	for _, c := range []struct {
		word string
		want []string
		err  bool
	}{
		{word: "80", want: []string{"80/tcp"}},
		{word: "53/UDP", want: []string{"53/udp"}},
		{word: "9000-9002/sctp", want: []string{"9000/sctp", "9001/sctp", "9002/sctp"}},
		{word: "127.0.0.1:8080/tcp", want: []string{"8080/tcp"}},
		{word: "80/http", err: true},
		{word: "web", err: true},
		{word: "0", err: true},
		{word: "65536", err: true},
		{word: "10-9", err: true},
		{word: "", err: true},
	} {
		got, err := Ports(c.word)
		if (err != nil) != c.err {
			t.Errorf("Ports(%q) error = %v, want error %v", c.word, err, c.err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("Ports(%q) (-want +got):\n%s", c.word, diff)
		}
	}
}

func TestSignal(t *testing.T) {
	for s, want := range map[string]bool{
		"SIGTERM": true, "term": true, "9": true, "64": true, "RTMIN+3": true, "SIGRTMAX-30": true,
		"0": false, "65": false, "": false, "SIGFOO": false, "RTMIN+31": false, "web": false,
	} {
		if got := Signal(s); got != want {
			t.Errorf("Signal(%q) = %v, want %v", s, got, want)
		}
	}
}
