// Package runtime is vai's deterministic model runtime: a quantised model
// format (.vaim) and a pure-Go integer interpreter whose results are the same
// bit for bit on every machine, build and worker count, so that redundant
// executions can be compared by exact match and a zk circuit can prove the
// very same arithmetic (DESIGN.md D13). Import it as, say,
// vairt "github.com/vai-dev/vai/runtime"; ONNX import lives in
// [github.com/vai-dev/vai/runtime/onnx].
//
// # Tensors
//
// Activations are int8, weights int8, biases and accumulators int32. A model
// is a chain of layers, each consuming the previous layer's output; tensors
// of one sample are stored row-major without the batch dimension ([N] or
// [C, H, W], as ONNX NCHW). Quantisation is symmetric: the integer q stands
// for the real q·s, with one scale s per tensor (per output channel for
// weights) and no zero point, so the integer 0 is the real 0 and zero padding
// is exact.
//
// # Arithmetic
//
// Every rescaling uses a [Fixed] value M/2^S (1 ≤ M ≤ 2^31−1, 0 ≤ S ≤ 62)
// and rounds halves towards +∞ with an arithmetic shift:
//
//	scale(v) = (v·M + 2^(S−1)) >> S     (S > 0; v·M when S = 0)
//
// computed in int64, which cannot overflow because |v| < 2^31. Power-of-two
// requantisation is the case M = 1.
//
//   - Dense (Gemm, MatMul+Add): acc[o] = B[o] + Σ_i W[o,i]·x[i];
//     y[o] = clamp(scale_o(acc[o]), lo, 127), with lo = −128, or lo = 0 for a
//     fused ReLU (saturating ReLU). scale_o is one Fixed per layer or per
//     output channel.
//   - Conv2D: the same with acc[oc,y,x] = B[oc] + Σ W[oc,ic,ky,kx]·
//     x[ic, y·SH+ky−PT, x·SW+kx−PL], padding contributing 0.
//   - MaxPool: the maximum of the window's values inside the input (padding
//     is not a value).
//   - AvgPool: with sum the window's sum and n its count of inside values
//     (KH·KW with CountIncludePad), y = floor((2·sum + n) / (2·n)): the mean
//     rounded half towards +∞. It is always within [−128, 127].
//   - Relu: max(x, 0). LUT: y = T[x+128] for a 256-entry table T (sigmoid,
//     tanh, built at import). Reshape/Flatten: no arithmetic.
//
// Validate proves for every output channel that |B[o]| + 128·Σ|W[o,·]| < 2^31,
// so no accumulator can overflow for any input: the int32 arithmetic equals
// integer arithmetic, which is what a circuit over a prime field computes.
// Argmax breaks ties towards the lowest index.
//
// Inputs: a real input x, given as decimal text, becomes
// q = round(x·InputScale) with the same rounding, computed exactly (no
// floating point, [Fixed.QuantizeInput]); a q outside [−128, 127] and any
// NaN, Inf or non-decimal is an error wrapping [ErrInputRange] unless the
// caller asks for saturation. Outputs q stand for q·OutputScale.
//
// # Implementations
//
// [Reference] states the arithmetic in plain loops. [Executor] is the fast
// path (packed-weight integer matmul, im2col convolutions, batches across
// goroutines); tests check it bit for bit against Reference on random models,
// and fuzzing checks it on every model the decoder accepts. Floating point is
// used only by importers and for display ([Fixed.Float]).
//
// # Format
//
// A .vaim file is the canonical encoding of a [Model] (MarshalBinary);
// DecodeLimits accepts only canonical bytes, so a model's identity, its
// [Digest], is the SHA-256 of its file. All integers are little-endian:
//
//	"VAIM" u16 version(=1)
//	shape(input) fixed(input scale) fixed(output scale)
//	u16 n, n × {u16 len, key bytes, u32 len, value bytes}  metadata, keys strictly ascending
//	u16 n, n × layer
//	shape = u8 rank(1..4), rank × u32 dim(1..2^24)     fixed = u32 M, u8 S
//	window = 8 × u8: KH KW SH SW PadTop PadLeft PadBottom PadRight
//	layer = u8 op, then
//	  1 dense:   u32 in, u32 out, affine(out rows × in)
//	  2 conv2d:  u32 inC, u32 outC, window, affine(outC rows × inC·KH·KW)
//	  3 maxpool: window          4 avgpool: window, u8 countIncludePad(0|1)
//	  5 relu     6 lut: u16 len, name, 256 × i8     7 reshape: shape
//	affine = u8 act(0 none|1 relu), u32 k(1|rows), k × fixed,
//	         rows × i32 bias, rows·cols × i8 weights (row-major)
//
// The decoder bounds sizes before allocating ([Limits]) and never panics;
// FuzzDecode checks that. docs/design/runtime.md gives the rationale.
package runtime
