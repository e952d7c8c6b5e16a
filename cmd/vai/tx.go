package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger/bank"
	"github.com/vai-dev/vai/wire"
)

// txFlags are the flags of commands that sign and send a transaction.
type txFlags struct {
	clientFlags
	fee           string
	memo          string
	wait          bool
	timeoutBlocks int64
	sequence      int64
}

func (f *txFlags) register(cmd *cobra.Command) {
	f.clientFlags.register(cmd)
	cmd.Flags().StringVar(&f.fee, "fee", "", "fee to pay, e.g. 500uvai (default: the least the node asks)")
	cmd.Flags().StringVar(&f.memo, "memo", "", "free text recorded with the transaction")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the transaction is committed or fails")
	cmd.Flags().Int64Var(&f.timeoutBlocks, "timeout-blocks", 100, "the transaction expires this many blocks from now (0: never)")
	cmd.Flags().Int64Var(&f.sequence, "sequence", -1, "sequence to sign with (default: the account's lowest free one)")
}

// send signs msgs with the key named from and submits them.
func (g *globalFlags) send(ctx context.Context, f *txFlags, from string, msgs ...wire.Msg) error {
	_, err := g.sendResult(ctx, f, from, msgs...)
	return err
}

// sendMsg sends one message of type typ with value.
func (g *globalFlags) sendMsg(ctx context.Context, f *txFlags, from, typ string, value any) error {
	m, err := wire.NewMsg(typ, value)
	if err != nil {
		return err
	}
	return g.send(ctx, f, from, m)
}

// sendResult is send that also returns what was sent (and, with --wait,
// the result).
func (g *globalFlags) sendResult(ctx context.Context, f *txFlags, from string, msgs ...wire.Msg) (*client.Sent, error) {
	c, _, _, err := g.dial(&f.clientFlags)
	if err != nil {
		return nil, err
	}
	kr, err := g.keyring(&f.clientFlags)
	if err != nil {
		return nil, err
	}
	key, err := kr.Signer(from)
	if err != nil {
		return nil, err
	}
	o := client.TxOptions{Memo: f.memo, Wait: f.wait, TimeoutBlocks: f.timeoutBlocks}
	if f.timeoutBlocks == 0 {
		o.TimeoutBlocks = -1
	}
	if f.fee != "" {
		if o.Fee, err = wire.ParseCoin(f.fee); err != nil {
			return nil, fmt.Errorf("--fee: %w", err)
		}
	}
	if f.sequence >= 0 {
		s := uint64(f.sequence)
		o.Sequence = &s
	}
	if f.wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
	}
	sent, err := c.Send(ctx, key, o, msgs...)
	if sent == nil {
		return nil, err
	}
	type out struct {
		Hash          string           `json:"hash"`
		Sequence      uint64           `json:"sequence"`
		Fee           wire.Coin        `json:"fee"`
		TimeoutHeight uint64           `json:"timeout_height,omitempty"`
		Result        *client.TxResult `json:"result,omitempty"`
		Error         string           `json:"error,omitempty"`
	}
	o2 := out{Hash: sent.Hash, Sequence: sent.Sequence, Fee: sent.Fee, TimeoutHeight: sent.TimeoutHeight, Result: sent.Result}
	if err != nil {
		o2.Error = err.Error()
	}
	perr := g.print(o2, func() {
		g.printf("hash      %s\n", sent.Hash)
		g.printf("sequence  %d   fee %s   timeout height %d\n", sent.Sequence, sent.Fee, sent.TimeoutHeight)
		if r := sent.Result; r != nil {
			g.printf("height    %d\n", r.Height)
			g.printf("code      %d", r.Code)
			if r.Code != 0 {
				g.printf(" (%s)", r.Codespace)
			}
			g.printf("\n")
			if r.Log != "" {
				g.printf("log       %s\n", r.Log)
			}
		} else if err == nil {
			g.printf("submitted; check with: vai query tx %s\n", sent.Hash)
		}
	})
	if err != nil {
		var te *client.TxError
		if errors.As(err, &te) && te.Height == 0 {
			return sent, fmt.Errorf("rejected: %s (code %s/%d)", te.Log, te.Codespace, te.Code)
		}
		return sent, err
	}
	return sent, perr
}

func newTxCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Sign and send transactions"}
	var f txFlags
	send := &cobra.Command{
		Use:   "send FROM TO AMOUNT",
		Short: "Send uvai from a key to an address",
		Long: `Send AMOUNT (e.g. 2500uvai or 1.5vai) from the key named FROM to the
address TO. With --wait, return once the transaction is committed or failed.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := g.resolveAddress(&f.clientFlags, args[1])
			if err != nil {
				return err
			}
			amt, err := wire.ParseCoin(args[2])
			if err != nil {
				return err
			}
			m, err := wire.NewMsg("bank/send", bank.MsgSend{To: to, Amount: amt})
			if err != nil {
				return err
			}
			return g.send(cmd.Context(), &f, args[0], m)
		},
	}
	f.register(send)
	var mf txFlags
	multi := &cobra.Command{
		Use:   "multi-send FROM TO=AMOUNT...",
		Short: "Send to several addresses at once (all or nothing)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var outs []bank.Output
			for _, a := range args[1:] {
				to, amt, ok := cutLast(a, "=")
				if !ok {
					return fmt.Errorf("%q: want TO=AMOUNT", a)
				}
				addr, err := g.resolveAddress(&mf.clientFlags, to)
				if err != nil {
					return err
				}
				c, err := wire.ParseCoin(amt)
				if err != nil {
					return err
				}
				outs = append(outs, bank.Output{To: addr, Amount: c})
			}
			m, err := wire.NewMsg("bank/multi_send", bank.MsgMultiSend{Outputs: outs})
			if err != nil {
				return err
			}
			return g.send(cmd.Context(), &mf, args[0], m)
		},
	}
	mf.register(multi)
	cmd.AddCommand(send, multi)
	return cmd
}
