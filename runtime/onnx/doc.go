// Package onnx imports ONNX models into vai's deterministic runtime
// ([github.com/vai-dev/vai/runtime]).
//
// [Load] decodes the ONNX protobuf (by hand, with bounded sizes: see
// [Limits]) and lowers the graph to a [Graph]: a chain of float layers that
// mirrors the int8 layers of a runtime.Model. Along the way BatchNormalization
// is folded into the layer before it, ReLU is fused into dense and conv
// layers, Pad merges into the next window and MatMul + Add become one dense
// layer. Every operator outside [SupportedOps] is reported at once in an
// [*UnsupportedOpsError].
//
// [Graph.Run] executes the graph in float32 (the accuracy reference), and
// [Quantize] calibrates activation ranges on sample inputs and produces the
// int8 model:
//
//	g, err := onnx.Load(onnxBytes, onnx.DefaultLimits)
//	...
//	m, err := onnx.Quantize(g, calibration, n, onnx.QuantConfig{})
//	...
//	b, err := m.MarshalBinary() // the .vaim file; m.Digest() is its identity
//
// Floating point is used here, at import, and nowhere in inference. Import is
// reproducible: the same ONNX bytes and calibration data give the same .vaim
// bytes (accumulations are rounded explicitly, so no fused multiply-add can
// change them; only the sigmoid and tanh tables, computed with math.Exp,
// could differ in a rare rounding tie between architectures).
// docs/design/runtime.md gives the rationale and the conformance tolerances.
package onnx
