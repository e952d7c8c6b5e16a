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
