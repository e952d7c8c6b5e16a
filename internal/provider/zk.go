package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/internal/ledger/zk"
	vairt "github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

// ZKProver proves a model's inferences for zk jobs: the circuit and
// proving key of a finished setup (a Groth16 ceremony or a PLONK setup),
// and the salt of the model's registered weight commitment (the model's
// owner gives both to the providers it trusts with its weights).
type ZKProver struct {
	Prover *zkml.Prover
	VK     zkml.Digest
	Salt   zkml.Salt
}

// LoadZKProver opens a finished setup directory.
func LoadZKProver(setupDir string, salt zkml.Salt) (*ZKProver, error) {
	cer, err := zkml.OpenCeremony(setupDir)
	if err != nil {
		return nil, err
	}
	pr, err := cer.Prover()
	if err != nil {
		return nil, err
	}
	vk, err := cer.Verifier()
	if err != nil {
		return nil, err
	}
	return &ZKProver{Prover: pr, VK: vk.Digest(), Salt: salt}, nil
}

// proveJob runs a zk job: the input must be the canonical encoding of one
// int8 sample (zk.ZKInput); it returns the output document and the
// evidence (the proof) to commit with it.
func (d *Daemon) proveJob(ctx context.Context, j *market.Job, o *market.Offer, e *vairt.Executor, input []byte) (doc, evidence []byte, err error) {
	p := d.cfg.ZK[string(j.Model)]
	if p == nil {
		return nil, nil, &declineError{fmt.Errorf("no zk setup for model %s (--zk %s=SETUP_DIR:SALT_FILE)", j.Model, j.Model)}
	}
	m := e.Model()
	rows, err := vairt.ReadSamples(bytes.NewReader(input), m.Input.Size())
	if err == nil && len(rows) != 1 {
		err = errors.New("a zk job proves one sample")
	}
	var x []int8
	if err == nil {
		x, err = vairt.ParseQuantized(rows)
	}
	if err != nil {
		return nil, nil, &declineError{fmt.Errorf("zk input: %w", err)}
	}
	if h := sha256.Sum256(zk.ZKInput(x)); !bytes.Equal(h[:], j.InputDigest) {
		return nil, nil, &declineError{errors.New("zk input: not in canonical form (a JSON array of int8 without spaces)")}
	}
	proof, err := p.Prover.Prove(m, p.Salt, x, market.ZKJobID(j.ID))
	if err != nil {
		return nil, nil, &declineError{fmt.Errorf("prove: %w", err)}
	}
	doc = market.NewOutputDoc(o.ArtifactDigest, j.InputDigest, proof.Public.Output, 1).Encode()
	evidence, err = json.Marshal(zk.JobEvidence{VK: p.VK, Proof: proof.Bytes(), Input: x, Output: proof.Public.Output})
	return doc, evidence, err
}
