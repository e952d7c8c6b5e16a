package market

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// Batched settlement.
//
// A buyer opens a session with one provider for one model and escrows a
// deposit. Calls then happen off the chain: the buyer signs each request
// (CallRequestBytes: session, sequence number, input digest), the provider
// runs it, signs the resulting CallRecord as a receipt, and appends it to
// its inference log. Now and then the provider settles a batch: the next
// Count records of the session, committed to by the RFC 6962 Merkle root
// of their bytes, with the records themselves in the content store. The
// chain charges Count calls from the deposit at once — one transaction for
// thousands of inferences — and pays the model owner, the data
// contributors and the provider when the batch's challenge window closes.
//
// Until then anyone holding the batch's records can challenge any single
// record with its inclusion proof. Fraud is decided on the chain, without
// re-execution: a record out of place (wrong session, sequence or model:
// an omitted or reordered call), a record whose buyer signature does not
// verify (a call that was never asked for), or a record that differs from
// a receipt the provider signed for the same call (an altered output).
// A proven fraud slashes the provider (a share to the challenger), voids
// every pending batch of the session and refunds the buyer.

// Session states.
const (
	SessionOpen   = "open"
	SessionClosed = "closed"

	BatchPending = "pending"
	BatchSettled = "settled"
	BatchVoided  = "voided"
)

// Gas and limits of sessions.
const (
	GasBatch          = 20_000
	GasBatchChallenge = 40_000
	MaxBatchCalls     = 1 << 24
	maxProofHashes    = 64
	maxRecordBytes    = 4 << 10
)

// Session is a buyer's prepaid line to one provider for one model.
type Session struct {
	ID       uint64       `json:"id"`
	Buyer    wire.Address `json:"buyer"`
	BuyerKey []byte       `json:"buyer_key"` // verifies the buyer's call signatures
	Provider wire.Address `json:"provider"`
	// ProviderKey verifies the provider's receipts.
	ProviderKey []byte      `json:"provider_key"`
	Model       registry.ID `json:"model"`
	// ModelPrice and ComputePrice are per call, fixed when it opened.
	ModelPrice   wire.Coin `json:"model_price"`
	ComputePrice wire.Coin `json:"compute_price"`
	// Deposit is what is left in escrow, not counting pending batches.
	Deposit wire.Coin `json:"deposit"`
	// Calls is how many calls batches have claimed: the next batch starts
	// at this sequence number.
	Calls   uint64 `json:"calls"`
	Opened  int64  `json:"opened"`
	Expires int64  `json:"expires"`
	State   string `json:"state"`
	Pending uint32 `json:"pending"`
}

// Batch is a provider's claim over a run of a session's calls.
type Batch struct {
	ID       uint64       `json:"id"`
	Session  uint64       `json:"session"`
	Provider wire.Address `json:"provider"`
	From     uint64       `json:"from"`
	Count    uint64       `json:"count"`
	Root     []byte       `json:"root"`
	// RecordsCID holds the records, one JSON document per line, in order.
	RecordsCID string    `json:"records_cid"`
	Amount     wire.Coin `json:"amount"`
	Height     int64     `json:"height"`
	WindowEnd  int64     `json:"window_end"`
	State      string    `json:"state"`
	// Fraud says why a voided batch was voided.
	Fraud string `json:"fraud,omitempty"`
	// Split is who a settled batch paid (net of protocol fees).
	Split []Payment `json:"split,omitempty"`
}

// CallRecord is one call served in a session: a leaf of a batch.
type CallRecord struct {
	Session      uint64      `json:"session"`
	Seq          uint64      `json:"seq"`
	Model        registry.ID `json:"model"`
	InputDigest  []byte      `json:"input_digest"`
	OutputDigest []byte      `json:"output_digest"`
	OutputCID    string      `json:"output_cid"`
	// BuyerSig is the buyer's signature of CallRequestBytes.
	BuyerSig []byte `json:"buyer_sig"`
}

// Encode returns a record's canonical bytes: the leaf data of a batch.
func (r *CallRecord) Encode() []byte { return ledger.MustEncodeJSON(r) }

// LeafHash is the RFC 6962 leaf hash of a record's bytes.
func LeafHash(record []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(record) }

// CallRequestBytes is what a buyer signs to ask for call seq of a session.
func CallRequestBytes(session, seq uint64, input []byte) []byte {
	b := []byte("vai/market/call/v1\n")
	b = binary.BigEndian.AppendUint64(b, session)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, input...)
}

// ReceiptBytes is what a provider signs to give the buyer a receipt for a
// record.
func ReceiptBytes(record []byte) []byte {
	h := sha256.Sum256(record)
	return append([]byte("vai/market/receipt/v1\n"), h[:]...)
}

// MsgOpenSession opens a session, escrowing Deposit.
type MsgOpenSession struct {
	Provider wire.Address `json:"provider"`
	Model    registry.ID  `json:"model"`
	Deposit  wire.Coin    `json:"deposit"`
	// Blocks the session stays open for calls and batches.
	Blocks int64 `json:"blocks"`
}

// Validate implements ledger.Msg.
func (m *MsgOpenSession) Validate() error {
	if _, err := registry.ParseID(string(m.Model)); err != nil {
		return err
	}
	if m.Deposit.IsZero() {
		return ErrBudget.Wrapf("the deposit must be positive")
	}
	if m.Blocks < 1 || m.Blocks > MaxDeadlineBlocks {
		return ErrBatch.Wrapf("blocks must be 1 to %d", MaxDeadlineBlocks)
	}
	return nil
}

// MsgSessionAction names a session: close takes it.
type MsgSessionAction struct {
	Session uint64 `json:"session"`
}

// Validate implements ledger.Msg.
func (m *MsgSessionAction) Validate() error {
	if m.Session == 0 {
		return ErrBatch.Wrapf("missing session")
	}
	return nil
}

// MsgSettleBatch is a provider's claim over the next Count calls.
type MsgSettleBatch struct {
	Session    uint64 `json:"session"`
	From       uint64 `json:"from"`
	Count      uint64 `json:"count"`
	Root       []byte `json:"root"`
	RecordsCID string `json:"records_cid"`
}

// Validate implements ledger.Msg.
func (m *MsgSettleBatch) Validate() error {
	if m.Session == 0 || m.Count == 0 || m.Count > MaxBatchCalls || len(m.Root) != 32 || m.RecordsCID == "" || len(m.RecordsCID) > maxTextBytes {
		return ErrBatch.Wrapf("a batch names its session, 1 to %d calls, a 32-byte root and the records' CID", MaxBatchCalls)
	}
	return nil
}

// MsgChallengeBatch proves one record of a pending batch fraudulent.
type MsgChallengeBatch struct {
	Batch  uint64   `json:"batch"`
	Index  uint64   `json:"index"`
	Record []byte   `json:"record"`
	Proof  [][]byte `json:"proof"`
	// Receipt, if given, is a record the provider signed for the same call.
	Receipt    []byte `json:"receipt,omitzero"`
	ReceiptSig []byte `json:"receipt_sig,omitzero"`
}

// Validate implements ledger.Msg.
func (m *MsgChallengeBatch) Validate() error {
	if m.Batch == 0 || len(m.Record) == 0 || len(m.Record) > maxRecordBytes || len(m.Proof) > maxProofHashes || len(m.Receipt) > maxRecordBytes {
		return ErrBatch.Wrapf("a challenge names the batch and gives a record (at most %d bytes) and its proof (at most %d hashes)", maxRecordBytes, maxProofHashes)
	}
	for _, h := range m.Proof {
		if len(h) != 32 {
			return ErrBatch.Wrapf("proof hashes are 32 bytes")
		}
	}
	if (len(m.Receipt) == 0) != (len(m.ReceiptSig) == 0) {
		return ErrBatch.Wrapf("a receipt comes with its signature")
	}
	return nil
}

// GetSession reads a session.
func GetSession(ctx *ledger.Context, id uint64) (*Session, bool) {
	return get[Session](ctx, idKey(pSession, id))
}

// GetBatch reads a batch.
func GetBatch(ctx *ledger.Context, id uint64) (*Batch, bool) {
	return get[Batch](ctx, idKey(pBatch, id))
}

func putSession(ctx *ledger.Context, s *Session) {
	put(ctx, idKey(pSession, s.ID), s)
	if s.State == SessionOpen {
		store(ctx).Set([]byte(idKey(pOpenSession, s.ID)), []byte{1})
	} else {
		store(ctx).Delete([]byte(idKey(pOpenSession, s.ID)))
	}
}

// indexed loads the records an index (of 8-byte ids) points to.
func indexed[T any](ctx *ledger.Context, index, records string) []T {
	it := store(ctx).Iterator([]byte(index), ledger.PrefixEnd([]byte(index)))
	var ids []uint64
	for ; it.Valid(); it.Next() {
		ids = append(ids, ledger.Uint64(it.Key()[len(index):]))
	}
	it.Close()
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		v, ok := get[T](ctx, idKey(records, id))
		if !ok {
			panic(&ledger.StorageError{Err: fmt.Errorf("index %s%d points to no record", index, id)})
		}
		out = append(out, *v)
	}
	return out
}
func putBatch(ctx *ledger.Context, b *Batch) { put(ctx, idKey(pBatch, b.ID), b) }

func batchDueKey(h int64, id uint64) []byte {
	return append(append([]byte(pBatchDue), ledger.PutUint64(uint64(h))...), ledger.PutUint64(id)...)
}

func sessionDueKey(h int64, id uint64) []byte {
	return append(append([]byte(pSessionDue), ledger.PutUint64(uint64(h))...), ledger.PutUint64(id)...)
}

func sessionBatchKey(session, batch uint64) []byte {
	return append(append([]byte(pSessionBatch), ledger.PutUint64(session)...), ledger.PutUint64(batch)...)
}

func (m *Module) openSession(ctx *ledger.Context, msg *MsgOpenSession) error {
	buyer := ctx.Signer()
	if buyer == msg.Provider {
		return ErrUnauthorized.Wrapf("a provider cannot open a session with itself")
	}
	o, ok := GetOffer(ctx, msg.Model)
	if !ok || !o.Active {
		return ErrNotOffered.Wrapf("model %s is not on the market", msg.Model)
	}
	pv, ok := GetProvider(ctx, msg.Provider)
	if !ok {
		return ErrNotProvider.Wrapf("%s", msg.Provider)
	}
	if pv.JailedUntil > ctx.Height {
		return ErrJailed.Wrapf("%s is jailed until height %d", pv.Address, pv.JailedUntil)
	}
	if len(pv.PubKey) == 0 {
		return ErrProvider.Wrapf("%s registered without a public key: it cannot sign receipts", pv.Address)
	}
	raw := store(ctx).Get([]byte(pServes + string(msg.Model) + "/" + string(msg.Provider[:])))
	if raw == nil {
		return ErrNotOffered.Wrapf("%s does not serve model %s", msg.Provider, msg.Model)
	}
	var compute wire.Coin
	if err := ledger.DecodeJSON(raw, &compute); err != nil {
		return err
	}
	per, c := bits.Add64(o.Price.Amount, compute.Amount, 0)
	if c != 0 || msg.Deposit.Amount < per {
		return ErrBudget.Wrapf("a deposit of %s does not pay for one call (%s)", msg.Deposit, wire.UVAI(per))
	}
	if err := m.bank.SendToModule(ctx, buyer, Name, msg.Deposit.Amount); err != nil {
		return err
	}
	s := &Session{ID: nextSeq(ctx, kSessionSeq), Buyer: buyer, BuyerKey: ctx.Tx.Body.PubKey, Provider: msg.Provider, ProviderKey: pv.PubKey, Model: msg.Model,
		ModelPrice: o.Price, ComputePrice: compute, Deposit: msg.Deposit, Opened: ctx.Height, Expires: ctx.Height + msg.Blocks, State: SessionOpen}
	putSession(ctx, s)
	store(ctx).Set(sessionDueKey(s.Expires+1, s.ID), []byte{1})
	ctx.Emit("session_opened", ledger.AI("session", utoa(s.ID)), ledger.AI("buyer", buyer.String()), ledger.AI("provider", s.Provider.String()),
		ledger.AI("model", string(s.Model)), ledger.A("deposit", s.Deposit.String()))
	return nil
}

// closeSession: the buyer after expiry, or the provider at any time. The
// deposit not claimed by batches goes back to the buyer; pending batches
// still settle.
func (m *Module) closeSession(ctx *ledger.Context, msg *MsgSessionAction) error {
	s, ok := GetSession(ctx, msg.Session)
	if !ok {
		return ErrBatch.Wrapf("no session %d", msg.Session)
	}
	if s.State != SessionOpen {
		return ErrJobState.Wrapf("session %d is %s", s.ID, s.State)
	}
	who := ctx.Signer()
	switch {
	case who == s.Provider:
	case who == s.Buyer && ctx.Height > s.Expires:
	case who == s.Buyer:
		return ErrWindow.Wrapf("the buyer closes session %d after it expires at height %d (its provider may close it any time)", s.ID, s.Expires)
	default:
		return ErrUnauthorized.Wrapf("only the session's buyer or provider closes it")
	}
	return m.endSession(ctx, s)
}

func (m *Module) endSession(ctx *ledger.Context, s *Session) error {
	if !s.Deposit.IsZero() {
		if err := m.bank.SendFromModule(ctx, Name, s.Buyer, s.Deposit.Amount); err != nil {
			return err
		}
	}
	ctx.Emit("session_closed", ledger.AI("session", utoa(s.ID)), ledger.A("refund", s.Deposit.String()), ledger.A("calls", utoa(s.Calls)))
	s.Deposit, s.State = wire.Coin{}, SessionClosed
	putSession(ctx, s)
	return nil
}

func (m *Module) settleBatch(ctx *ledger.Context, msg *MsgSettleBatch) error {
	s, ok := GetSession(ctx, msg.Session)
	if !ok {
		return ErrBatch.Wrapf("no session %d", msg.Session)
	}
	if ctx.Signer() != s.Provider {
		return ErrUnauthorized.Wrapf("only the session's provider settles its calls")
	}
	if s.State != SessionOpen || ctx.Height > s.Expires {
		return ErrWindow.Wrapf("session %d is closed or expired (at height %d)", s.ID, s.Expires)
	}
	if msg.From != s.Calls {
		return ErrBatch.Wrapf("session %d's next call is %d, not %d", s.ID, s.Calls, msg.From)
	}
	per := s.ModelPrice.Amount + s.ComputePrice.Amount // checked at open
	hi, amount := bits.Mul64(per, msg.Count)
	if hi != 0 {
		return ErrOverflow.Wrapf("%d calls at %d uvai", msg.Count, per)
	}
	if amount > s.Deposit.Amount {
		return ErrBudget.Wrapf("%d calls cost %s; session %d has %s left", msg.Count, wire.UVAI(amount), s.ID, s.Deposit)
	}
	s.Deposit.Amount -= amount
	s.Calls += msg.Count
	s.Pending++
	b := &Batch{ID: nextSeq(ctx, kBatchSeq), Session: s.ID, Provider: s.Provider, From: msg.From, Count: msg.Count, Root: msg.Root,
		RecordsCID: msg.RecordsCID, Amount: wire.UVAI(amount), Height: ctx.Height, WindowEnd: ctx.Height + params(ctx).ChallengeWindow, State: BatchPending}
	putSession(ctx, s)
	putBatch(ctx, b)
	store(ctx).Set(batchDueKey(b.WindowEnd+1, b.ID), []byte{1})
	store(ctx).Set(sessionBatchKey(s.ID, b.ID), []byte{1})
	store(ctx).Set(append(append([]byte(pSessionAll), ledger.PutUint64(s.ID)...), ledger.PutUint64(b.ID)...), []byte{1})
	ctx.Emit("batch_settled", ledger.AI("batch", utoa(b.ID)), ledger.AI("session", utoa(s.ID)), ledger.A("from", utoa(b.From)),
		ledger.A("count", utoa(b.Count)), ledger.A("amount", b.Amount.String()), ledger.A("until", itoa(b.WindowEnd)))
	return nil
}

// finalizeBatch pays a batch whose window closed: the model's price of
// every call to the owner and contributors, the compute price to the
// provider (the window was its vesting), protocol fees to the pool.
func (m *Module) finalizeBatch(ctx *ledger.Context, b *Batch) error {
	s, ok := GetSession(ctx, b.Session)
	if !ok {
		return ErrBatch.Wrapf("batch %d: no session %d", b.ID, b.Session)
	}
	md, err := modelInfo(ctx, s.Model)
	if err != nil {
		return err
	}
	modelTotal := s.ModelPrice.Amount * b.Count // ≤ Amount: no overflow
	var split []Payment
	dust, err := m.payModel(ctx, md, modelTotal, ledger.AI("batch", utoa(b.ID)), &split)
	if err != nil {
		return err
	}
	net, err := m.payNet(ctx, b.Provider, b.Amount.Amount-modelTotal+dust, 0, false)
	if err != nil {
		return err
	}
	b.Split = append(split, Payment{To: b.Provider, Kind: PayExecutor, Amount: wire.UVAI(net)})
	m.outcome(ctx, b.Provider, true) // a batch counts as one delivery
	store(ctx).Delete(sessionBatchKey(s.ID, b.ID))
	b.State = BatchSettled
	putBatch(ctx, b)
	s.Pending--
	putSession(ctx, s)
	ctx.Emit("batch_paid", ledger.AI("batch", utoa(b.ID)), ledger.A("amount", b.Amount.String()))
	return nil
}

// MsgFinalizeBatch pays a batch whose window closed (anyone may send it;
// the end of block does it too, within its work bound).
type MsgFinalizeBatch struct {
	Batch uint64 `json:"batch"`
}

// Validate implements ledger.Msg.
func (m *MsgFinalizeBatch) Validate() error {
	if m.Batch == 0 {
		return ErrBatch.Wrapf("missing batch")
	}
	return nil
}

func (m *Module) finalizeBatchMsg(ctx *ledger.Context, msg *MsgFinalizeBatch) error {
	b, ok := GetBatch(ctx, msg.Batch)
	if !ok {
		return ErrBatch.Wrapf("no batch %d", msg.Batch)
	}
	if b.State != BatchPending {
		return ErrJobState.Wrapf("batch %d is %s", b.ID, b.State)
	}
	if ctx.Height <= b.WindowEnd {
		return ErrWindow.Wrapf("batch %d can be challenged until height %d", b.ID, b.WindowEnd)
	}
	store(ctx).Delete(batchDueKey(b.WindowEnd+1, b.ID))
	return m.finalizeBatch(ctx, b)
}

// sessionsDue closes sessions past their expiry, refunding what is left.
func (m *Module) sessionsDue(ctx *ledger.Context, budget *uint32) error {
	keys, ids := dueIDs(ctx, pSessionDue, budget)
	for i, k := range keys {
		store(ctx).Delete(k)
		ss, ok := GetSession(ctx, ids[i])
		if !ok || ss.State != SessionOpen {
			continue
		}
		if err := m.endSession(ctx, ss); err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) batchDue(ctx *ledger.Context, budget *uint32) error {
	keys, ids := dueIDs(ctx, pBatchDue, budget)
	for i, k := range keys {
		store(ctx).Delete(k)
		b, ok := GetBatch(ctx, ids[i])
		if !ok || b.State != BatchPending {
			continue
		}
		if err := ctx.Try(func(c *ledger.Context) error { return m.finalizeBatch(c, b) }); err != nil {
			if err := m.abandonBatch(ctx, b.ID, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// abandonBatch voids a batch whose payment failed (a bug, not a reason to
// halt the chain), refunding its amount to the buyer; the error is an event.
func (m *Module) abandonBatch(ctx *ledger.Context, id uint64, cause error) error {
	return ctx.Try(func(c *ledger.Context) error {
		b, ok := GetBatch(c, id)
		if !ok {
			return cause
		}
		s, ok := GetSession(c, b.Session)
		if !ok {
			return cause
		}
		c.Emit("batch_error", ledger.AI("batch", utoa(id)), ledger.A("error", cause.Error()))
		if err := m.bank.SendFromModule(c, Name, s.Buyer, b.Amount.Amount); err != nil {
			return err
		}
		b.State, b.Fraud = BatchVoided, "not paid: "+cause.Error()
		putBatch(c, b)
		store(c).Delete(sessionBatchKey(s.ID, b.ID))
		s.Pending--
		putSession(c, s)
		return nil
	})
}

// challengeBatch checks a fraud proof against one record of a batch.
func (m *Module) challengeBatch(ctx *ledger.Context, msg *MsgChallengeBatch) error {
	b, ok := GetBatch(ctx, msg.Batch)
	if !ok {
		return ErrBatch.Wrapf("no batch %d", msg.Batch)
	}
	if b.State != BatchPending {
		return ErrJobState.Wrapf("batch %d is %s", b.ID, b.State)
	}
	if ctx.Height > b.WindowEnd {
		return ErrWindow.Wrapf("the challenge window of batch %d closed at height %d", b.ID, b.WindowEnd)
	}
	if msg.Index >= b.Count {
		return ErrBatch.Wrapf("batch %d has %d records", b.ID, b.Count)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, msg.Index, b.Count, LeafHash(msg.Record), msg.Proof, b.Root); err != nil {
		return ErrBatch.Wrapf("the record is not leaf %d of batch %d: %v", msg.Index, b.ID, err)
	}
	s, ok := GetSession(ctx, b.Session)
	if !ok {
		return ErrBatch.Wrapf("no session %d", b.Session)
	}
	fraud := recordFraud(s, b, msg)
	if fraud == "" {
		return ErrBatch.Wrapf("record %d of batch %d is in order, signed by the buyer and consistent with the receipt: no fraud", msg.Index, b.ID)
	}
	return m.punishBatch(ctx, s, b, ctx.Signer(), fraud)
}

// recordFraud says what is wrong with a proven record, or "".
func recordFraud(s *Session, b *Batch, msg *MsgChallengeBatch) string {
	seq := b.From + msg.Index
	var r CallRecord
	if err := ledger.DecodeJSON(msg.Record, &r); err != nil {
		return "malformed record: " + err.Error()
	}
	if !bytes.Equal(r.Encode(), msg.Record) {
		return "record not in canonical form"
	}
	if r.Session != s.ID || r.Seq != seq || r.Model != s.Model {
		return "record out of place: session " + utoa(r.Session) + " call " + utoa(r.Seq) + " stands where call " + utoa(seq) + " of session " + utoa(s.ID) + " belongs"
	}
	if len(r.InputDigest) != 32 || !wire.VerifySignature(s.BuyerKey, CallRequestBytes(s.ID, seq, r.InputDigest), r.BuyerSig) {
		return "call " + utoa(seq) + " was not requested by the buyer"
	}
	if len(msg.Receipt) > 0 {
		if wire.VerifySignature(s.ProviderKey, ReceiptBytes(msg.Receipt), msg.ReceiptSig) {
			var rc CallRecord
			if err := ledger.DecodeJSON(msg.Receipt, &rc); err == nil && rc.Session == s.ID && rc.Seq == seq && !bytes.Equal(msg.Receipt, msg.Record) {
				return "call " + utoa(seq) + " differs from the receipt the provider signed"
			}
		}
	}
	return ""
}

// punishBatch slashes the provider of a fraudulent batch (a share to the
// challenger), voids the session's pending batches and closes it,
// refunding the buyer.
func (m *Module) punishBatch(ctx *ledger.Context, s *Session, b *Batch, challenger wire.Address, fraud string) error {
	p := params(ctx)
	amount, err := m.slash(ctx, s.Provider, p.SlashBps)
	if err != nil {
		return err
	}
	if pv, ok := GetProvider(ctx, s.Provider); ok {
		pv.Slashed++
		putProvider(ctx, pv)
	}
	m.outcome(ctx, s.Provider, false)
	reward := mulDiv(amount, uint64(p.SlashRewardBps), 10_000)
	if err := m.split(ctx, reward, []wire.Address{challenger}); err != nil {
		return err
	}
	if burn := amount - reward; burn > 0 {
		if err := m.bank.Burn(ctx, moduleAddr, burn); err != nil {
			return err
		}
	}
	ctx.Emit("provider_slashed", ledger.AI("batch", utoa(b.ID)), ledger.AI("provider", s.Provider.String()), ledger.A("amount", wire.UVAI(amount).String()),
		ledger.A("fraud", fraud))
	// Every pending batch of the session goes back into its deposit.
	prefix := append([]byte(pSessionBatch), ledger.PutUint64(s.ID)...)
	it := store(ctx).Iterator(prefix, ledger.PrefixEnd(prefix))
	var pending [][]byte
	for ; it.Valid(); it.Next() {
		pending = append(pending, it.Key())
	}
	it.Close()
	for _, k := range pending {
		store(ctx).Delete(k)
		ob, ok := GetBatch(ctx, ledger.Uint64(k[len(prefix):]))
		if !ok || ob.State != BatchPending {
			continue
		}
		ob.State = BatchVoided
		if ob.ID == b.ID {
			ob.Fraud = fraud
		}
		s.Deposit.Amount += ob.Amount.Amount
		s.Pending--
		putBatch(ctx, ob)
		ctx.Emit("batch_voided", ledger.AI("batch", utoa(ob.ID)), ledger.AI("session", utoa(s.ID)))
	}
	if s.State == SessionOpen {
		return m.endSession(ctx, s)
	}
	if !s.Deposit.IsZero() {
		if err := m.bank.SendFromModule(ctx, Name, s.Buyer, s.Deposit.Amount); err != nil {
			return err
		}
		s.Deposit = wire.Coin{}
	}
	putSession(ctx, s)
	return nil
}
