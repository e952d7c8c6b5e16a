package provider

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Work is what the daemon remembers of one assignment. It is on disk
// (synced) before any transaction that depends on it is sent.
type Work struct {
	Job      uint64 `json:"job"`
	Assigned int64  `json:"assigned"` // the assignment's height: a new one in the same job starts afresh
	Role     string `json:"role"`
	// The result: the output's digest and CID, and the commitment's salt.
	Output    []byte `json:"output,omitempty"`
	OutputCID string `json:"output_cid,omitempty"`
	Salt      []byte `json:"salt,omitempty"`
	// Evidence for zk and tee jobs (the proof).
	Evidence []byte `json:"evidence,omitempty"`
	// Failed says why the job could not be run (it is declined).
	Failed string `json:"failed,omitempty"`
	// Pending is a transaction that may still land: nothing more is sent
	// for this job until it is found or its timeout height has passed.
	PendingTx      string `json:"pending_tx,omitempty"`
	PendingTimeout uint64 `json:"pending_timeout,omitempty"`
	PendingKind    string `json:"pending_kind,omitempty"`
	// Logged is the inference log index of the record (or -1).
	Logged int64 `json:"logged"`
	// Deleted marks the record of a finished job in the journal.
	Deleted bool `json:"deleted,omitempty"`
}

// Store keeps Work records in an append-only journal (one JSON record a
// line, the last one of a job wins), so a round of work costs one fsync
// however many jobs it touched. The journal is rewritten when mostly
// stale. A torn last line (a crash mid-write) was never acknowledged and
// is dropped.
type Store struct {
	dir string

	mu    sync.Mutex
	f     *os.File
	works map[uint64]Work
	lines int
}

const journalName = "work.jsonl"

// OpenStore opens (creating) the store in dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, journalName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, f: f, works: map[uint64]Work{}}
	r := bufio.NewReader(f)
	var good int64
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // a line without its newline is torn
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		var w Work
		if json.Unmarshal(line, &w) != nil {
			break
		}
		good += int64(len(line))
		s.lines++
		if w.Deleted {
			delete(s.works, w.Job)
		} else {
			s.works[w.Job] = w
		}
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the journal.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// Get returns a copy of a job's record (nil if none).
func (s *Store) Get(job uint64) (*Work, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.works[job]
	if !ok {
		return nil, nil
	}
	return &w, nil
}

// Put writes one record durably.
func (s *Store) Put(w *Work) error { return s.PutAll([]*Work{w}) }

// PutAll writes records with one fsync.
func (s *Store) PutAll(ws []*Work) error {
	if len(ws) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, w := range ws {
		b, err := json.Marshal(w)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	for _, w := range ws {
		if w.Deleted {
			delete(s.works, w.Job)
		} else {
			s.works[w.Job] = *w
		}
	}
	s.lines += len(ws)
	return s.maybeCompact()
}

// Delete forgets jobs.
func (s *Store) Delete(jobs ...uint64) error {
	ws := make([]*Work, len(jobs))
	for i, j := range jobs {
		ws[i] = &Work{Job: j, Deleted: true}
	}
	return s.PutAll(ws)
}

// Jobs lists the jobs with records.
func (s *Store) Jobs() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint64, 0, len(s.works))
	for id := range s.works {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// maybeCompact rewrites the journal with the live records once most of
// its lines are stale: to a synced temporary file renamed over it.
func (s *Store) maybeCompact() error {
	if s.lines < 4096 || s.lines < 4*len(s.works) {
		return nil
	}
	path := filepath.Join(s.dir, journalName)
	tmp, err := os.CreateTemp(s.dir, ".work-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	for _, id := range slices.Sorted(maps.Keys(s.works)) {
		b, _ := json.Marshal(s.works[id])
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		tmp.Close()
		return err
	}
	if d, err := os.Open(s.dir); err == nil {
		d.Sync()
		d.Close()
	}
	s.f.Close()
	s.f = tmp
	if _, err := s.f.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("compact %s: %w", path, err)
	}
	s.lines = len(s.works)
	return nil
}
