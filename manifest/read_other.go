//go:build !linux

package manifest

import (
	"errors"
	"os"
)

// mapRange is not used outside Linux: workers read instead.
func mapRange(f *os.File, off, n int64) ([]byte, func(), error) {
	return nil, nil, errors.New("mmap not used on this platform")
}
