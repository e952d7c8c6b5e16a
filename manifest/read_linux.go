package manifest

import (
	"os"
	"syscall"
)

// mapRange maps n bytes of f at off read-only, pre-faulted from the page
// cache (MAP_POPULATE). Hashing straight from the mapping saves the copy
// that read makes, which costs as much CPU as BLAKE3 itself.
func mapRange(f *os.File, off, n int64) (data []byte, unmap func(), err error) {
	page := int64(os.Getpagesize())
	start := off &^ (page - 1)
	m, err := syscall.Mmap(int(f.Fd()), start, int(n+off-start), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, nil, err
	}
	return m[off-start:], func() { syscall.Munmap(m) }, nil
}
