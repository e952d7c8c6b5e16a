package zk

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/wire"
	"github.com/vai-dev/vai/zkml"
)

// JobEvidence is what a provider commits with the result of a market job
// in zk mode: a proof, under a verifying key linked to the job's model,
// that the model committed to at registration gives Output on Input for
// this job.
type JobEvidence struct {
	VK    zkml.Digest `json:"vk"`
	Proof []byte      `json:"proof"` // compressed gnark encoding, of the key's proof system
	// Input is the job's (already quantised) input: the job's input file
	// is its canonical encoding (ZKInput), so its digest binds it.
	Input  []int8 `json:"input"`
	Output []int8 `json:"output"`
}

// ZKInput is the canonical input file of a zk job: the int8 input as a
// JSON array without spaces. A zk job's input_digest is its SHA-256.
func ZKInput(input []int8) []byte {
	b, err := json.Marshal(input)
	if err != nil {
		panic(err) // integers only
	}
	return b
}

// MarketVerifier checks zk jobs' results for the market.
type MarketVerifier struct{ k *Keeper }

var _ market.ResultVerifier = MarketVerifier{}

// MarketVerifier returns the keeper's verifier of zk jobs.
func (k *Keeper) MarketVerifier() MarketVerifier { return MarketVerifier{k} }

// Gas implements market.ResultVerifier: a pairing check with the public
// inputs of a private-input circuit (commitment, job, input digest,
// outputs).
func (v MarketVerifier) Gas(evidence []byte) uint64 {
	var e JobEvidence
	n := 3 + 16
	if json.Unmarshal(evidence, &e) == nil && len(e.Output) > 16 {
		n = 3 + len(e.Output)
	}
	return VerifyGas(n)
}

// Verify implements market.ResultVerifier. The proof must be under a key
// linked (by the model's owner, checked against the registry) to the job's
// model and its registered commitment, for this job's id, on the job's
// input, and its output must be the one whose document the provider
// committed to.
func (v MarketVerifier) Verify(ctx *ledger.Context, j *market.Job, _ wire.Address, outputDigest, evidence []byte) error {
	var e JobEvidence
	if err := ledger.DecodeJSON(evidence, &e); err != nil {
		return ErrProof.Wrapf("evidence: %v", err)
	}
	key, ok := v.k.Key(ctx, e.VK)
	if !ok {
		return ErrKeyNotFound.Wrapf("%s", e.VK)
	}
	if key.Model != string(j.Model) || !key.Verified {
		return ErrModelLink.Wrapf("verifying key %s is not linked by its owner to model %s", e.VK, j.Model)
	}
	comm, err := zkml.ParseFieldHex(key.Commitment)
	if err != nil {
		return ErrModelLink.Wrapf("commitment: %v", err)
	}
	if d := sha256.Sum256(ZKInput(e.Input)); !bytes.Equal(d[:], j.InputDigest) {
		return ErrInvalidInput.Wrapf("the proof's input is not the job's (its digest differs)")
	}
	o, ok := market.GetOffer(ctx, j.Model)
	if !ok {
		return fmt.Errorf("model %s is not offered", j.Model)
	}
	doc := market.NewOutputDoc(o.ArtifactDigest, j.InputDigest, e.Output, 1).Encode()
	if d := sha256.Sum256(doc); !bytes.Equal(d[:], outputDigest) {
		return ErrInvalidInput.Wrapf("the committed output is not the proof's output")
	}
	pub := zkml.Public{Commitment: comm, JobID: zkml.JobField(market.ZKJobID(j.ID)), InputDigest: zkml.InputDigest(e.Input), Output: e.Output}
	return v.k.Verify(ctx, e.VK, e.Proof, pub.Vector())
}

// JobProof rebuilds the proof a zk job was settled on from the job's
// record and the model's registered commitment: the same proof, checkable
// again anywhere (zkml.Verify, or the exported Solidity verifier). The
// proof bytes come back as Groth16's: the key (by the returned digest) says
// the proof system, and a PLONK key's caller moves them with SetBytes.
func JobProof(j *market.Job, commitment string) (*zkml.Proof, zkml.Digest, error) {
	if j.Result == nil || len(j.Result.Evidence) == 0 {
		return nil, zkml.Digest{}, fmt.Errorf("job %d has no proof on record", j.ID)
	}
	var e JobEvidence
	if err := ledger.DecodeJSON(j.Result.Evidence, &e); err != nil {
		return nil, zkml.Digest{}, fmt.Errorf("job %d's evidence: %w", j.ID, err)
	}
	comm, err := zkml.ParseFieldHex(commitment)
	if err != nil {
		return nil, zkml.Digest{}, err
	}
	return &zkml.Proof{
		Public:  zkml.Public{Commitment: comm, JobID: zkml.JobField(market.ZKJobID(j.ID)), InputDigest: zkml.InputDigest(e.Input), Output: e.Output},
		Groth16: e.Proof,
	}, e.VK, nil
}
