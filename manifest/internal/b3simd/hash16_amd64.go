//go:build amd64 && !purego

package b3simd

import "golang.org/x/sys/cpu"

//go:generate go run gen.go -out hash16_amd64.s

// haveKernel: the kernel needs AVX-512 Foundation, which cpu also checks
// that the OS saves (ZMM state in XCR0).
var haveKernel = cpu.X86.HasAVX512F

// hash16 compresses blocks 64-byte blocks of each of 16 inputs, input i
// starting at in + i×stride, from key: lane i's counter is ctr[i] (low
// word) and ctr[16+i] (high word), its flags flags, with flagsStart added
// on the first block and flagsEnd on the last, and its chaining value
// goes to out[i]. Every block is full (64 bytes). blocks must be ≥ 1.
//
//go:noescape
func hash16(in *byte, stride uintptr, blocks uintptr, key *[8]uint32, ctr *[32]uint32, flags, flagsStart, flagsEnd uint32, out *[16][8]uint32)
