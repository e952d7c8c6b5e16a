package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Work is what the daemon remembers of one assignment. It is written to
// disk (atomically, synced) before any transaction that depends on it.
type Work struct {
	Job      uint64 `json:"job"`
	Assigned int64  `json:"assigned"` // the assignment's height: a new one in the same job starts afresh
	Role     string `json:"role"`
	// The result: the output's digest and CID, and the commitment's salt.
	Output    []byte `json:"output,omitempty"`
	OutputCID string `json:"output_cid,omitempty"`
	Salt      []byte `json:"salt,omitempty"`
	// Failed says why the job could not be run (it was declined).
	Failed string `json:"failed,omitempty"`
	// Pending is a transaction that may still land: nothing more is sent
	// for this job until it is found or its timeout height has passed.
	PendingTx      string `json:"pending_tx,omitempty"`
	PendingTimeout uint64 `json:"pending_timeout,omitempty"`
	PendingKind    string `json:"pending_kind,omitempty"`
	// Logged is the inference log index of the record (or -1).
	Logged int64 `json:"logged"`
}

// Store keeps Work records in a directory, one file per job.
type Store struct {
	dir string
}

// OpenStore opens (creating) a store in dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "jobs"), 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(job uint64) string {
	return filepath.Join(s.dir, "jobs", strconv.FormatUint(job, 10)+".json")
}

// Get reads a job's work record (nil if none).
func (s *Store) Get(job uint64) (*Work, error) {
	b, err := os.ReadFile(s.path(job))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var w Work
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("corrupt work record %s: %w", s.path(job), err)
	}
	return &w, nil
}

// Put writes a work record durably: a synced temporary file renamed over
// the old one, then the directory synced.
func (s *Store) Put(w *Work) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return writeFileSync(s.path(w.Job), b)
}

// Delete forgets a job.
func (s *Store) Delete(job uint64) error {
	err := os.Remove(s.path(job))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Jobs lists the jobs with records.
func (s *Store) Jobs() ([]uint64, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "jobs"))
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			if id, err := strconv.ParseUint(n, 10, 64); err == nil {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

// writeFileSync replaces path with data durably.
func writeFileSync(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
