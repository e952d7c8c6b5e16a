package onnx

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	vairt "github.com/vai-dev/vai/runtime"
)

// ParseRows parses rows of decimal text as float32 inputs for the float
// graph, rejecting NaN, Inf and non-numbers.
func ParseRows(rows [][]string) ([]float32, error) {
	var out []float32
	for r, row := range rows {
		for c, s := range row {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("row %d, value %d: %w: %q is not a finite number", r+1, c+1, vairt.ErrInputRange, s)
			}
			out = append(out, float32(v))
		}
	}
	return out, nil
}

// Classify runs the float graph on every row of d and returns the argmax of
// each output (ties to the lowest index).
func (g *Graph) Classify(d *vairt.Dataset) ([]int, error) {
	if d.Features != g.Input.Size() {
		return nil, fmt.Errorf("%w: data has %d features, the model takes %d (%v)", vairt.ErrShape, d.Features, g.Input.Size(), g.Input)
	}
	x, err := ParseRows(d.Rows)
	if err != nil {
		return nil, err
	}
	out, err := g.Run(x, len(d.Rows))
	if err != nil {
		return nil, err
	}
	osz := len(out) / max(len(d.Rows), 1)
	pred := make([]int, len(d.Rows))
	for i := range pred {
		best := 0
		for j, v := range out[i*osz : (i+1)*osz] {
			if v > out[i*osz+best] {
				best = j
			}
		}
		pred[i] = best
	}
	return pred, nil
}
