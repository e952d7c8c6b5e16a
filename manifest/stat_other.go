//go:build !linux

package manifest

import "io/fs"

// statOf extracts the change-detection fields from fi. Outside Linux only
// size and mtime are used.
func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
