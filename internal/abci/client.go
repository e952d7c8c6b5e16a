package abci

import (
	"context"

	abcicli "github.com/cometbft/cometbft/abci/client"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtsync "github.com/cometbft/cometbft/libs/sync"
	"github.com/cometbft/cometbft/proxy"
)

// ClientCreator connects CometBFT to the application in-process, one
// mutex per ABCI connection (mempool checks run alongside block execution),
// and verifies each new transaction's signature before taking the mempool
// connection's mutex: CometBFT calls CheckTx from every RPC request's
// goroutine, so signatures are checked on all cores while execution against
// the mempool state stays serial.
func ClientCreator(a *App) proxy.ClientCreator { return creator{a} }

type creator struct{ app *App }

func (c creator) NewABCIClient() (abcicli.Client, error) {
	return &preverifying{Client: abcicli.NewLocalClient(new(cmtsync.Mutex), c.app), app: c.app}, nil
}

type preverifying struct {
	abcicli.Client
	app *App
}

func (p *preverifying) CheckTxAsync(ctx context.Context, req *abci.RequestCheckTx) (*abcicli.ReqRes, error) {
	if req.Type == abci.CheckTxType_New {
		p.app.L.Preverify(req.Tx)
	}
	return p.Client.CheckTxAsync(ctx, req)
}

func (p *preverifying) CheckTx(ctx context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	if req.Type == abci.CheckTxType_New {
		p.app.L.Preverify(req.Tx)
	}
	return p.Client.CheckTx(ctx, req)
}
