package runtime

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// ParseQuantized reads samples that are already int8 (decimal integers in
// [-128, 127]).
func ParseQuantized(rows [][]string) ([]int8, error) {
	var out []int8
	for r, row := range rows {
		for c, s := range row {
			var v int
			if _, err := fmt.Sscanf(strings.TrimSpace(s), "%d", &v); err != nil || v < -128 || v > 127 || strings.ContainsAny(s, ".eE") {
				return nil, fmt.Errorf("row %d, value %d: %w: %q is not an int8", r+1, c+1, ErrInputRange, s)
			}
			out = append(out, int8(v))
		}
	}
	return out, nil
}

// ReadSamples reads samples of size values as decimal text: JSON (a
// number array, or an array of number arrays) when the input starts with
// '[', else CSV. Quantize them with Model.QuantizeRows (or ParseQuantized).
func ReadSamples(r io.Reader, size int) ([][]string, error) {
	br := bufio.NewReader(io.LimitReader(r, 1<<30))
	for {
		c, err := br.Peek(1)
		if err != nil {
			return nil, fmt.Errorf("no input")
		}
		if c[0] == ' ' || c[0] == '\n' || c[0] == '\r' || c[0] == '\t' {
			br.ReadByte()
			continue
		}
		if c[0] != '[' {
			d, err := ReadCSV(br, size)
			if err != nil {
				return nil, err
			}
			return d.Rows, nil
		}
		break
	}
	dec := json.NewDecoder(br)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("json: trailing data after the input array")
	}
	top, _ := v.([]any)
	if len(top) == 0 {
		return nil, fmt.Errorf("json: empty input array")
	}
	toRow := func(a []any, n int) ([]string, error) {
		row := make([]string, len(a))
		for i, x := range a {
			num, ok := x.(json.Number)
			if !ok {
				return nil, fmt.Errorf("json: sample %d, value %d: %w: %v is not a number", n+1, i+1, ErrInputRange, x)
			}
			row[i] = string(num)
		}
		if len(row) != size {
			return nil, fmt.Errorf("%w: sample %d has %d values, the model takes %d", ErrShape, n+1, len(row), size)
		}
		return row, nil
	}
	if _, nested := top[0].([]any); !nested {
		row, err := toRow(top, 0)
		if err != nil {
			return nil, err
		}
		return [][]string{row}, nil
	}
	rows := make([][]string, 0, len(top))
	for i, s := range top {
		a, ok := s.([]any)
		if !ok {
			return nil, fmt.Errorf("json: sample %d is not an array", i+1)
		}
		row, err := toRow(a, i)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}
