package tlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	tclient "github.com/transparency-dev/tessera/client"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/logs"
	"github.com/vai-dev/vai/wire"
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Manager *Manager
	Client  *client.Client
	// Interval between rounds that witness every log that grew (default 1s).
	Interval time.Duration
	Logger   *slog.Logger
}

// Publisher submits logs' new checkpoints to the chain, each with a
// consistency proof from the one the chain witnessed last, signed by the
// log's publisher account (derived from its operator key, funded by
// whoever registered the log).
type Publisher struct {
	cfg   PublisherConfig
	mu    sync.Mutex
	locks map[string]*sync.Mutex
	kick  chan struct{}
}

var _ Witness = (*Publisher)(nil)

// NewPublisher returns a publisher; call Run to witness on an interval.
func NewPublisher(cfg PublisherConfig) *Publisher {
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, locks: map[string]*sync.Mutex{}, kick: make(chan struct{}, 1)}
}

func (p *Publisher) lock(name string) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.locks[name]
	if !ok {
		l = &sync.Mutex{}
		p.locks[name] = l
	}
	return l
}

// Witnessed implements Witness: the chain's latest witnessed checkpoint of
// a log, nil if it has none or the log is not registered.
func (p *Publisher) Witnessed(ctx context.Context, name string) (*Witnessed, error) {
	var r logs.LogResponse
	h, err := p.cfg.Client.Query(ctx, "/logs/log", map[string]string{"name": name}, &r, 0)
	if err != nil {
		var qe *client.QueryError
		if errors.As(err, &qe) && qe.Codespace == logs.Name && qe.Code == logs.ErrLogNotFound.Code {
			return nil, nil
		}
		return nil, err
	}
	_ = h
	if r.Witnessed == nil {
		return nil, nil
	}
	return &Witnessed{Size: r.Witnessed.Size, Root: r.Witnessed.Root, Checkpoint: r.Witnessed.Note, Height: r.Witnessed.Height}, nil
}

// Publish implements Witness: it waits for a checkpoint that covers every
// entry integrated so far, submits it unless the chain has it, and returns
// what the chain witnessed.
func (p *Publisher) Publish(ctx context.Context, name string) (*Witnessed, error) {
	l, err := p.cfg.Manager.Get(name)
	if err != nil {
		return nil, err
	}
	if n, err := l.Reader().IntegratedSize(ctx); err == nil && n > 0 {
		if _, err := l.Await(ctx, n-1); err != nil {
			return nil, err
		}
	}
	return p.publish(ctx, l)
}

func (p *Publisher) publish(ctx context.Context, l *Log) (*Witnessed, error) {
	mu := p.lock(l.info.Name)
	mu.Lock()
	defer mu.Unlock()
	raw, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := ParseCheckpoint(raw, l.info.Origin, l.verifier)
	if err != nil {
		return nil, err
	}
	var r logs.LogResponse
	if _, err := p.cfg.Client.Query(ctx, "/logs/log", map[string]string{"name": l.info.Name}, &r, 0); err != nil {
		return nil, fmt.Errorf("log %s on the chain: %w (register it with `vai log create`)", l.info.Name, err)
	}
	if r.Log.OperatorKey != l.info.OperatorKey {
		return nil, fmt.Errorf("log %s is registered on the chain with another operator key", l.info.Name)
	}
	var from uint64
	if w := r.Witnessed; w != nil {
		if w.Size >= cp.Size {
			return &Witnessed{Size: w.Size, Root: w.Root, Checkpoint: w.Note, Height: w.Height}, nil
		}
		from = w.Size
	}
	var prf [][]byte
	if from > 0 {
		pb, err := tclient.NewProofBuilder(ctx, cp.Size, l.Reader().ReadTile)
		if err != nil {
			return nil, err
		}
		if prf, err = pb.ConsistencyProof(ctx, from, cp.Size); err != nil {
			return nil, fmt.Errorf("consistency proof of log %s from %d to %d: %w", l.info.Name, from, cp.Size, err)
		}
	}
	msg, err := wire.NewMsg("logs/witness_checkpoint", logs.MsgWitness{Name: l.info.Name, Checkpoint: string(raw), Proof: prf})
	if err != nil {
		return nil, err
	}
	sent, err := p.cfg.Client.Send(ctx, l.publisher, client.TxOptions{Wait: true, TimeoutBlocks: 20}, msg)
	if err != nil {
		return nil, fmt.Errorf("witness log %s at size %d: %w", l.info.Name, cp.Size, err)
	}
	p.cfg.Logger.Debug("checkpoint witnessed", "log", l.info.Name, "size", cp.Size, "height", sent.Result.Height)
	return &Witnessed{Size: cp.Size, Root: cp.Root, Checkpoint: string(raw), Height: sent.Result.Height}, nil
}

// Kick asks Run for a round now.
func (p *Publisher) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run witnesses every registered log that grew, each Interval, until ctx
// ends. Logs not registered on the chain are skipped; other failures are
// logged and retried next round.
func (p *Publisher) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	failing := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
		for _, l := range p.cfg.Manager.Logs() {
			w, err := p.Witnessed(ctx, l.info.Name)
			if err != nil {
				continue
			}
			raw, err := l.Checkpoint(ctx)
			if err != nil {
				continue
			}
			cp, err := ParseCheckpoint(raw, l.info.Origin, l.verifier)
			if err != nil || (w != nil && w.Size >= cp.Size) || cp.Size == 0 {
				continue
			}
			if w == nil {
				// Not registered yet, or registered and never witnessed.
				var r logs.LogResponse
				if _, err := p.cfg.Client.Query(ctx, "/logs/log", map[string]string{"name": l.info.Name}, &r, 0); err != nil {
					continue
				}
			}
			if _, err := p.publish(ctx, l); err != nil {
				if failing[l.info.Name] != err.Error() {
					p.cfg.Logger.Warn("failed to witness a checkpoint", "log", l.info.Name, "err", err)
					failing[l.info.Name] = err.Error()
				}
				continue
			}
			delete(failing, l.info.Name)
		}
	}
}
