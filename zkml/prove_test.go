package zkml_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

// TestProveDigitsMLP proves one inference of the digits MLP and checks that
// the proof is bound to every part of its statement and to its key.
func TestProveDigitsMLP(t *testing.T) {
	t.Parallel()
	m := loadModel(t, "digits_mlp")
	c, err := zkml.Compile(m, zkml.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pk, vk, err := zkml.DevSetup(c)
	if err != nil {
		t.Fatal(err)
	}
	salt, err := zkml.NewSalt()
	if err != nil {
		t.Fatal(err)
	}
	rows := digits(t, m, "digits_test.csv")
	p, err := zkml.Prove(c, pk, m, salt, rows[0], []byte("job-42"))
	if err != nil {
		t.Fatal(err)
	}
	if err := zkml.Verify(vk, p); err != nil {
		t.Fatalf("valid proof: %v", err)
	}
	want, _ := runtime.Reference(m, rows[0], 1)
	if !slices.Equal(p.Public.Output, want) {
		t.Fatalf("output %v, runtime says %v", p.Public.Output, want)
	}
	comm, _ := zkml.Commit(m, salt)
	if p.Public.Commitment != comm || p.Public.InputDigest != zkml.InputDigest(rows[0]) || p.Public.JobID != zkml.JobField([]byte("job-42")) {
		t.Fatal("statement does not match Commit, InputDigest and JobField")
	}

	// Another model version (same architecture) and its commitment.
	m2 := loadModel(t, "digits_mlp")
	m2.Layers[1].(*runtime.Dense).Weights[0] ^= 1
	comm2, _ := zkml.Commit(m2, salt)
	otherSalt, _ := zkml.NewSalt()
	comm3, _ := zkml.Commit(m, otherSalt)
	_, vk2, err := zkml.DevSetup(c)
	if err != nil {
		t.Fatal(err)
	}
	out2 := slices.Clone(p.Public.Output)
	out2[3]++
	attacks := []struct {
		name string
		edit func(p *zkml.Proof)
		vk   bool // verify against the other key
	}{
		{"another input", func(p *zkml.Proof) { p.Public.InputDigest = zkml.InputDigest(rows[1]) }, false},
		{"another output", func(p *zkml.Proof) { p.Public.Output = out2 }, false},
		{"another model version", func(p *zkml.Proof) { p.Public.Commitment = comm2 }, false},
		{"another salt", func(p *zkml.Proof) { p.Public.Commitment = comm3 }, false},
		{"another job", func(p *zkml.Proof) { p.Public.JobID = zkml.JobField([]byte("job-43")) }, false},
		{"zero job", func(p *zkml.Proof) { p.Public.JobID = fr.Element{} }, false},
		{"another key", func(p *zkml.Proof) {}, true},
		{"flipped proof byte", func(p *zkml.Proof) { p.Groth16[40] ^= 4 }, false},
		{"truncated proof", func(p *zkml.Proof) { p.Groth16 = p.Groth16[:100] }, false},
		{"trailing bytes", func(p *zkml.Proof) { p.Groth16 = append(p.Groth16, 0) }, false},
		{"public input as output", func(p *zkml.Proof) { p.Public.Output = p.Public.Output[:9] }, false},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			q := *p
			q.Public.Output = slices.Clone(p.Public.Output)
			q.Groth16 = bytes.Clone(p.Groth16)
			a.edit(&q)
			k := vk
			if a.vk {
				k = vk2
			}
			if err := zkml.Verify(k, &q); !errors.Is(err, zkml.ErrVerify) {
				t.Fatalf("Verify = %v, want ErrVerify", err)
			}
		})
	}

	// The file format round-trips and keeps the proof valid.
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back zkml.Proof
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if err := zkml.Verify(vk, &back); err != nil {
		t.Fatalf("round-tripped proof: %v", err)
	}
}

// TestProvePublicInput proves with the input public, on a model with every
// layer kind, and checks the input is bound.
func TestProvePublicInput(t *testing.T) {
	t.Parallel()
	m := tinyModel()
	c, err := zkml.Compile(m, zkml.Options{PublicInput: true})
	if err != nil {
		t.Fatal(err)
	}
	pk, vk, err := zkml.DevSetup(c)
	if err != nil {
		t.Fatal(err)
	}
	in := []int8{1, 2, 3, 4, -5, -6, -7, -8, 100, 110, 120, 127, -128, 0, 0, 9}
	p, err := zkml.Prove(c, pk, m, zkml.Salt{}, in, []byte("job"))
	if err != nil {
		t.Fatal(err)
	}
	if err := zkml.Verify(vk, p); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Public.Input, in) {
		t.Fatalf("public input %v", p.Public.Input)
	}
	p.Public.Input[5]++
	if err := zkml.Verify(vk, p); !errors.Is(err, zkml.ErrVerify) {
		t.Fatalf("Verify(other input) = %v, want ErrVerify", err)
	}
	// A model of another architecture is refused before proving.
	if _, err := zkml.Prove(c, pk, smallModel(), zkml.Salt{}, in[:4], nil); !errors.Is(err, zkml.ErrMismatch) {
		t.Fatalf("Prove(other architecture) = %v, want ErrMismatch", err)
	}
}
