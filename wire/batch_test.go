package wire_test

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"

	"github.com/vai-dev/vai/wire"
)

// signedTxs returns n decoded, validly signed transactions from n keys.
func signedTxs(t testing.TB, n int) []*wire.Tx {
	t.Helper()
	to := wire.AddressFromPubKey(key(200).Public().(ed25519.PublicKey))
	txs := make([]*wire.Tx, n)
	for i := range txs {
		env, err := wire.Sign(sendBody(t, to, uint64(i+1)), key(byte(i%150+1)))
		if err != nil {
			t.Fatal(err)
		}
		if txs[i], err = wire.Decode(env, 0); err != nil {
			t.Fatal(err)
		}
	}
	return txs
}

// forge replaces tx's signature with another key's signature over the same
// bytes: well formed, but not the signer's.
func forge(tx *wire.Tx) {
	tx.Sig = ed25519.Sign(key(251), wire.PAE(wire.PayloadType, tx.Payload))
}

// torsionSigned returns a transaction whose public key has a small-order
// component and whose signature verifies under ZIP-215's cofactored
// equation but not under the cofactorless one crypto/ed25519 uses: the case
// where verifiers disagree, so batch and single must agree on it.
func torsionSigned(t testing.TB) *wire.Tx {
	t.Helper()
	tx := signedTxs(t, 1)[0]
	var seed [64]byte
	seed[0] = 42
	a, _ := scalar.New().SetBytesModOrderWide(seed[:])
	seed[0] = 43
	r, _ := scalar.New().SetBytesModOrderWide(seed[:])
	// (0, -1), the point of order 2.
	tEnc, _ := hex.DecodeString("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	tc, err := curve.NewCompressedEdwardsYFromBytes(tEnc)
	if err != nil {
		t.Fatal(err)
	}
	T := curve.NewEdwardsPoint()
	if _, err := T.SetCompressedY(tc); err != nil {
		t.Fatal(err)
	}
	A := curve.NewEdwardsPoint().MulBasepoint(curve.ED25519_BASEPOINT_TABLE, a)
	A.Add(A, T)
	R := curve.NewEdwardsPoint().MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
	aEnc, _ := curve.NewCompressedEdwardsY().SetEdwardsPoint(A).MarshalBinary()
	rEnc, _ := curve.NewCompressedEdwardsY().SetEdwardsPoint(R).MarshalBinary()
	msg := wire.PAE(wire.PayloadType, tx.Payload)
	h := sha512.New()
	h.Write(rEnc)
	h.Write(aEnc)
	h.Write(msg)
	k, _ := scalar.New().SetBytesModOrderWide(h.Sum(nil))
	s := scalar.New().Mul(k, a)
	s.Add(s, r)
	sEnc, _ := s.MarshalBinary()
	tx.Body.PubKey = aEnc
	tx.Sig = append(rEnc, sEnc...)
	if ed25519.Verify(aEnc, msg, tx.Sig) {
		t.Fatal("torsion signature verifies cofactorless; the test no longer covers the edge")
	}
	return tx
}

func TestVerifyBatch(t *testing.T) {
	t.Parallel()
	t.Run("all valid", func(t *testing.T) {
		for i, err := range wire.VerifyBatch(signedTxs(t, 64)) {
			if err != nil {
				t.Errorf("tx %d: %v", i, err)
			}
		}
	})
	t.Run("bad ones named", func(t *testing.T) {
		txs := signedTxs(t, 40)
		forge(txs[3])
		forge(txs[39])
		txs[20].Sig = txs[20].Sig[:10] // malformed: kept out of the batch
		for i, err := range wire.VerifyBatch(txs) {
			bad := i == 3 || i == 39 || i == 20
			if bad != errors.Is(err, wire.ErrSignature) || (!bad && err != nil) {
				t.Errorf("tx %d: err = %v, want bad = %v", i, err, bad)
			}
		}
	})
	t.Run("single", func(t *testing.T) {
		txs := signedTxs(t, 1)
		forge(txs[0])
		if err := wire.VerifyBatch(txs)[0]; !errors.Is(err, wire.ErrSignature) {
			t.Errorf("err = %v, want ErrSignature", err)
		}
	})
	t.Run("torsion key agrees with single verification", func(t *testing.T) {
		tor := torsionSigned(t)
		if err := tor.Verify(); err != nil {
			t.Fatalf("single ZIP-215 verification rejects it: %v", err)
		}
		txs := append(signedTxs(t, 15), tor)
		for i, err := range wire.VerifyBatch(txs) {
			if err != nil {
				t.Errorf("tx %d: %v", i, err)
			}
		}
	})
}

// TestVerifyBatchMatchesVerify checks random batches of valid, forged and
// torsion-keyed signatures: VerifyBatch returns what Verify returns, one by
// one. A disagreement would let validators that batch and validators that
// do not accept different transactions.
func TestVerifyBatchMatchesVerify(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	pool := signedTxs(t, 100)
	tor := torsionSigned(t)
	for round := range 30 {
		n := 1 + rng.IntN(70)
		txs := make([]*wire.Tx, n)
		for i := range txs {
			c := *pool[rng.IntN(len(pool))]
			switch rng.IntN(10) {
			case 0:
				forge(&c)
			case 1:
				c = *tor
			}
			txs[i] = &c
		}
		got := wire.VerifyBatch(txs)
		for i, tx := range txs {
			if want := tx.Verify(); fmt.Sprint(got[i]) != fmt.Sprint(want) {
				t.Fatalf("round %d, tx %d of %d: batch %v, single %v", round, i, n, got[i], want)
			}
		}
	}
}

// BenchmarkVerifyBatch compares verifying signatures one by one with
// verifying them in batches of 4 to 256, per signature.
func BenchmarkVerifyBatch(b *testing.B) {
	txs := signedTxs(b, 256)
	b.Run("single", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := txs[i%len(txs)].Verify(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	for _, n := range []int{4, 16, 64, 256} {
		b.Run(fmt.Sprintf("batch-%d", n), func(b *testing.B) {
			for b.Loop() {
				for _, err := range wire.VerifyBatch(txs[:n]) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
		})
	}
}
