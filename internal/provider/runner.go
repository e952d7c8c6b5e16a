// Package provider is the serving side of vai's inference market: the
// daemon behind `vai provider serve`. It follows the chain for jobs
// assigned to its key, fetches the model artifact and the input from the
// content store (checking both against their registered digests), runs the
// model on the deterministic runtime — or forwards the request to an
// OpenAI-compatible server for models the runtime cannot run — stores the
// output in the content store, appends an inference record to its log,
// and commits (then reveals) the result on the chain.
//
// Everything it must not forget survives a restart: the output and the
// salt of a commitment are written to disk before the commitment is sent,
// and a transaction's hash and timeout before it is broadcast, so a
// restarted daemon reveals what it committed to and never sends a second
// transaction while the first may still land.
//
// It also serves sessions (batched settlement): buyers send calls signed
// with their key over HTTP, it answers each with a signed receipt, and
// settles the calls in batches under a Merkle root.
package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/vai-dev/vai/internal/ledger/market"
	vairt "github.com/vai-dev/vai/runtime"
)

// Output is the result document of a job (market.OutputDoc).
type Output = market.OutputDoc

// Sample is one sample's result.
type Sample = market.Sample

// Digest is the SHA-256 of data.
func Digest(data []byte) []byte {
	h := sha256.Sum256(data)
	return h[:]
}

// Runner runs models: .vaim artifacts on the deterministic runtime
// (compiled once, cached by digest), and "openai" offers by forwarding to
// a configured OpenAI-compatible server.
type Runner struct {
	// OpenAI maps a model id to the base URL of an OpenAI-compatible
	// server that runs it.
	OpenAI map[string]string
	HTTP   *http.Client
	// Workers of each executor (0: GOMAXPROCS).
	Workers int

	mu    sync.Mutex
	execs map[string]*vairt.Executor
}

// ErrArtifact: the model artifact is not the one offered.
var ErrArtifact = errors.New("model artifact does not match the offer's digest")

// Load compiles a .vaim artifact after checking its SHA-256 against the
// offer's hex digest.
func (r *Runner) Load(artifact []byte, digest string) (*vairt.Executor, error) {
	if got := hex.EncodeToString(Digest(artifact)); got != digest {
		return nil, fmt.Errorf("%w: sha256 %s, offered %s", ErrArtifact, got, digest)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.execs[digest]; ok {
		return e, nil
	}
	m, err := vairt.Decode(artifact)
	if err != nil {
		return nil, fmt.Errorf("decode model: %w", err)
	}
	e, err := vairt.NewExecutor(m, vairt.ExecConfig{Workers: r.Workers})
	if err != nil {
		return nil, err
	}
	if r.execs == nil {
		r.execs = map[string]*vairt.Executor{}
	}
	r.execs[digest] = e
	return e, nil
}

// Cached returns the executor of an artifact digest loaded before.
func (r *Runner) Cached(digest string) *vairt.Executor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.execs[digest]
}

// Run runs input (decimal samples as CSV or JSON, as `vai model run`
// reads them) through a model and returns the output document's bytes.
func Run(e *vairt.Executor, modelDigest string, input []byte) ([]byte, error) {
	m := e.Model()
	rows, err := vairt.ReadSamples(bytes.NewReader(input), m.Input.Size())
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	in, err := m.QuantizeRows(rows, false)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	n := len(rows)
	out, err := e.Run(in, n)
	if err != nil {
		return nil, err
	}
	return market.NewOutputDoc(modelDigest, Digest(input), out, n).Encode(), nil
}

// ForwardOpenAI sends input (an OpenAI chat-completions request body) to
// the server configured for model and returns its response body. Such
// results are not reproducible; the market accepts them only under
// optimistic or tee verification.
func (r *Runner) ForwardOpenAI(ctx context.Context, model string, input []byte) ([]byte, error) {
	base, ok := r.OpenAI[model]
	if !ok {
		return nil, fmt.Errorf("model %s runs on an OpenAI-compatible server and none is configured for it (--openai %s=URL)", model, model)
	}
	if !json.Valid(input) {
		return nil, errors.New("input: an OpenAI chat-completions request must be JSON")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(input))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := r.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("model server: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("model server: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("model server: %s: %s", res.Status, bytes.TrimSpace(body[:min(len(body), 512)]))
	}
	return body, nil
}

// modeAllowed says whether a provider may run an offer's format under a
// job's mode (the chain refuses the rest at submission too).
func modeAllowed(format string, mode market.Mode) bool {
	return format == "vaim" || mode.Kind == market.ModeOptimistic || mode.Kind == market.ModeTEE
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// decodeResponse decodes a JSON API answer, or its error.
func decodeResponse(res *http.Response, out any) error {
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return errors.New(e.Error.Message)
		}
		return fmt.Errorf("%s: %s", res.Status, bytes.TrimSpace(b[:min(len(b), 512)]))
	}
	return json.Unmarshal(b, out)
}
