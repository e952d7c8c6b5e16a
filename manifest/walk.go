package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Errors of the walk. They are wrapped in a *PathError naming the path.
var (
	// ErrSymlink: a symbolic link was found and Config.AllowSymlinks is off.
	ErrSymlink = errors.New("symbolic link found (symlinks are refused unless allowed)")
	// ErrSymlinkLoop: a symbolic link resolves to itself.
	ErrSymlinkLoop = errors.New("symbolic link loop")
	// ErrBrokenSymlink: a symbolic link points to nothing.
	ErrBrokenSymlink = errors.New("broken symbolic link")
	// ErrSpecialFile: a path is neither a regular file nor a directory
	// (socket, FIFO, device).
	ErrSpecialFile = errors.New("not a regular file or directory")
	// ErrChanged: a file changed while it was being hashed.
	ErrChanged = errors.New("file changed while being hashed")
)

// PathError records an error and the model-relative path that caused it.
type PathError struct {
	Path string // relative to the model root, slash-separated
	Err  error
}

func (e *PathError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *PathError) Unwrap() error { return e.Err }

// gitPaths are ignored at the model root unless Config.IncludeGitPaths.
var gitPaths = []string{".git", ".gitattributes", ".github", ".gitignore"}

// fileStat holds what change detection and the cache compare.
type fileStat struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
}

// walkEntry is a regular file to hash.
type walkEntry struct {
	rel  string // OMS name: slash-separated, relative to the root; "." for a file model
	path string // OS path to open
	stat fileStat
}

// normaliseIgnores returns ps sorted and free of duplicates.
func normaliseIgnores(ps []string) []string {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out)
}

// ignorePaths validates the user's ignore paths and adds the git defaults.
// The result is the recorded list: relative to the root, without a trailing
// slash, sorted, without duplicates.
func ignorePaths(user []string, includeGit bool) ([]string, error) {
	var out []string
	for _, p := range user {
		q := strings.TrimSuffix(filepath.ToSlash(p), "/")
		if q != "" && q != "." {
			q = path.Clean(q)
		}
		if err := checkRelPath(q); err != nil {
			return nil, fmt.Errorf("ignore path %q: %v (ignore paths are relative to the model root)", p, err)
		}
		out = append(out, q)
	}
	if !includeGit {
		out = append(out, gitPaths...)
	}
	return normaliseIgnores(out), nil
}

// ignored reports whether rel lies in one of ignores: OMS uses
// Path.is_relative_to, a path-component prefix, so "ckpt" ignores
// "ckpt/x" but not "ckpt_old".
func ignored(rel string, ignores []string) bool {
	for _, ig := range ignores {
		if rel == ig || (strings.HasPrefix(rel, ig) && rel[len(ig)] == '/') {
			return true
		}
	}
	return false
}

// walk lists the regular files of the model at root by the OMS walk rules.
// It fails on a refused symlink, a loop, a broken link or a special file,
// and on names that are not valid UTF-8 (JSON cannot carry them).
func walk(root string, ignores []string, allowSymlinks bool) ([]walkEntry, error) {
	fi, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if !allowSymlinks {
			return nil, &PathError{".", ErrSymlink}
		}
		if fi, err = statLink(root, "."); err != nil {
			return nil, err
		}
	}
	switch {
	case fi.Mode().IsRegular():
		return []walkEntry{{rel: ".", path: root, stat: statOf(fi)}}, nil
	case fi.IsDir():
	default:
		return nil, &PathError{".", ErrSpecialFile}
	}
	var out []walkEntry
	var rec func(dir, rel string) error
	rec = func(dir, rel string) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return &PathError{relOrDot(rel), unwrapPathErr(err)}
		}
		for _, e := range ents {
			name := e.Name()
			r := name
			if rel != "" {
				r = rel + "/" + name
			}
			if !utf8.ValidString(name) {
				return &PathError{strings.ToValidUTF8(r, "\uFFFD"), errors.New("file name is not valid UTF-8")}
			}
			if ignored(r, ignores) {
				continue
			}
			p := filepath.Join(dir, name)
			fi, err := os.Lstat(p)
			if err != nil {
				return &PathError{r, unwrapPathErr(err)}
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				if !allowSymlinks {
					return &PathError{r, ErrSymlink}
				}
				if fi, err = statLink(p, r); err != nil {
					return err
				}
				if fi.IsDir() {
					continue // OMS does not descend into linked directories
				}
			}
			switch {
			case fi.Mode().IsRegular():
				out = append(out, walkEntry{rel: r, path: p, stat: statOf(fi)})
			case fi.IsDir():
				if err := rec(p, r); err != nil {
					return err
				}
			default:
				return &PathError{r, ErrSpecialFile}
			}
		}
		return nil
	}
	if err := rec(root, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// statLink follows the symlink at p.
func statLink(p, rel string) (fs.FileInfo, error) {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return nil, &PathError{rel, ErrSymlinkLoop}
	case errors.Is(err, fs.ErrNotExist):
		return nil, &PathError{rel, ErrBrokenSymlink}
	case err != nil:
		return nil, &PathError{rel, unwrapPathErr(err)}
	}
	return fi, nil
}

func relOrDot(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// unwrapPathErr drops the OS path from err, since PathError names the
// model-relative one.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
