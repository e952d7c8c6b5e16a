package market

import (
	"encoding/hex"
	"encoding/json"
	"strconv"

	vairt "github.com/vai-dev/vai/runtime"
)

// OutputDoc is the result document of a job run by the deterministic
// runtime, stored in the content store; the result digest on the chain is
// the SHA-256 of its bytes. Its encoding (JSON, fields in this order, no
// spaces) is the same on every provider for the same model and input, so
// redundant providers agree on the digest, and the chain can rebuild it
// from a zk proof's public output.
type OutputDoc struct {
	// Model is "sha256:" and the digest of the .vaim artifact; Input the
	// hex SHA-256 of the input's bytes.
	Model   string   `json:"model"`
	Input   string   `json:"input"`
	Outputs []Sample `json:"outputs,omitempty"`
	// Error, instead of outputs, when the input cannot be run (malformed,
	// wrong shape, out of range): deterministic, so providers agree on it.
	Error string `json:"error,omitempty"`
}

// Sample is one sample's result: the predicted class (the first largest
// output) and the raw int8 outputs.
type Sample struct {
	Argmax int    `json:"argmax"`
	Output []int8 `json:"output"`
}

// Encode returns the document's canonical bytes.
func (o *OutputDoc) Encode() []byte {
	b, err := json.Marshal(o) // strings and integers only: deterministic
	if err != nil {
		panic(err)
	}
	return b
}

// NewOutputDoc builds the document of a run: outputs holds n samples'
// outputs back to back.
func NewOutputDoc(artifactDigest string, inputDigest []byte, outputs []int8, n int) *OutputDoc {
	o := &OutputDoc{Model: "sha256:" + artifactDigest, Input: hex.EncodeToString(inputDigest), Outputs: make([]Sample, n)}
	size := len(outputs) / max(n, 1)
	for i := range n {
		v := outputs[i*size : (i+1)*size]
		o.Outputs[i] = Sample{Argmax: vairt.Argmax(v), Output: v}
	}
	return o
}

// ZKJobID is what a zk proof of a job binds as its job id, so a proof
// cannot be replayed for another job.
func ZKJobID(job uint64) []byte { return []byte("vai/market/job/" + strconv.FormatUint(job, 10)) }
