package runtime_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/vai-dev/vai/runtime"
)

// BenchmarkDigits measures the reference models at batch 1 and 256 with the
// optimised executor and the reference interpreter:
// go test ./runtime -run '^$' -bench Digits -count 10 | benchstat -
func BenchmarkDigits(b *testing.B) {
	for _, name := range []string{"digits_mlp", "digits_cnn"} {
		raw, err := os.ReadFile("testdata/" + name + ".vaim")
		if err != nil {
			b.Fatal(err)
		}
		m, err := runtime.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		e, err := runtime.NewExecutor(m, runtime.ExecConfig{})
		if err != nil {
			b.Fatal(err)
		}
		e1, err := runtime.NewExecutor(m, runtime.ExecConfig{Workers: 1})
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for _, n := range []int{1, 256} {
			in := make([]int8, n*m.Input.Size())
			for i := range in {
				in[i] = int8(r.IntN(128))
			}
			out := make([]int8, n*m.OutputShape().Size())
			b.Run(fmt.Sprintf("%s/batch%d/exec", name, n), func(b *testing.B) {
				for b.Loop() {
					if err := e.RunInto(out, in, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
			})
			b.Run(fmt.Sprintf("%s/batch%d/exec1worker", name, n), func(b *testing.B) {
				for b.Loop() {
					if err := e1.RunInto(out, in, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
			})
			b.Run(fmt.Sprintf("%s/batch%d/reference", name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := runtime.Reference(m, in, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

// BenchmarkQuantizeInput measures exact input quantisation: the integer
// fast path and the exact decimal path.
func BenchmarkQuantizeInput(b *testing.B) {
	f := runtime.Fixed{Mult: 2130706432, Shift: 28}
	for _, in := range []string{"13", "12.375", "-1.5e-1"} {
		b.Run(in, func(b *testing.B) {
			for b.Loop() {
				if _, err := f.QuantizeInput(in, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode measures decoding and validating the digits CNN.
func BenchmarkDecode(b *testing.B) {
	raw, err := os.ReadFile("testdata/digits_cnn.vaim")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := runtime.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}
