package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cmtpubsub "github.com/cometbft/cometbft/libs/pubsub"
	rpccore "github.com/cometbft/cometbft/rpc/core"
	grpccore "github.com/cometbft/cometbft/rpc/grpc"
	rpcserver "github.com/cometbft/cometbft/rpc/jsonrpc/server"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	"github.com/cometbft/cometbft/types"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/rs/cors"
)

// startRPC serves CometBFT's RPC on the configured addresses: the same
// routes, websocket, limits, CORS and TLS as CometBFT's own server (whose
// start this replaces, node.startRPC in v0.38), with one difference:
// JSON-RPC requests for broadcast_tx_sync and broadcast_tx_async are
// answered by fastBroadcast, which skips CometBFT's generic reflection-based
// JSON-RPC layer. That layer cost ~16 % of a single validator's CPU under
// load (bench/tps -cpuprofile), more than the ledger's own execution of
// the transactions; the answers are byte for byte the same.
func (n *Node) startRPC(addrs string) error {
	env, err := n.node.ConfigureRPC()
	if err != nil {
		return err
	}
	rc := n.Comet.RPC
	routes := env.GetRoutes()
	if rc.Unsafe {
		env.AddUnsafeRoutes(routes)
	}
	config := rpcserver.DefaultConfig()
	config.MaxRequestBatchSize = rc.MaxRequestBatchSize
	config.MaxBodyBytes = rc.MaxBodyBytes
	config.MaxHeaderBytes = rc.MaxHeaderBytes
	config.MaxOpenConnections = rc.MaxOpenConnections
	if config.WriteTimeout <= rc.TimeoutBroadcastTxCommit {
		config.WriteTimeout = rc.TimeoutBroadcastTxCommit + time.Second
	}
	logger := cometLogger{n.Log.With("module", "cometbft")}.With("module", "rpc-server")
	for _, addr := range strings.Split(addrs, ",") {
		if addr = strings.TrimSpace(addr); addr == "" {
			continue
		}
		mux := http.NewServeMux()
		wmLogger := logger.With("protocol", "websocket")
		wm := rpcserver.NewWebsocketManager(routes,
			rpcserver.OnDisconnect(func(remoteAddr string) {
				err := n.node.EventBus().UnsubscribeAll(context.Background(), remoteAddr)
				if err != nil && err != cmtpubsub.ErrSubscriptionNotFound {
					wmLogger.Error("Failed to unsubscribe addr from events", "addr", remoteAddr, "err", err)
				}
			}),
			rpcserver.ReadLimit(config.MaxBodyBytes),
			rpcserver.WriteChanCapacity(rc.WebSocketWriteBufferSize),
		)
		wm.SetLogger(wmLogger)
		mux.HandleFunc("/websocket", wm.WebsocketHandler)
		rpcserver.RegisterRPCFuncs(mux, routes, logger)
		ln, err := rpcserver.Listen(addr, config.MaxOpenConnections)
		if err != nil {
			return err
		}
		n.rpcListeners = append(n.rpcListeners, ln)
		// rpcserver.Serve's pre-check reads every body and decodes it as
		// a batch before any handler runs (about 4 % of a single
		// validator's CPU under load). The fast path answers single
		// requests only, so the batch limit is checked on the way to
		// CometBFT's handler instead, by the same function; Serve keeps
		// the body-size limit.
		var next http.Handler = mux
		if config.MaxRequestBatchSize > 0 {
			next = rpcserver.PreChecksHandler(mux, config)
		}
		var h http.Handler = &fastBroadcast{env: env, next: next}
		if rc.IsCorsEnabled() {
			h = cors.New(cors.Options{AllowedOrigins: rc.CORSAllowedOrigins,
				AllowedMethods: rc.CORSAllowedMethods, AllowedHeaders: rc.CORSAllowedHeaders}).Handler(h)
		}
		go func() {
			var err error
			outer := *config
			outer.MaxRequestBatchSize = 0
			if rc.IsTLSEnabled() {
				err = rpcserver.ServeTLS(ln, h, rc.CertFile(), rc.KeyFile(), logger, &outer)
			} else {
				err = rpcserver.Serve(ln, h, logger, &outer)
			}
			if err != nil && !errors.Is(err, net.ErrClosed) {
				logger.Error("RPC server stopped", "err", err)
			}
		}()
	}
	if rc.GRPCListenAddress != "" {
		ln, err := rpcserver.Listen(rc.GRPCListenAddress, rc.GRPCMaxOpenConnections)
		if err != nil {
			return err
		}
		n.rpcListeners = append(n.rpcListeners, ln)
		go func() {
			//nolint:staticcheck // CometBFT v0.38 still serves it; kept for parity.
			if err := grpccore.StartGRPCServer(env, ln); err != nil {
				logger.Error("gRPC server stopped", "err", err)
			}
		}()
	}
	return nil
}

// stopRPC closes the RPC listeners.
func (n *Node) stopRPC() {
	for _, ln := range n.rpcListeners {
		ln.Close()
	}
	n.rpcListeners = nil
}

// fastBroadcast answers JSON-RPC broadcast_tx_sync and broadcast_tx_async
// requests of the common shape — one request object with an integer or
// string id and params {"tx": "<base64>"} — by calling the same
// Environment method CometBFT's handler would, and writing the same bytes
// it would write. Every other request, and any request it has the least
// doubt about (duplicate or differently cased keys, batches, notifications,
// params as an array, invalid UTF-8, trailing data), goes to next,
// CometBFT's own handler, unchanged.
type fastBroadcast struct {
	env  *rpccore.Environment
	next http.Handler
	hits atomic.Int64 // requests answered here (for tests)
}

func (f *fastBroadcast) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		f.next.ServeHTTP(w, r)
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		// CometBFT's handler answers a body it cannot read (too large,
		// say) with an error of its own: let it, on what is left.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(bytes.Clone(buf.Bytes())), r.Body))
		putBody(buf)
		f.next.ServeHTTP(w, r)
		return
	}
	req, ok := parseBroadcast(buf.Bytes())
	if !ok {
		r.Body = io.NopCloser(bytes.NewReader(bytes.Clone(buf.Bytes())))
		putBody(buf)
		f.next.ServeHTTP(w, r)
		return
	}
	putBody(buf) // parseBroadcast copied what it keeps
	f.hits.Add(1)
	call := f.env.BroadcastTxAsync
	if req.sync {
		call = f.env.BroadcastTxSync
	}
	out, err := call(&rpctypes.Context{HTTPReq: r}, req.tx)
	if err != nil {
		req.writeError(w, err)
		return
	}
	b := make([]byte, 0, 192+len(out.Log))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = req.appendID(b)
	b = append(b, `,"result":{"code":`...)
	b = strconv.AppendUint(b, uint64(out.Code), 10)
	b = append(b, `,"data":"`...)
	b = appendUpperHex(b, out.Data)
	b = append(b, `","log":`...)
	b = appendJSONString(b, out.Log)
	b = append(b, `,"codespace":`...)
	b = appendJSONString(b, out.Codespace)
	b = append(b, `,"hash":"`...)
	b = appendUpperHex(b, out.Hash)
	b = append(b, `"}}`...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// bodyPool holds request buffers: a request is read, parsed and dropped.
var bodyPool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 2048)) }}

func putBody(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 { // let the odd large body go
		bodyPool.Put(b)
	}
}

// broadcastReq is a parsed broadcast request.
type broadcastReq struct {
	sync     bool
	tx       types.Tx
	intID    int64
	strID    string
	isString bool
}

// writeError answers as CometBFT does when the method fails.
func (q *broadcastReq) writeError(w http.ResponseWriter, err error) {
	var res rpctypes.RPCResponse
	if q.isString {
		res = rpctypes.RPCInternalError(rpctypes.JSONRPCStringID(q.strID), err)
	} else {
		res = rpctypes.RPCInternalError(rpctypes.JSONRPCIntID(int(q.intID)), err)
	}
	rpcserver.WriteRPCResponseHTTP(w, res)
}

// appendID appends the id as CometBFT writes it back.
func (q *broadcastReq) appendID(b []byte) []byte {
	if q.isString {
		return appendJSONString(b, q.strID)
	}
	return strconv.AppendInt(b, q.intID, 10)
}

// maxExactID bounds integer ids: CometBFT reads ids as float64, exact up to
// 2^53; beyond that its answer rounds, and the request goes to it.
const maxExactID = 1 << 53

// parseBroadcast recognises a broadcast request of the common shape.
func parseBroadcast(body []byte) (q broadcastReq, ok bool) {
	d := jsontext.NewDecoder(bytes.NewReader(body))
	if t, err := d.ReadToken(); err != nil || t.Kind() != '{' {
		return q, false
	}
	var method string
	var haveID, haveMethod, haveTx bool
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil {
			return q, false
		}
		switch name.String() {
		case "jsonrpc":
			if t, err := d.ReadToken(); err != nil || t.Kind() != '"' {
				return q, false
			}
		case "id":
			t, err := d.ReadToken()
			if err != nil {
				return q, false
			}
			switch t.Kind() {
			case '"':
				q.isString, q.strID = true, t.String()
			case '0':
				v, err := strconv.ParseInt(t.String(), 10, 64)
				if err != nil || v > maxExactID || v < -maxExactID {
					return q, false
				}
				q.intID = v
			default:
				return q, false // null is a notification; others are errors
			}
			haveID = true
		case "method":
			t, err := d.ReadToken()
			if err != nil || t.Kind() != '"' {
				return q, false
			}
			method, haveMethod = t.String(), true
		case "params":
			if t, err := d.ReadToken(); err != nil || t.Kind() != '{' {
				return q, false
			}
			if k, err := d.ReadToken(); err != nil || k.String() != "tx" {
				return q, false
			}
			t, err := d.ReadToken()
			if err != nil || t.Kind() != '"' {
				return q, false
			}
			s := t.String()
			tx := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
			n, err := base64.StdEncoding.Decode(tx, []byte(s))
			if err != nil || n == 0 {
				return q, false
			}
			q.tx = tx[:n]
			if t, err := d.ReadToken(); err != nil || t.Kind() != '}' {
				return q, false
			}
			haveTx = true
		default:
			return q, false
		}
	}
	if _, err := d.ReadToken(); err != nil { // '}'
		return q, false
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return q, false
	}
	switch method {
	case "broadcast_tx_sync":
		q.sync = true
	case "broadcast_tx_async":
	default:
		return q, false
	}
	return q, haveID && haveMethod && haveTx
}

func appendUpperHex(b, src []byte) []byte {
	start := len(b)
	b = hex.AppendEncode(b, src)
	for i := start; i < len(b); i++ {
		if c := b[i]; c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return b
}

// appendJSONString encodes s as encoding/json does (HTML characters and
// U+2028/9 escaped, invalid UTF-8 replaced), which is how CometBFT's
// answers come out.
func appendJSONString(b []byte, s string) []byte {
	enc, _ := stdjson.Marshal(s)
	return append(b, enc...)
}
