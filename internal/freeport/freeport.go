// Package freeport finds blocks of free TCP ports on loopback for tests and
// benchmarks that start nodes (each node takes ten ports from its base).
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 12000 {
		return 32768
	}
	return n
}

// Base returns a port P such that P … P+span-1 are all free on 127.0.0.1
// (at the moment of asking). The block is below the kernel's ephemeral
// range, so outgoing connections (which take ports from that range) cannot
// grab a port between now and when a server binds it.
func Base(span int) (int, error) {
	top := ephemeralLow() - span
	for range 200 {
		base := 10000 + 10*rand.IntN(max(1, (top-10000)/10))
		if base+span > top+span {
			continue
		}
		if free(base, span) {
			return base, nil
		}
	}
	return 0, errors.New("freeport: no free block of ports found")
}

func free(base, span int) bool {
	for i := range span {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
