//go:build !amd64 || purego

package b3simd

const haveKernel = false

func hash16(in *byte, stride uintptr, blocks uintptr, key *[8]uint32, ctr *[32]uint32, flags, flagsStart, flagsEnd uint32, out *[16][8]uint32) {
	panic("b3simd: no kernel")
}
