package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/vai-dev/vai/internal/ledger"
	"github.com/vai-dev/vai/internal/ledger/registry"
	"github.com/vai-dev/vai/wire"
)

// MountBlobs serves the content store (GET/HEAD /blobs/{cid}, POST /blobs,
// PUT /blobs/{cid}).
func (s *Server) MountBlobs(h http.Handler) {
	s.mux.Handle("GET /blobs/{cid}", h)
	s.mux.Handle("HEAD /blobs/{cid}", h)
	s.mux.Handle("PUT /blobs/{cid}", h)
	s.mux.Handle("POST /blobs", h)
}

// query runs a JSON query of the ledger and returns its raw answer.
func (s *Server) query(r *http.Request, path string, req any) (jsontext.Value, error) {
	var v jsontext.Value
	_, err := s.c.Query(r.Context(), path, req, &v, 0)
	return v, err
}

func (s *Server) registryRoutes() {
	s.route("GET /registry/records/{id}", s.record)
	s.route("GET /registry/lineage/{id}", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return s.query(r, "/registry/lineage", map[string]string{"id": r.PathValue("id")})
	})
	s.route("GET /registry/datasets", s.list("dataset"))
	s.route("GET /registry/models", s.list("model"))
	s.route("GET /registry/aliases/{name}/{alias}", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return s.query(r, "/registry/alias", map[string]string{"name": r.PathValue("name"), "alias": r.PathValue("alias")})
	})
	s.route("GET /registry/works/{hash}", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return s.query(r, "/registry/work", map[string]string{"hash": r.PathValue("hash")})
	})
	s.route("GET /registry/deny/{hash}", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return s.query(r, "/registry/deny", map[string]string{"hash": r.PathValue("hash")})
	})
	s.route("GET /registry/params", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return s.query(r, "/registry/params", struct{}{})
	})
}

// RecordProof is the store proof of a registry record, with ?prove=true.
type RecordProof struct {
	Height int64      `json:"height"`
	Proof  StoreProof `json:"proof"`
}

func (s *Server) record(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	prove, err := boolParam(r, "prove")
	if err != nil {
		return nil, err
	}
	rec, err := s.query(r, "/registry/record", map[string]string{"id": id})
	if err != nil || !prove {
		return rec, err
	}
	var kind struct {
		Kind string `json:"kind"`
	}
	if err := jsonUnmarshal(rec, &kind); err != nil {
		return nil, err
	}
	key, err := registry.StateKey(kind.Kind, id)
	if err != nil {
		return nil, err
	}
	res, err := s.c.RPC().ABCIQueryWithOptions(r.Context(), ledger.QueryStore, key, rpcclient.ABCIQueryOptions{Prove: true})
	if err != nil {
		return nil, err
	}
	q := res.Response
	if q.Code != 0 {
		return nil, coded(q.Codespace, q.Code, q.Log)
	}
	out := struct {
		Record jsontext.Value `json:"record"`
		RecordProof
	}{Record: rec, RecordProof: RecordProof{Height: q.Height}}
	if q.ProofOps != nil && len(q.ProofOps.Ops) == 1 {
		enc := base64.StdEncoding
		op := q.ProofOps.Ops[0]
		out.Proof = StoreProof{Key: enc.EncodeToString(key), Value: enc.EncodeToString(q.Value), ICS23: enc.EncodeToString(op.Data), Type: op.Type}
	}
	return out, nil
}

func (s *Server) list(kind string) handler {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		req := map[string]any{"kind": kind}
		q := r.URL.Query()
		if o := q.Get("owner"); o != "" {
			a, err := wire.ParseAddress(o)
			if err != nil {
				return nil, badRequest(err.Error())
			}
			req["owner"] = a
		}
		if sa := q.Get("start_after"); sa != "" {
			req["start_after"] = sa
		}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil {
				return nil, badRequest("limit must be a number")
			}
			req["limit"] = n
		}
		return s.query(r, "/registry/list", req)
	}
}
