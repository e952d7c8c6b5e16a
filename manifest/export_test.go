package manifest

import "time"

// Test hooks for the black-box tests.

func SetRacyWindow(d time.Duration) (restore func()) {
	old := racyWindow
	racyWindow = d
	return func() { racyWindow = old }
}

func SetReadHook(f func(rel string)) (restore func()) {
	testHookRead = f
	return func() { testHookRead = nil }
}

func SetBlake3PieceSize(n int64) (restore func()) {
	old := blake3PieceSize
	blake3PieceSize = n
	return func() { blake3PieceSize = old }
}

var ComparePaths = comparePaths

func SetMmap(on bool) (restore func()) {
	old := useMmap
	useMmap = on
	return func() { useMmap = old }
}
