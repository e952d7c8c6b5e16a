package provider

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/market"
	"github.com/vai-dev/vai/manifest"
	"github.com/vai-dev/vai/wire"
)

// SessionClient is a buyer's side of a session: it signs calls, sends
// them to the provider, and checks every receipt (the provider's
// signature, the record's place, input and output digests) before
// accepting it. Keep the receipts: they prove what the provider answered
// (see Audit).
type SessionClient struct {
	HTTP     *http.Client
	Endpoint string // the provider's session server, e.g. http://127.0.0.1:7001
	Key      ed25519.PrivateKey
	Session  market.Session
}

// Info asks the provider for the session's next sequence number.
func (c *SessionClient) Info(ctx context.Context) (*SessionInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(""), nil)
	if err != nil {
		return nil, err
	}
	res, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var info SessionInfo
	return &info, decodeResponse(res, &info)
}

func (c *SessionClient) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *SessionClient) url(suffix string) string {
	return strings.TrimSuffix(c.Endpoint, "/") + "/v1/sessions/" + strconv.FormatUint(c.Session.ID, 10) + suffix
}

// Call sends inputs as the calls from seq on and returns their checked
// receipts.
func (c *SessionClient) Call(ctx context.Context, seq uint64, inputs [][]byte) ([]Receipt, error) {
	calls := make([]Call, len(inputs))
	for i, in := range inputs {
		s := seq + uint64(i)
		calls[i] = Call{Seq: s, Input: in, Sig: ed25519.Sign(c.Key, market.CallRequestBytes(c.Session.ID, s, Digest(in)))}
	}
	body, err := json.Marshal(calls)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/calls"), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out []Receipt
	if err := decodeResponse(res, &out); err != nil {
		return nil, err
	}
	if len(out) != len(calls) {
		return nil, fmt.Errorf("%d receipts for %d calls", len(out), len(calls))
	}
	for i, r := range out {
		if err := c.CheckReceipt(&r, &calls[i]); err != nil {
			return nil, fmt.Errorf("call %d: %w", calls[i].Seq, err)
		}
	}
	return out, nil
}

// CheckReceipt checks that a receipt answers a call: signed by the
// session's provider, for this session, sequence number, model and input,
// with the output it carries.
func (c *SessionClient) CheckReceipt(r *Receipt, call *Call) error {
	if !wire.VerifySignature(c.Session.ProviderKey, market.ReceiptBytes(r.Record), r.Sig) {
		return fmt.Errorf("receipt not signed by the session's provider")
	}
	var rec market.CallRecord
	if err := ledger.DecodeJSON(r.Record, &rec); err != nil {
		return fmt.Errorf("receipt record: %w", err)
	}
	switch {
	case rec.Session != c.Session.ID || rec.Seq != call.Seq || rec.Model != c.Session.Model:
		return fmt.Errorf("receipt for session %d call %d of %s", rec.Session, rec.Seq, rec.Model)
	case !bytes.Equal(rec.InputDigest, Digest(call.Input)):
		return fmt.Errorf("receipt for a different input")
	case !bytes.Equal(rec.OutputDigest, Digest(r.Output)):
		return fmt.Errorf("the output does not match the receipt's digest")
	case !bytes.Equal(rec.BuyerSig, call.Sig):
		return fmt.Errorf("receipt carries a different request signature")
	}
	return nil
}

// Finding is a fraud found in a batch, ready to challenge.
type Finding struct {
	Batch  uint64
	Reason string
	Msg    market.MsgChallengeBatch
}

// AuditBatch checks a batch's published records against the root the
// chain holds and against the buyer's receipts (by sequence number); it
// returns the first fraud it can prove, or nil.
func AuditBatch(b *market.Batch, s *market.Session, records []byte, receipts map[uint64]Receipt) (*Finding, error) {
	lines := bytes.Split(bytes.TrimSuffix(records, []byte("\n")), []byte("\n"))
	if uint64(len(lines)) != b.Count {
		return nil, fmt.Errorf("batch %d: %d records published, the batch claims %d", b.ID, len(lines), b.Count)
	}
	leaves := make([][]byte, len(lines))
	for i, l := range lines {
		leaves[i] = market.LeafHash(l)
	}
	tree := manifest.NewTree(leaves)
	if !bytes.Equal(tree.Root(), b.Root) {
		return nil, fmt.Errorf("batch %d: the published records do not hash to the batch's root", b.ID)
	}
	for i, l := range lines {
		seq := b.From + uint64(i)
		path, err := tree.Path(uint64(i))
		if err != nil {
			return nil, err
		}
		msg := market.MsgChallengeBatch{Batch: b.ID, Index: uint64(i), Record: l, Proof: path}
		var rec market.CallRecord
		if err := ledger.DecodeJSON(l, &rec); err != nil || !bytes.Equal(rec.Encode(), l) {
			return &Finding{Batch: b.ID, Reason: "malformed record", Msg: msg}, nil
		}
		if rec.Session != s.ID || rec.Seq != seq || rec.Model != s.Model {
			return &Finding{Batch: b.ID, Reason: fmt.Sprintf("call %d is out of place", seq), Msg: msg}, nil
		}
		if !wire.VerifySignature(s.BuyerKey, market.CallRequestBytes(s.ID, seq, rec.InputDigest), rec.BuyerSig) {
			return &Finding{Batch: b.ID, Reason: fmt.Sprintf("call %d was never requested", seq), Msg: msg}, nil
		}
		if r, ok := receipts[seq]; ok && !bytes.Equal(r.Record, l) && receiptFor(s, seq, &r) {
			msg.Receipt, msg.ReceiptSig = r.Record, r.Sig
			return &Finding{Batch: b.ID, Reason: fmt.Sprintf("call %d differs from its receipt", seq), Msg: msg}, nil
		}
	}
	return nil, nil
}

// receiptFor reports whether r is the provider's signed receipt of call
// seq of the session.
func receiptFor(s *market.Session, seq uint64, r *Receipt) bool {
	var rec market.CallRecord
	return wire.VerifySignature(s.ProviderKey, market.ReceiptBytes(r.Record), r.Sig) &&
		ledger.DecodeJSON(r.Record, &rec) == nil && rec.Session == s.ID && rec.Seq == seq
}
