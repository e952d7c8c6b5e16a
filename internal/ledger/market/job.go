package market

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// Gas of job messages.
const (
	GasSubmit         = 20_000
	GasCommit         = 10_000
	GasReveal         = 15_000
	MaxDeadlineBlocks = 1_000_000
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// MsgSubmitJob posts a job and escrows its budget.
type MsgSubmitJob struct {
	Model       registry.ID `json:"model"`
	InputCID    string      `json:"input_cid"`
	InputDigest []byte      `json:"input_digest"` // SHA-256 of the input
	Budget      wire.Coin   `json:"budget"`
	// Deadline is in blocks from submission.
	Deadline int64 `json:"deadline"`
	Mode     Mode  `json:"mode"`
	// Providers, if set, are the only providers the job may be given to
	// (executors and arbiters). Encrypted says the input is encrypted (age)
	// to their keys: InputDigest is then the plaintext's.
	Providers []wire.Address `json:"providers,omitzero"`
	Encrypted bool           `json:"encrypted,omitzero"`
}

// MaxJobProviders bounds a job's list of allowed providers.
const MaxJobProviders = 32

// Validate implements ledger.Msg.
func (m *MsgSubmitJob) Validate() error {
	if _, err := registry.ParseID(string(m.Model)); err != nil {
		return err
	}
	if len(m.InputDigest) != 32 {
		return ErrJob.Wrapf("input_digest must be a 32-byte SHA-256")
	}
	if m.InputCID == "" || len(m.InputCID) > maxTextBytes {
		return ErrJob.Wrapf("missing or overlong input_cid")
	}
	if m.Budget.IsZero() {
		return ErrBudget.Wrapf("the budget must be positive")
	}
	if m.Deadline < 1 || m.Deadline > MaxDeadlineBlocks {
		return ErrJob.Wrapf("deadline must be 1 to %d blocks", MaxDeadlineBlocks)
	}
	if m.Mode.Kind == "" {
		return ErrMode.Wrapf("missing mode")
	}
	if len(m.Providers) > MaxJobProviders {
		return ErrJob.Wrapf("at most %d providers", MaxJobProviders)
	}
	seen := map[wire.Address]bool{}
	for _, p := range m.Providers {
		if seen[p] {
			return ErrJob.Wrapf("provider %s listed twice", p)
		}
		seen[p] = true
	}
	if m.Encrypted && len(m.Providers) == 0 {
		return ErrJob.Wrapf("an encrypted input is encrypted to providers: list them")
	}
	return nil
}

// MsgJobAction names a job: cancel, decline, challenge and settle take it.
type MsgJobAction struct {
	Job uint64 `json:"job"`
}

// Validate implements ledger.Msg.
func (m *MsgJobAction) Validate() error {
	if m.Job == 0 {
		return ErrJob.Wrapf("missing job")
	}
	return nil
}

// MsgCommit is an assigned provider's result. In redundant mode and in
// arbitration it is a Commitment (revealed later); in optimistic, zk and
// tee modes the Output itself, with Evidence for zk and tee.
type MsgCommit struct {
	Job        uint64 `json:"job"`
	Commitment []byte `json:"commitment,omitzero"`
	Output     []byte `json:"output,omitzero"`
	OutputCID  string `json:"output_cid,omitzero"`
	Evidence   []byte `json:"evidence,omitzero"`
}

// Validate implements ledger.Msg.
func (m *MsgCommit) Validate() error {
	if m.Job == 0 {
		return ErrJob.Wrapf("missing job")
	}
	switch {
	case len(m.Commitment) == 32 && len(m.Output) == 0:
	case len(m.Commitment) == 0 && len(m.Output) == 32 && m.OutputCID != "":
	default:
		return ErrJob.Wrapf("give either a 32-byte commitment, or a 32-byte output digest and its CID")
	}
	if len(m.OutputCID) > maxTextBytes || len(m.Evidence) > 64<<10 {
		return ErrJob.Wrapf("output_cid or evidence too large")
	}
	return nil
}

// MsgReveal opens a commitment.
type MsgReveal struct {
	Job       uint64 `json:"job"`
	Output    []byte `json:"output"`
	OutputCID string `json:"output_cid"`
	Salt      []byte `json:"salt"`
}

// Validate implements ledger.Msg.
func (m *MsgReveal) Validate() error {
	if m.Job == 0 || len(m.Output) != 32 || len(m.Salt) != 32 || m.OutputCID == "" || len(m.OutputCID) > maxTextBytes {
		return ErrJob.Wrapf("a reveal names the job, a 32-byte output digest, its CID and the 32-byte salt")
	}
	return nil
}

// Commitment is what a provider commits to in commit-reveal: it binds the
// job, the provider and the output, and hides the output until revealed.
func Commitment(job uint64, provider wire.Address, output, salt []byte) []byte {
	h := sha256.New()
	h.Write([]byte("vai/market/commit/v1"))
	h.Write(binary.BigEndian.AppendUint64(nil, job))
	h.Write(provider[:])
	h.Write(output)
	h.Write(salt)
	return h.Sum(nil)
}

// GetJob reads a job.
func GetJob(ctx *ledger.Context, id uint64) (*Job, bool) { return get[Job](ctx, idKey(pJob, id)) }

// putJob stores a job and keeps the index of providers' open assignments.
func putJob(ctx *ledger.Context, j *Job) {
	put(ctx, idKey(pJob, j.ID), j)
	if j.State == StateClosed {
		store(ctx).Delete([]byte(idKey(pOpenJob, j.ID)))
	} else {
		store(ctx).Set([]byte(idKey(pOpenJob, j.ID)), []byte{1})
	}
	for _, a := range j.Assignments {
		k := assignedKey(a.Provider, j.ID)
		if a.open() {
			store(ctx).Set(k, []byte{1})
		} else {
			store(ctx).Delete(k)
		}
	}
}

func assignedKey(p wire.Address, job uint64) []byte {
	return append(append([]byte(pAssigned), p[:]...), ledger.PutUint64(job)...)
}

func (m *Module) submit(ctx *ledger.Context, msg *MsgSubmitJob) error {
	p := params(ctx)
	o, ok := GetOffer(ctx, msg.Model)
	if !ok || !o.Active {
		return ErrNotOffered.Wrapf("model %s is not on the market", msg.Model)
	}
	mode := msg.Mode
	if mode.Kind == ModeRedundant && mode.K > p.MaxRedundancy {
		return ErrMode.Wrapf("redundancy %d above the maximum %d", mode.K, p.MaxRedundancy)
	}
	if o.Format != "vaim" && (mode.Kind == ModeRedundant || mode.Kind == ModeZK) {
		return ErrMode.Wrapf("model %s runs outside the deterministic runtime (%s): only optimistic or tee verification", msg.Model, o.Format)
	}
	if (mode.Kind == ModeZK || mode.Kind == ModeTEE) && m.verifiers[mode.Kind] == nil {
		return ErrMode.Wrapf("no %s verifier on this chain", mode.Kind)
	}
	// At least one uvai of compute per executor on top of the model price.
	min, c := bits.Add64(o.Price.Amount, uint64(mode.K), 0)
	if c != 0 || msg.Budget.Amount < min {
		return ErrBudget.Wrapf("budget %s does not cover the model's price %s and %d executor(s)", msg.Budget, o.Price, mode.K)
	}
	if len(msg.Providers) > 0 {
		// Enough of them for the mode: K executors, or an executor and
		// its arbiters (who must read the input too).
		need := int(mode.K)
		if mode.Kind == ModeOptimistic {
			need = 1 + int(p.Arbiters)
		}
		if len(msg.Providers) < need {
			return ErrJob.Wrapf("%s needs at least %d providers to choose from, the job lists %d", mode, need, len(msg.Providers))
		}
		for _, a := range msg.Providers {
			pv, ok := GetProvider(ctx, a)
			if !ok {
				return ErrNotProvider.Wrapf("%s", a)
			}
			if msg.Encrypted && pv.EncryptionKey == "" {
				return ErrJob.Wrapf("provider %s has no encryption key to encrypt the input to", a)
			}
		}
	}
	buyer := ctx.Signer()
	if err := m.bank.SendToModule(ctx, buyer, Name, msg.Budget.Amount); err != nil {
		return err
	}
	j := &Job{ID: nextSeq(ctx, kJobSeq), Buyer: buyer, Model: msg.Model, InputCID: msg.InputCID, InputDigest: msg.InputDigest,
		Mode: mode, Budget: msg.Budget, ModelPrice: o.Price, Deadline: ctx.Height + msg.Deadline, State: StateOpen,
		Submitted: ctx.Height, Assignments: []Assignment{}, Need: mode.K, Providers: msg.Providers, Encrypted: msg.Encrypted}
	store(ctx).Set([]byte(idKey(pQueue, j.ID)), []byte{1})
	m.reschedule(ctx, j)
	putJob(ctx, j)
	ctx.Emit("job_submitted", ledger.AI("job", utoa(j.ID)), ledger.AI("buyer", buyer.String()), ledger.AI("model", string(j.Model)),
		ledger.A("mode", mode.String()), ledger.A("budget", msg.Budget.String()))
	return nil
}

func utoa(n uint64) string { return strconv.FormatUint(n, 10) }

func (m *Module) cancel(ctx *ledger.Context, msg *MsgJobAction) error {
	j, ok := GetJob(ctx, msg.Job)
	if !ok {
		return ErrJobNotFound.Wrapf("%d", msg.Job)
	}
	if j.Buyer != ctx.Signer() {
		return ErrUnauthorized.Wrapf("only the buyer cancels a job")
	}
	if j.State != StateOpen || len(j.Assignments) > 0 {
		return ErrJobState.Wrapf("job %d is %s with %d assignment(s): only unassigned jobs are cancelled", j.ID, j.State, len(j.Assignments))
	}
	return m.close(ctx, j, CloseCancelled, nil)
}

// assignment returns the signer's open assignment in the job.
func assignment(j *Job, who wire.Address, states ...string) (int, *Assignment) {
	for i := range j.Assignments {
		a := &j.Assignments[i]
		if a.Provider == who && slices.Contains(states, a.State) {
			return i, a
		}
	}
	return -1, nil
}

func (m *Module) decline(ctx *ledger.Context, msg *MsgJobAction) error {
	j, ok := GetJob(ctx, msg.Job)
	if !ok {
		return ErrJobNotFound.Wrapf("%d", msg.Job)
	}
	_, a := assignment(j, ctx.Signer(), AsgAssigned)
	if a == nil {
		return ErrNotAssigned.Wrapf("%s has no pending assignment in job %d", ctx.Signer(), j.ID)
	}
	a.State = AsgDeclined
	m.release(ctx, a.Provider)
	j.Need++
	if j.State == StateOpen || j.State == StateRunning || j.State == StateDisputed {
		store(ctx).Set([]byte(idKey(pQueue, j.ID)), []byte{1})
	}
	m.reschedule(ctx, j)
	putJob(ctx, j)
	ctx.Emit("job_declined", ledger.AI("job", utoa(j.ID)), ledger.AI("provider", a.Provider.String()))
	return nil
}

func (m *Module) commit(ctx *ledger.Context, msg *MsgCommit) error {
	j, ok := GetJob(ctx, msg.Job)
	if !ok {
		return ErrJobNotFound.Wrapf("%d", msg.Job)
	}
	_, a := assignment(j, ctx.Signer(), AsgAssigned)
	if a == nil {
		return ErrNotAssigned.Wrapf("%s has no assignment awaiting a result in job %d", ctx.Signer(), j.ID)
	}
	hidden := a.Role == RoleArbiter || j.Mode.Kind == ModeRedundant
	if hidden != (len(msg.Commitment) == 32) {
		if hidden {
			return ErrJob.Wrapf("job %d needs a commitment (commit-reveal), not the output", j.ID)
		}
		return ErrJob.Wrapf("job %d takes the output itself, not a commitment", j.ID)
	}
	if hidden {
		a.State, a.Commitment = AsgCommitted, msg.Commitment
		ctx.Emit("job_committed", ledger.AI("job", utoa(j.ID)), ledger.AI("provider", a.Provider.String()))
		m.maybeReveal(ctx, j)
		m.reschedule(ctx, j)
		putJob(ctx, j)
		return nil
	}
	a.State, a.Output, a.OutputCID = AsgRevealed, msg.Output, msg.OutputCID
	ctx.Emit("job_result", ledger.AI("job", utoa(j.ID)), ledger.AI("provider", a.Provider.String()), ledger.A("output", hexs(msg.Output)))
	j.Result = &Result{Output: msg.Output, OutputCID: msg.OutputCID, Provider: a.Provider, Height: ctx.Height}
	switch j.Mode.Kind {
	case ModeOptimistic:
		j.State = StateChallenge
		j.WindowEnd = ctx.Height + params(ctx).ChallengeWindow
		m.reschedule(ctx, j)
		putJob(ctx, j)
		return nil
	default: // zk, tee: verified now, settled now
		v := m.verifiers[j.Mode.Kind]
		if v == nil {
			return ErrMode.Wrapf("no %s verifier", j.Mode.Kind)
		}
		if err := v.Verify(ctx, j, a.Provider, msg.Output, msg.Evidence); err != nil {
			return ErrVerification.Wrap(err)
		}
		j.Result.Evidence = msg.Evidence
		return m.settle(ctx, j, []int{indexOf(j, a)}, CloseSettled)
	}
}

func indexOf(j *Job, a *Assignment) int {
	for i := range j.Assignments {
		if &j.Assignments[i] == a {
			return i
		}
	}
	return -1
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// active returns the assignments of a role that still count.
func active(j *Job, role string) []int {
	var out []int
	for i, a := range j.Assignments {
		if a.Role == role && a.open() {
			out = append(out, i)
		}
	}
	return out
}

// maybeReveal moves a job to the reveal phase once every assignment of the
// current round has committed.
func (m *Module) maybeReveal(ctx *ledger.Context, j *Job) {
	role := RoleExecutor
	if j.State == StateDisputed {
		role = RoleArbiter
	}
	if j.Need > 0 {
		return
	}
	for _, i := range active(j, role) {
		if j.Assignments[i].State == AsgAssigned {
			return
		}
	}
	if j.State != StateDisputed {
		j.State = StateRevealing
	}
	j.WindowEnd = ctx.Height + params(ctx).RevealTimeout
	ctx.Emit("job_reveal", ledger.AI("job", utoa(j.ID)), ledger.A("until", itoa(j.WindowEnd)))
}

func (m *Module) reveal(ctx *ledger.Context, msg *MsgReveal) error {
	j, ok := GetJob(ctx, msg.Job)
	if !ok {
		return ErrJobNotFound.Wrapf("%d", msg.Job)
	}
	if j.State != StateRevealing && j.State != StateDisputed {
		return ErrJobState.Wrapf("job %d is %s: nothing to reveal", j.ID, j.State)
	}
	if j.WindowEnd == 0 {
		return ErrJobState.Wrapf("job %d waits for other commitments before reveals", j.ID)
	}
	_, a := assignment(j, ctx.Signer(), AsgCommitted)
	if a == nil {
		return ErrNotAssigned.Wrapf("%s has no commitment to reveal in job %d", ctx.Signer(), j.ID)
	}
	if !bytes.Equal(Commitment(j.ID, a.Provider, msg.Output, msg.Salt), a.Commitment) {
		return ErrCommitment.Wrapf("job %d: the output and salt do not open %s's commitment", j.ID, a.Provider)
	}
	a.State, a.Output, a.OutputCID = AsgRevealed, msg.Output, msg.OutputCID
	ctx.Emit("job_revealed", ledger.AI("job", utoa(j.ID)), ledger.AI("provider", a.Provider.String()), ledger.A("output", hexs(msg.Output)))
	role := RoleExecutor
	if j.State == StateDisputed {
		role = RoleArbiter
	}
	for _, i := range active(j, role) {
		if j.Assignments[i].State != AsgRevealed {
			m.reschedule(ctx, j)
			putJob(ctx, j)
			return nil
		}
	}
	return m.tally(ctx, j)
}

// majority returns the output a strict majority of the revealed
// assignments of role gave, and the indices that gave it and not.
func majority(j *Job, role string) (out []byte, yes, no []int) {
	idx := active(j, role)
	counts := map[string]int{}
	for _, i := range idx {
		counts[string(j.Assignments[i].Output)]++
	}
	// Deterministic: decide by the counts, not by map order.
	for _, i := range idx {
		o := j.Assignments[i].Output
		if counts[string(o)]*2 > len(idx) {
			out = o
			break
		}
	}
	if out == nil {
		return nil, nil, idx
	}
	for _, i := range idx {
		if bytes.Equal(j.Assignments[i].Output, out) {
			yes = append(yes, i)
		} else {
			no = append(no, i)
		}
	}
	return out, yes, no
}

// tally decides a job once every active assignment of its round revealed.
func (m *Module) tally(ctx *ledger.Context, j *Job) error {
	if j.State == StateDisputed {
		return m.tallyDispute(ctx, j)
	}
	out, yes, no := majority(j, RoleExecutor)
	if out == nil {
		// No majority: one more executor breaks the tie if the budget
		// allows; otherwise the buyer gets the money back.
		if m.slotBudget(j, 1) > 0 && j.Rounds < j.Mode.K+2 {
			j.Need, j.State, j.WindowEnd = 1, StateRunning, 0
			store(ctx).Set([]byte(idKey(pQueue, j.ID)), []byte{1})
			ctx.Emit("job_tie", ledger.AI("job", utoa(j.ID)))
			m.reschedule(ctx, j)
			putJob(ctx, j)
			return nil
		}
		// close marks the revealed assignments unpaid and frees their slots.
		return m.close(ctx, j, CloseInconclusive, nil)
	}
	first := j.Assignments[yes[0]]
	j.Result = &Result{Output: out, OutputCID: first.OutputCID, Provider: first.Provider, Height: ctx.Height}
	winners := make([]wire.Address, len(yes))
	for k, i := range yes {
		winners[k] = j.Assignments[i].Provider
	}
	for _, i := range no {
		if err := m.slashAssignment(ctx, j, i, winners); err != nil {
			return err
		}
	}
	return m.settle(ctx, j, yes, CloseSettled)
}

func (m *Module) challenge(ctx *ledger.Context, msg *MsgJobAction) error {
	j, ok := GetJob(ctx, msg.Job)
	if !ok {
		return ErrJobNotFound.Wrapf("%d", msg.Job)
	}
	if j.State != StateChallenge {
		return ErrJobState.Wrapf("job %d is %s: only optimistic results within their window are challenged", j.ID, j.State)
	}
	if ctx.Height > j.WindowEnd {
		return ErrWindow.Wrapf("the challenge window of job %d closed at height %d", j.ID, j.WindowEnd)
	}
	who := ctx.Signer()
	if who == j.Result.Provider {
		return ErrUnauthorized.Wrapf("a provider cannot challenge its own result")
	}
	p := params(ctx)
	if err := m.bank.SendToModule(ctx, who, Name, p.ChallengeBond.Amount); err != nil {
		return ErrBudget.Wrapf("the challenge bond of %s: %v", p.ChallengeBond, err)
	}
	j.Challenge = &Challenge{Challenger: who, Bond: p.ChallengeBond, Height: ctx.Height}
	j.State, j.Need, j.WindowEnd = StateDisputed, p.Arbiters, 0
	store(ctx).Set([]byte(idKey(pQueue, j.ID)), []byte{1})
	m.reschedule(ctx, j)
	putJob(ctx, j)
	ctx.Emit("job_challenged", ledger.AI("job", utoa(j.ID)), ledger.AI("challenger", who.String()))
	return nil
}

// tallyDispute decides a challenged optimistic job by its arbiters.
func (m *Module) tallyDispute(ctx *ledger.Context, j *Job) error {
	out, yes, no := majority(j, RoleArbiter)
	arbiters := make([]wire.Address, len(yes))
	for k, i := range yes {
		arbiters[k] = j.Assignments[i].Provider
	}
	for _, i := range no {
		if out == nil {
			j.Assignments[i].State = AsgUnpaid
			m.release(ctx, j.Assignments[i].Provider)
			continue
		}
		if err := m.slashAssignment(ctx, j, i, arbiters); err != nil {
			return err
		}
	}
	ei, exec := assignment(j, j.Result.Provider, AsgRevealed)
	ch := j.Challenge
	if out == nil || bytes.Equal(out, j.Result.Output) {
		// Upheld (or no verdict: the result stands). The challenger's bond
		// pays the arbiters.
		if err := m.split(ctx, ch.Bond.Amount, arbiters); err != nil {
			return err
		}
		ch.Bond = wire.Coin{}
		return m.settle(ctx, j, []int{ei}, CloseUpheld)
	}
	// Overturned: the executor is slashed (a share to the challenger), its
	// pay goes to the arbiters, the challenger gets the bond back, and the
	// arbiters' output is the result.
	if err := m.slashAssignment(ctx, j, ei, []wire.Address{ch.Challenger}); err != nil {
		return err
	}
	if err := m.bank.SendFromModule(ctx, Name, ch.Challenger, ch.Bond.Amount); err != nil {
		return err
	}
	ch.Bond = wire.Coin{}
	first := j.Assignments[yes[0]]
	j.Result = &Result{Output: out, OutputCID: first.OutputCID, Provider: first.Provider, Height: ctx.Height}
	// The arbiters share the executor's price as if they had executed.
	pay := exec.Price.Amount
	for k, i := range yes {
		share := pay / uint64(len(yes))
		if k == 0 {
			share += pay % uint64(len(yes))
		}
		j.Assignments[i].Price = wire.UVAI(share)
	}
	return m.settle(ctx, j, yes, CloseOverturned)
}

func (m *Module) settleMsg(ctx *ledger.Context, msg *MsgJobAction) error {
	j, ok := GetJob(ctx, msg.Job)
	if !ok {
		return ErrJobNotFound.Wrapf("%d", msg.Job)
	}
	if j.State == StateClosed {
		return ErrJobState.Wrapf("job %d is already closed (%s at height %d)", j.ID, j.Closing.Reason, j.Closing.Height)
	}
	if j.Due == 0 || j.Due > ctx.Height {
		return ErrJobState.Wrapf("job %d has nothing due before height %d", j.ID, j.Due)
	}
	return m.advance(ctx, j)
}
