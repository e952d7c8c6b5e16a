// Package freeport finds blocks of free TCP ports on loopback for tests and
// benchmarks that start nodes (each node takes ten ports from its base).
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
)

// Base returns a port P such that P … P+span-1 are all free on 127.0.0.1
// (at the moment of asking).
func Base(span int) (int, error) {
	for range 200 {
		base := 20000 + 10*rand.IntN(3000)
		if base+span > 65535 {
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
