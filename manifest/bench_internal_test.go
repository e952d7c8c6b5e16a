package manifest

import (
	"testing"
)

// BenchmarkBlake3 is single-core BLAKE3 over memory: the kernel the
// workers run, without I/O.
func BenchmarkBlake3(b *testing.B) {
	data := make([]byte, 64<<20)
	var s b3state
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s = b3state{}
		for i := 0; i < len(data); i += readSize {
			s.write(data[i:i+readSize], i+readSize == len(data))
		}
		blake3Root(s.node())
	}
}
