package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	vairt "github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/runtime/onnx"
)

// addModelRuntimeCommands adds the deterministic runtime's commands (import,
// run, eval, inspect) to the model command.
func addModelRuntimeCommands(model *cobra.Command, g *globalFlags) {
	model.AddCommand(newModelImportCmd(g), newModelRunCmd(g), newModelEvalCmd(g), newModelInspectCmd(g))
}

// runtimeFlags are the flags shared by the commands that load a .vaim
// model; the output format is the global --output.
type runtimeFlags struct {
	g         *globalFlags
	maxMemory int64
}

func (f *runtimeFlags) register(c *cobra.Command, g *globalFlags) {
	f.g = g
	c.Flags().Int64Var(&f.maxMemory, "max-memory", vairt.DefaultLimits.MaxMemory, "refuse models needing more memory than this many bytes")
}

// json reports whether --output json was asked for.
func (f *runtimeFlags) json() bool { return f.g.output == "json" }

func (f *runtimeFlags) check() error {
	if f.maxMemory <= 0 {
		return fmt.Errorf("--max-memory must be positive")
	}
	return nil
}

func (f *runtimeFlags) limits() vairt.Limits {
	lim := vairt.DefaultLimits
	lim.MaxMemory = f.maxMemory
	return lim
}

func (f *runtimeFlags) load(path string) (*vairt.Model, vairt.Digest, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, vairt.Digest{}, err
	}
	defer file.Close()
	m, d, err := vairt.ReadModel(file, f.limits())
	if err != nil {
		return nil, d, fmt.Errorf("failed to load %s: %w", path, err)
	}
	return m, d, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readCSVFile reads a dataset from a CSV file, gunzipping it first if it
// is gzip-compressed (as ../shared/datasets/digits.csv.gz).
func readCSVFile(path string, features int) (*vairt.Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	d, err := vairt.ReadCSV(r, features)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

type evalReport struct {
	Data          string   `json:"data"`
	HeldOut       bool     `json:"held_out"`
	Samples       int      `json:"samples"`
	FloatAccuracy *float64 `json:"float_accuracy,omitempty"`
	Int8Accuracy  *float64 `json:"int8_accuracy,omitempty"`
	Agreement     float64  `json:"agreement"`
}

type importReport struct {
	Source      string      `json:"source"`
	Output      string      `json:"output"`
	Digest      string      `json:"digest"`
	Layers      int         `json:"layers"`
	Params      int         `json:"params"`
	Calibration int         `json:"calibration_samples"`
	Scheme      string      `json:"scheme"`
	Eval        *evalReport `json:"eval,omitempty"`
}

func newModelImportCmd(g *globalFlags) *cobra.Command {
	var (
		rf               runtimeFlags
		calib, test, out string
		pow2             bool
		maxCalib         int
	)
	c := &cobra.Command{
		Use:   "import MODEL.onnx --calibrate DATA.csv -o MODEL.vaim",
		Short: "Quantise an ONNX model to a deterministic int8 .vaim model",
		Long: `Import reads an ONNX model (MLPs and small CNNs: Gemm, MatMul+Add, Conv,
BatchNormalization, Relu, Sigmoid, Tanh, MaxPool, AveragePool, Flatten,
Reshape), folds BatchNormalization, calibrates activation ranges on the rows of
DATA (CSV: the input values, optionally followed by an integer label) and
writes the int8 model. When the data is labelled it reports float32 and int8
accuracy: on --test when given (held-out data), else on the calibration data.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			if calib == "" || out == "" {
				return fmt.Errorf("--calibrate and -o are required")
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			g, err := onnx.Load(b, onnx.DefaultLimits)
			if err != nil {
				return fmt.Errorf("failed to import %s: %w", args[0], err)
			}
			cd, err := readCSVFile(calib, g.Input.Size())
			if err != nil {
				return err
			}
			rows := cd.Rows
			if maxCalib > 0 && len(rows) > maxCalib {
				rows = rows[:maxCalib]
			}
			x, err := onnx.ParseRows(rows)
			if err != nil {
				return fmt.Errorf("%s: %w", calib, err)
			}
			m, err := onnx.Quantize(g, x, len(rows), onnx.QuantConfig{PowerOfTwo: pow2})
			if err != nil {
				return fmt.Errorf("failed to quantise: %w", err)
			}
			m.Meta["name"] = strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0]))
			enc, err := m.MarshalBinary()
			if err != nil {
				return err
			}
			if err := m.Validate(rf.limits()); err != nil {
				return err
			}
			if err := os.WriteFile(out, enc, 0o644); err != nil {
				return err
			}
			rep := importReport{Source: args[0], Output: out, Digest: vairt.Digest(sha256.Sum256(enc)).String(),
				Layers: len(m.Layers), Params: m.Params(), Calibration: len(rows), Scheme: m.Meta["quant.scheme"]}
			ed, held := cd, false
			if test != "" {
				if ed, err = readCSVFile(test, g.Input.Size()); err != nil {
					return err
				}
				held = true
			}
			if rep.Eval, err = compare(g, m, ed, rf.limits()); err != nil {
				return err
			}
			rep.Eval.Data, rep.Eval.HeldOut = calib, held
			if held {
				rep.Eval.Data = test
			}
			w := cmd.OutOrStdout()
			if rf.json() {
				return writeJSON(w, rep)
			}
			fmt.Fprintf(w, "wrote %s (%d layers, %d parameters, %s)\n", out, rep.Layers, rep.Params, rep.Scheme)
			fmt.Fprintf(w, "digest %s\n", rep.Digest)
			fmt.Fprintf(w, "calibrated on %d samples of %s\n", rep.Calibration, calib)
			e := rep.Eval
			what := "calibration data, not held out"
			if e.HeldOut {
				what = "held-out data"
			}
			if e.FloatAccuracy != nil {
				fmt.Fprintf(w, "accuracy on %d samples of %s (%s): float32 %.2f%%, int8 %.2f%% (%+.2f points)\n",
					e.Samples, e.Data, what, 100**e.FloatAccuracy, 100**e.Int8Accuracy, 100*(*e.Int8Accuracy-*e.FloatAccuracy))
			}
			fmt.Fprintf(w, "float32 and int8 agree on the class of %.2f%% of %d samples\n", 100*e.Agreement, e.Samples)
			return nil
		},
	}
	rf.register(c, g)
	c.Flags().StringVar(&calib, "calibrate", "", "calibration data (CSV: input values, optionally a label)")
	c.Flags().StringVar(&test, "test", "", "held-out labelled data (CSV) to report accuracy on")
	c.Flags().StringVarP(&out, "out", "o", "", "where to write the .vaim model")
	c.Flags().BoolVar(&pow2, "pow2", false, "power-of-two scales: every requantisation is a shift")
	c.Flags().IntVar(&maxCalib, "max-calibrate", 0, "use at most this many calibration rows (0: all)")
	return c
}

// compare classifies d with the float graph and the int8 model.
func compare(g *onnx.Graph, m *vairt.Model, d *vairt.Dataset, lim vairt.Limits) (*evalReport, error) {
	pf, err := g.Classify(d)
	if err != nil {
		return nil, err
	}
	e, err := vairt.NewExecutor(m, vairt.ExecConfig{Limits: lim})
	if err != nil {
		return nil, err
	}
	pq, err := e.Classify(d, true)
	if err != nil {
		return nil, err
	}
	rep := &evalReport{Samples: len(d.Rows), Agreement: vairt.Accuracy(pq, pf)}
	if d.Labels != nil {
		fa, qa := vairt.Accuracy(pf, d.Labels), vairt.Accuracy(pq, d.Labels)
		rep.FloatAccuracy, rep.Int8Accuracy = &fa, &qa
	}
	return rep, nil
}

type runOutput struct {
	Model        string      `json:"model"`
	InputSHA256  string      `json:"input_sha256"`
	OutputSHA256 string      `json:"output_sha256"`
	Outputs      []runSample `json:"outputs"`
}

type runSample struct {
	Argmax      int       `json:"argmax"`
	Output      []int     `json:"output"`
	Dequantized []float64 `json:"dequantized"`
}

func newModelRunCmd(g *globalFlags) *cobra.Command {
	var (
		rf              runtimeFlags
		input           string
		saturate, raw   bool
		workers         int
		verifyReference bool
	)
	c := &cobra.Command{
		Use:   "run MODEL.vaim --input FILE|-",
		Short: "Run a .vaim model on one input or a batch",
		Long: `Run quantises each input exactly (decimal text, no floating point), runs the
int8 model and prints, per sample, the argmax and the int8 outputs. The input
is CSV (one sample per line; a trailing label column is ignored) or JSON (an
array of numbers for one sample, or an array of arrays for a batch). Outputs
are identical on every machine, build and worker count; the JSON output
carries SHA-256 digests of the int8 input and output bytes for comparing runs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			if input == "" {
				return fmt.Errorf("--input is required (a file, or - for standard input)")
			}
			m, digest, err := rf.load(args[0])
			if err != nil {
				return err
			}
			var r io.Reader = cmd.InOrStdin()
			if input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			rows, err := vairt.ReadSamples(r, m.Input.Size())
			if err != nil {
				return fmt.Errorf("input: %w", err)
			}
			var in []int8
			if raw {
				in, err = vairt.ParseQuantized(rows)
			} else {
				in, err = m.QuantizeRows(rows, saturate)
			}
			if err != nil {
				return fmt.Errorf("input: %w", err)
			}
			e, err := vairt.NewExecutor(m, vairt.ExecConfig{Workers: workers, Limits: rf.limits()})
			if err != nil {
				return err
			}
			out, err := e.Run(in, len(rows))
			if err != nil {
				return err
			}
			if verifyReference {
				ref, err := vairt.Reference(m, in, len(rows))
				if err != nil {
					return err
				}
				if !bytes.Equal(int8Bytes(ref), int8Bytes(out)) {
					return fmt.Errorf("optimised and reference results differ: please report this bug")
				}
			}
			osz := m.OutputShape().Size()
			res := runOutput{Model: digest.String(), InputSHA256: sha256Hex(int8Bytes(in)), OutputSHA256: sha256Hex(int8Bytes(out))}
			scale := m.OutputScale.Float()
			for s := range rows {
				o := out[s*osz : (s+1)*osz]
				rs := runSample{Argmax: vairt.Argmax(o)}
				for _, v := range o {
					rs.Output = append(rs.Output, int(v))
					rs.Dequantized = append(rs.Dequantized, float64(v)*scale)
				}
				res.Outputs = append(res.Outputs, rs)
			}
			w := cmd.OutOrStdout()
			if rf.json() {
				return json.NewEncoder(w).Encode(res)
			}
			bw := bufio.NewWriter(w)
			for _, rs := range res.Outputs {
				fmt.Fprintf(bw, "%d", rs.Argmax)
				for _, v := range rs.Output {
					fmt.Fprintf(bw, " %d", v)
				}
				fmt.Fprintln(bw)
			}
			return bw.Flush()
		},
	}
	rf.register(c, g)
	c.Flags().StringVarP(&input, "input", "i", "", "input file (CSV or JSON), or - for standard input")
	c.Flags().BoolVar(&saturate, "saturate", false, "clamp inputs that quantise outside int8 instead of failing")
	c.Flags().BoolVar(&raw, "quantized", false, "inputs are already int8 values (no input scale applied)")
	c.Flags().IntVar(&workers, "workers", 0, "goroutines for a batch (0: all cores); results never depend on it")
	c.Flags().BoolVar(&verifyReference, "verify-reference", false, "also run the reference interpreter and check the results are identical")
	return c
}

func int8Bytes(v []int8) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type evalOutput struct {
	Model      string  `json:"model"`
	Data       string  `json:"data"`
	Samples    int     `json:"samples"`
	Correct    int     `json:"correct"`
	Accuracy   float64 `json:"accuracy"`
	Seconds    float64 `json:"seconds"`
	SamplesPS  float64 `json:"samples_per_second"`
	Confusion  [][]int `json:"confusion"`
	OutputHash string  `json:"predictions_sha256"`
}

func newModelEvalCmd(g *globalFlags) *cobra.Command {
	var (
		rf       runtimeFlags
		data     string
		saturate bool
	)
	c := &cobra.Command{
		Use:   "eval MODEL.vaim --data DATA.csv",
		Short: "Report a .vaim model's accuracy on labelled CSV data",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			if data == "" {
				return fmt.Errorf("--data is required")
			}
			m, digest, err := rf.load(args[0])
			if err != nil {
				return err
			}
			d, err := readCSVFile(data, m.Input.Size())
			if err != nil {
				return err
			}
			if d.Labels == nil {
				return fmt.Errorf("%s has no label column (want %d values and a label per line)", data, m.Input.Size())
			}
			classes := m.OutputShape().Size()
			for i, l := range d.Labels {
				if l >= classes {
					return fmt.Errorf("%s: row %d: label %d but the model has %d outputs", data, i+1, l, classes)
				}
			}
			e, err := vairt.NewExecutor(m, vairt.ExecConfig{Limits: rf.limits()})
			if err != nil {
				return err
			}
			start := time.Now()
			pred, err := e.Classify(d, saturate)
			if err != nil {
				return fmt.Errorf("%s: %w", data, err)
			}
			secs := time.Since(start).Seconds()
			res := evalOutput{Model: digest.String(), Data: data, Samples: len(pred), Seconds: secs,
				SamplesPS: float64(len(pred)) / max(secs, 1e-9), Confusion: make([][]int, classes)}
			pb := make([]byte, len(pred))
			for i := range res.Confusion {
				res.Confusion[i] = make([]int, classes)
			}
			for i, p := range pred {
				res.Confusion[d.Labels[i]][p]++
				if p == d.Labels[i] {
					res.Correct++
				}
				pb[i] = byte(p)
			}
			res.Accuracy = float64(res.Correct) / float64(len(pred))
			res.OutputHash = sha256Hex(pb)
			w := cmd.OutOrStdout()
			if rf.json() {
				return writeJSON(w, res)
			}
			fmt.Fprintf(w, "accuracy %.2f%% (%d of %d) on %s\n", 100*res.Accuracy, res.Correct, res.Samples, data)
			fmt.Fprintf(w, "model %s\n", res.Model)
			return nil
		},
	}
	rf.register(c, g)
	c.Flags().StringVar(&data, "data", "", "labelled data (CSV: input values then an integer label)")
	c.Flags().BoolVar(&saturate, "saturate", false, "clamp inputs that quantise outside int8 instead of failing")
	return c
}

type inspectLayer struct {
	Index   int    `json:"index"`
	Kind    string `json:"kind"`
	Output  []int  `json:"output_shape"`
	Params  int    `json:"params"`
	Details string `json:"details"`
}

type inspectOutput struct {
	Model          string            `json:"model"`
	Digest         string            `json:"digest"`
	FormatVersion  int               `json:"format_version"`
	Input          []int             `json:"input_shape"`
	InputScale     string            `json:"input_scale"`
	Output         []int             `json:"output_shape"`
	OutputScale    string            `json:"output_scale"`
	Params         int               `json:"params"`
	MemoryEstimate int64             `json:"memory_estimate_bytes"`
	Layers         []inspectLayer    `json:"layers"`
	Meta           map[string]string `json:"meta"`
}

func newModelInspectCmd(g *globalFlags) *cobra.Command {
	var rf runtimeFlags
	c := &cobra.Command{
		Use:   "inspect MODEL.vaim",
		Short: "Show a .vaim model's layers, shapes, parameters and digest",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			m, digest, err := rf.load(args[0])
			if err != nil {
				return err
			}
			shapes, err := m.Shapes()
			if err != nil {
				return err
			}
			mem, _ := m.MemoryEstimate()
			res := inspectOutput{Model: args[0], Digest: digest.String(), FormatVersion: vairt.FormatVersion,
				Input: m.Input, InputScale: fmt.Sprintf("1/(%s) = %.6g", m.InputScale, 1/m.InputScale.Float()),
				Output: shapes[len(shapes)-1], OutputScale: fmt.Sprintf("%s = %.6g", m.OutputScale, m.OutputScale.Float()),
				Params: m.Params(), MemoryEstimate: mem, Meta: m.Meta}
			for i, l := range m.Layers {
				res.Layers = append(res.Layers, inspectLayer{Index: i, Kind: l.Kind(), Output: shapes[i+1], Params: l.Params(), Details: layerDetails(l)})
			}
			w := cmd.OutOrStdout()
			if rf.json() {
				return writeJSON(w, res)
			}
			fmt.Fprintf(w, "model   %s\ndigest  %s\nformat  vaim v%d\ninput   %v, x → round(x·%s)\noutput  %v, q → q·%s\nparams  %d (about %d bytes in memory)\n\n",
				res.Model, res.Digest, res.FormatVersion, m.Input, m.InputScale, res.Output, m.OutputScale, res.Params, mem)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tlayer\toutput\tparams\tdetails")
			for _, l := range res.Layers {
				fmt.Fprintf(tw, "%d\t%s\t%v\t%d\t%s\n", l.Index, l.Kind, l.Output, l.Params, l.Details)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(m.Meta) > 0 {
				fmt.Fprintln(w)
				keys := make([]string, 0, len(m.Meta))
				for k := range m.Meta {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				for _, k := range keys {
					fmt.Fprintf(w, "%s: %s\n", k, m.Meta[k])
				}
			}
			return nil
		},
	}
	rf.register(c, g)
	return c
}

func layerDetails(l vairt.Layer) string {
	rq := func(r vairt.Requant, act vairt.Activation) string {
		kind := "per-tensor"
		if r.PerChannel() {
			kind = "per-channel"
		}
		pow2 := true
		for _, m := range r.Mult {
			if m&(m-1) != 0 {
				pow2 = false
			}
		}
		if pow2 {
			kind += " shift"
		} else {
			kind += " fixed-point"
		}
		return fmt.Sprintf("requant %s, activation %s", kind, act)
	}
	switch l := l.(type) {
	case *vairt.Dense:
		return fmt.Sprintf("%d→%d, %s", l.In, l.Out, rq(l.Requant, l.Act))
	case *vairt.Conv2D:
		return fmt.Sprintf("%d→%d, kernel %dx%d, stride %dx%d, pads %d,%d,%d,%d, %s", l.InC, l.OutC, l.KH, l.KW, l.StrideH, l.StrideW,
			l.PadTop, l.PadLeft, l.PadBottom, l.PadRight, rq(l.Requant, l.Act))
	case *vairt.MaxPool:
		return poolDetails(l.Pool)
	case *vairt.AvgPool:
		s := poolDetails(l.Pool)
		if l.CountIncludePad {
			s += ", padding counted"
		}
		return s
	case *vairt.LUT:
		return "table: " + l.Name
	}
	return ""
}

func poolDetails(p vairt.Pool) string {
	return fmt.Sprintf("window %dx%d, stride %dx%d, pads %d,%d,%d,%d", p.KH, p.KW, p.StrideH, p.StrideW, p.PadTop, p.PadLeft, p.PadBottom, p.PadRight)
}
