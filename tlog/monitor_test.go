package tlog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"testing"

	tclient "github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	vtlog "github.com/vai-dev/vai/tlog"
)

// Every kind of inconsistency the monitor looks for is an error wrapping
// ErrInconsistent (which `vai log monitor` exits non-zero on), and an
// honest log passes.
func TestMonitorInconsistencies(t *testing.T) {
	_, l, srv := newServer(t)
	ctx := context.Background()
	appendN(t, l, 5)
	old, err := l.Await(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	oldCP, err := vtlog.ParseCheckpoint(old, l.Info().Origin, l.Verifier())
	if err != nil || oldCP.Size != 5 {
		t.Fatalf("checkpoint of 5 entries: %v", err)
	}
	for i := range 5 {
		if _, err := l.Append(ctx, []byte{'x', byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := l.Await(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := vtlog.ParseCheckpoint(raw, l.Info().Origin, l.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL + "/logs/inf/")
	src, _ := tclient.NewHTTPFetcher(u, nil)
	_, otherKey, _ := note.GenerateKey(rand.Reader, l.Info().Origin)
	honest := vtlog.ChainView{Origin: l.Info().Origin, OperatorKey: l.Info().OperatorKey, WitnessedSize: oldCP.Size, WitnessedRoot: oldCP.Root, Height: 7}

	m := vtlog.NewMonitor(src)
	r, err := m.Check(ctx, honest)
	if err != nil || r.Size != cp.Size || r.NewEntries != cp.Size {
		t.Fatalf("honest log: %+v %v", r, err)
	}
	cases := []struct {
		name   string
		m      *vtlog.Monitor
		view   func(v vtlog.ChainView) vtlog.ChainView
		reason string
	}{
		{"another operator key on the chain", vtlog.NewMonitor(src), func(v vtlog.ChainView) vtlog.ChainView { v.OperatorKey = otherKey; return v }, "not the operator's"},
		{"another origin on the chain", vtlog.NewMonitor(src), func(v vtlog.ChainView) vtlog.ChainView { v.Origin += "2"; return v }, "not the operator's"},
		{"rolled back below the chain", vtlog.NewMonitor(src), func(v vtlog.ChainView) vtlog.ChainView { v.WitnessedSize = cp.Size + 1; return v }, "rolled back"},
		{"forked from the chain", vtlog.NewMonitor(src), func(v vtlog.ChainView) vtlog.ChainView {
			v.WitnessedRoot = bytes.Repeat([]byte{3}, 32)
			return v
		}, "the log forked"},
		{"shrank since the last check", monitorAt(t, src, honest, old), func(v vtlog.ChainView) vtlog.ChainView { return v }, "shrank from 10 to 5"},
	}
	for _, tc := range cases {
		_, err := tc.m.Check(ctx, tc.view(honest))
		if !errors.Is(err, vtlog.ErrInconsistent) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: %v, want an inconsistency: %s", tc.name, err, tc.reason)
		}
	}
	// A monitor that saw the past checkpoint accepts the log's growth.
	sw := &switchable{Source: src, raw: old}
	m2 := vtlog.NewMonitor(sw)
	if _, err := m2.Check(ctx, honest); err != nil {
		t.Fatal(err)
	}
	sw.raw = nil
	if r, err := m2.Check(ctx, honest); err != nil || r.NewEntries != cp.Size-oldCP.Size {
		t.Fatalf("growth from 5 to 10: %+v %v", r, err)
	}
}

// monitorAt returns a monitor that checked the whole log, then reads src
// with the past checkpoint old.
func monitorAt(t *testing.T, src vtlog.Source, view vtlog.ChainView, old []byte) *vtlog.Monitor {
	t.Helper()
	sw := &switchable{Source: src}
	m := vtlog.NewMonitor(sw)
	if _, err := m.Check(context.Background(), view); err != nil {
		t.Fatal(err)
	}
	sw.raw = old
	return m
}

// switchable serves a log's tiles, with a checkpoint of its past if raw is set.
type switchable struct {
	vtlog.Source
	raw []byte
}

func (s *switchable) ReadCheckpoint(ctx context.Context) ([]byte, error) {
	if s.raw != nil {
		return s.raw, nil
	}
	return s.Source.ReadCheckpoint(ctx)
}
