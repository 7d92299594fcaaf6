// Package configvalue reads the values of an image config that Docker
// checks as it writes them: exposed ports and stop signals. The front
// ends check them as written; an engine checks them again once it has
// expanded a reference to the base image's environment in them.
package configvalue

import (
	"fmt"
	"strconv"
	"strings"
)

// Ports reads one word of a Dockerfile EXPOSE as Docker does: PORT,
// PORT/PROTO, FIRST-LAST/PROTO or IP:PORT/PROTO (the address ignored),
// protocol tcp, udp or sctp in any case (tcp when none is given). It
// returns each port of the word as "PORT/proto".
func Ports(word string) ([]string, error) {
	port, proto, hasProto := strings.Cut(word, "/")
	if !hasProto || proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		// Docker refuses these too (nat.ParsePortSpec).
		return nil, fmt.Errorf("the port %q has the protocol %q, which is not tcp, udp or sctp", word, proto)
	}
	if i := strings.LastIndex(port, ":"); i >= 0 {
		port = port[i+1:]
	}
	first, last, isRange := strings.Cut(port, "-")
	start, err := strconv.Atoi(first)
	if err != nil || start < 1 || start > 65535 {
		return nil, fmt.Errorf("invalid port %q", word)
	}
	end := start
	if isRange {
		end, err = strconv.Atoi(last)
		if err != nil || end < start || end > 65535 {
			return nil, fmt.Errorf("invalid port range %q", word)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, strconv.Itoa(p)+"/"+proto)
	}
	return out, nil
}

// SignalNames are the Linux signal names Docker accepts (without SIG).
var SignalNames = []string{
	"ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
	"KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "RTMAX", "RTMIN", "SEGV", "STKFLT", "STOP",
	"SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM",
	"WINCH", "XCPU", "XFSZ",
}

// Signal reports whether s is a stop signal as Docker reads one: a signal
// name with or without SIG (any case, RTMIN+N and RTMAX-N included) or a
// number from 1 to 64.
func Signal(s string) bool {
	if s != "" && strings.TrimLeft(s, "0123456789") == "" {
		n, err := strconv.Atoi(s)
		return err == nil && n >= 1 && n <= 64
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if base, n, ok := strings.Cut(name, "+"); ok && base == "RTMIN" {
		k, err := strconv.Atoi(n)
		return err == nil && k >= 0 && k <= 30
	}
	if base, n, ok := strings.Cut(name, "-"); ok && base == "RTMAX" {
		k, err := strconv.Atoi(n)
		return err == nil && k >= 0 && k <= 30
	}
	for _, n := range SignalNames {
		if n == name {
			return true
		}
	}
	return false
}
