package runtime

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Dataset is labelled or unlabelled input rows as decimal text, the form in
// which inputs reach the runtime (quantised exactly by Model.QuantizeRows).
type Dataset struct {
	Features int
	Rows     [][]string // each holds Features decimal literals
	Labels   []int      // one per row, or nil when unlabelled
}

// MaxRows bounds ReadCSV.
const MaxRows = 1 << 22

// ReadCSV reads rows of features values, optionally followed by an integer
// label (as digits.csv: 64 pixels then the digit). Every row must have the
// same number of fields, features or features+1. A first line in which no
// field is a number is taken as a header and skipped; empty lines are
// skipped. Values are not parsed here beyond the label: quantisation rejects
// what is not a finite decimal.
func ReadCSV(r io.Reader, features int) (*Dataset, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false
	d := &Dataset{Features: features}
	labelled := -1
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("csv: %w", err)
		}
		if line == 1 && isHeader(rec) {
			continue
		}
		if len(d.Rows) >= MaxRows {
			return nil, fmt.Errorf("csv: more than %d rows", MaxRows)
		}
		switch {
		case len(rec) == features && labelled != 1:
			labelled = 0
			d.Rows = append(d.Rows, rec)
		case len(rec) == features+1 && labelled != 0:
			labelled = 1
			lab, err := strconv.Atoi(strings.TrimSpace(rec[features]))
			if err != nil || lab < 0 {
				return nil, fmt.Errorf("csv line %d: label %q is not a class index", line, rec[features])
			}
			d.Rows = append(d.Rows, rec[:features])
			d.Labels = append(d.Labels, lab)
		default:
			want := fmt.Sprintf("%d (features) or %d (features and label)", features, features+1)
			if labelled == 0 {
				want = fmt.Sprint(features)
			} else if labelled == 1 {
				want = fmt.Sprint(features + 1)
			}
			return nil, fmt.Errorf("csv line %d: %d fields, want %s", line, len(rec), want)
		}
	}
	if len(d.Rows) == 0 {
		return nil, fmt.Errorf("csv: no rows")
	}
	return d, nil
}

func isHeader(rec []string) bool {
	for _, f := range rec {
		if _, _, err := parseDecimal(strings.TrimSpace(f)); err == nil {
			return false
		}
	}
	return true
}

// QuantizeRows quantises rows of decimal text with the model's input scale
// (Fixed.QuantizeInput), sample after sample, reporting the row and column
// of the first bad value.
func (m *Model) QuantizeRows(rows [][]string, saturate bool) ([]int8, error) {
	size := m.Input.Size()
	out := make([]int8, 0, len(rows)*size)
	for r, row := range rows {
		if len(row) != size {
			return nil, fmt.Errorf("%w: row %d has %d values, the model takes %d (%v)", ErrShape, r+1, len(row), size, m.Input)
		}
		for c, v := range row {
			q, err := m.InputScale.QuantizeInput(v, saturate)
			if err != nil {
				return nil, fmt.Errorf("row %d, value %d: %w", r+1, c+1, err)
			}
			out = append(out, q)
		}
	}
	return out, nil
}

// Accuracy returns the fraction of predictions equal to their labels.
func Accuracy(pred, labels []int) float64 {
	if len(labels) == 0 || len(pred) != len(labels) {
		return 0
	}
	ok := 0
	for i := range pred {
		if pred[i] == labels[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(labels))
}

// Classify runs every row of d and returns the argmax of each output.
func (e *Executor) Classify(d *Dataset, saturate bool) ([]int, error) {
	in, err := e.m.QuantizeRows(d.Rows, saturate)
	if err != nil {
		return nil, err
	}
	out, err := e.Run(in, len(d.Rows))
	if err != nil {
		return nil, err
	}
	osz := len(out) / max(len(d.Rows), 1)
	pred := make([]int, len(d.Rows))
	for i := range pred {
		pred[i] = Argmax(out[i*osz : (i+1)*osz])
	}
	return pred, nil
}
