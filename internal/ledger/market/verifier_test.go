package market_test

import (
	"errors"
	"testing"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/wire"
)

// fakeTEE is a test fake of a result verifier: it accepts the evidence
// "attested" for the job's input and nothing else.
type fakeTEE struct{}

func (fakeTEE) Verify(_ *ledger.Context, j *market.Job, _ wire.Address, out, evidence []byte) error {
	if string(evidence) != "attested" {
		return errors.New("no valid attestation")
	}
	return nil
}

func (fakeTEE) Gas([]byte) uint64 { return 1_000 }

func TestModesWithoutAVerifierAreRefused(t *testing.T) {
	w := newWorld(t, 2, nil)
	s := w.snap()
	for _, mode := range []string{"tee", "zk"} {
		m, _ := market.ParseMode(mode)
		w.fails(w.buyer, "market/submit", market.MsgSubmitJob{Model: w.model, InputCID: "i", InputDigest: output("i"), Budget: wire.UVAI(200_000), Deadline: 5, Mode: m}, market.ErrMode)
	}
	w.expect(s, map[string]int64{})
}

func TestPluggableVerifierSettlesAtOnce(t *testing.T) {
	w := newWorldWith(t, 2, nil, map[string]market.ResultVerifier{market.ModeTEE: fakeTEE{}})
	s := w.snap()
	id := w.submit("tee", 200_000)
	exec := assigned(w.job(id), market.RoleExecutor)[0]
	w.fails(w.key(exec), "market/commit", market.MsgCommit{Job: id, Output: output("7"), OutputCID: "o", Evidence: []byte("forged")}, market.ErrVerification)
	if j := w.job(id); j.State != market.StateRunning || j.Result != nil {
		t.Fatalf("a refused result changed the job: %+v", j)
	}
	w.ok(w.key(exec), "market/commit", market.MsgCommit{Job: id, Output: output("7"), OutputCID: "o", Evidence: []byte("attested")})
	j := w.job(id)
	if j.Closing == nil || j.Closing.Reason != market.CloseSettled || j.Closing.Height != w.c.Height {
		t.Fatalf("job: %+v", j)
	}
	w.blocks(int(w.params.VestingBlocks))
	w.expect(s, map[string]int64{"owner": ownerNet, "contrib0": contrib0Net, "contrib1": contrib1Net, "buyer": -110_000, w.name(exec): execNet})
}
