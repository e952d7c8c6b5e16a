package wire

import (
	"crypto/rand"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// VerifyBatch checks the signatures of txs together and returns, for each,
// what tx.Verify would return. Under ZIP-215 verification is cofactored,
// so checking a random linear combination of the signatures' equations
// accepts exactly the batches whose every signature verifies alone (up to
// a 2^-128 chance from the random coefficients); it costs about half as
// much per signature at 64 (BenchmarkVerifyBatch). When a batch fails,
// each signature is checked alone to find the bad ones.
func VerifyBatch(txs []*Tx) []error {
	errs := make([]error, len(txs))
	if len(txs) == 1 {
		errs[0] = txs[0].Verify()
		return errs
	}
	bv := voi.NewBatchVerifierWithCapacity(len(txs))
	n := 0
	for i, tx := range txs {
		if len(tx.Body.PubKey) != voi.PublicKeySize || len(tx.Sig) != voi.SignatureSize {
			errs[i] = tx.Verify() // malformed: fails alone, kept out of the batch
			continue
		}
		verifier.AddWithOptions(bv, voi.PublicKey(tx.Body.PubKey), PAE(PayloadType, tx.Payload), tx.Sig, zip215)
		n++
	}
	if n == 0 || bv.VerifyBatchOnly(rand.Reader) {
		return errs
	}
	for i, tx := range txs {
		if errs[i] == nil {
			errs[i] = tx.Verify()
		}
	}
	return errs
}
