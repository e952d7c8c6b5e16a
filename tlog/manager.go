package tlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"k8s.io/klog/v2"
)

// Config configures a Manager.
type Config struct {
	// Dir holds one directory per log.
	Dir string
	// ChainID names the chain in every log's origin (see Origin).
	ChainID string
	Options Options
	Logger  *slog.Logger
}

// Manager holds a node's logs.
type Manager struct {
	cfg  Config
	mu   sync.Mutex
	logs map[string]*Log
}

var klogOnce sync.Once

// NewManager opens every log in cfg.Dir.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// tessera logs through klog; send it to our logger, not stderr.
	klogOnce.Do(func() { klog.SetSlogLogger(cfg.Logger.With("module", "tessera")) })
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to open the logs directory: %w", err)
	}
	m := &Manager{cfg: cfg, logs: map[string]*Log{}}
	ents, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() || !ValidName(e.Name()) {
			continue
		}
		if _, err := os.Stat(filepath.Join(cfg.Dir, e.Name(), infoFile)); err != nil {
			continue // a creation that did not finish
		}
		l, err := OpenLog(filepath.Join(cfg.Dir, e.Name()), cfg.Options)
		if err != nil {
			m.Close(context.Background())
			return nil, fmt.Errorf("failed to open log %s: %w", e.Name(), err)
		}
		m.logs[e.Name()] = l
	}
	return m, nil
}

// Create makes a new log. Creating a log that exists with the same purpose
// returns it (so a client may retry); another purpose is ErrExists.
func (m *Manager) Create(name, purpose string) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.logs[name]; ok {
		if l.info.Purpose != purpose {
			return nil, fmt.Errorf("%w: %s (purpose %s)", ErrExists, name, l.info.Purpose)
		}
		return l, nil
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("%w %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", ErrBadName, name)
	}
	l, err := CreateLog(filepath.Join(m.cfg.Dir, name), name, Origin(m.cfg.ChainID, name), purpose, m.cfg.Options)
	if err != nil {
		return nil, err
	}
	m.logs[name] = l
	m.cfg.Logger.Info("created log", "log", name, "origin", l.info.Origin, "purpose", purpose)
	return l, nil
}

// Get returns an open log or an error wrapping ErrNotFound.
func (m *Manager) Get(name string) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.logs[name]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
}

// Logs returns the open logs sorted by name.
func (m *Manager) Logs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *Log) int {
		if a.info.Name < b.info.Name {
			return -1
		}
		return 1
	})
	return out
}

// Close closes every log.
func (m *Manager) Close(ctx context.Context) error {
	var errs []error
	for _, l := range m.Logs() {
		errs = append(errs, l.Close(ctx))
	}
	return errors.Join(errs...)
}
