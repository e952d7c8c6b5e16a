package httpapi

import (
	"net/http"
	"strconv"

	"github.com/vai-dev/vai/wire"
)

// marketRoutes serve the inference market's records: providers, offers,
// jobs, sessions and their batches, parameters.
func (s *Server) marketRoutes() {
	s.route("GET /market/params", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return s.query(r, "/market/params", struct{}{})
	})
	s.route("GET /market/providers", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return s.query(r, "/market/providers", struct{}{})
	})
	s.route("GET /market/providers/{address}", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		a, err := wire.ParseAddress(r.PathValue("address"))
		if err != nil {
			return nil, badRequest(err.Error())
		}
		return s.query(r, "/market/provider", map[string]any{"address": a})
	})
	s.route("GET /market/offers/{model}", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return s.query(r, "/market/offer", map[string]string{"model": r.PathValue("model")})
	})
	s.route("GET /market/jobs", s.jobs)
	s.route("GET /market/jobs/{id}", s.byID("/market/job"))
	s.route("GET /market/sessions/{id}", s.byID("/market/session"))
	s.route("GET /market/sessions/{id}/batches", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			return nil, badRequest("session id must be a number")
		}
		return s.query(r, "/market/batches", map[string]any{"session": id})
	})
	s.route("GET /market/batches/{id}", s.byID("/market/batch"))
}

// byID queries a record by its numeric id.
func (s *Server) byID(path string) handler {
	return func(_ http.ResponseWriter, r *http.Request) (any, error) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			return nil, badRequest("id must be a number")
		}
		return s.query(r, path, map[string]any{"id": id})
	}
}

// jobs lists jobs: ?buyer=, ?provider=, ?open=true, ?after=ID, ?limit=.
func (s *Server) jobs(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	req := map[string]any{}
	for _, k := range []string{"buyer", "provider"} {
		if v := q.Get(k); v != "" {
			a, err := wire.ParseAddress(v)
			if err != nil {
				return nil, badRequest(k + ": " + err.Error())
			}
			req[k] = a
		}
	}
	open, err := boolParam(r, "open")
	if err != nil {
		return nil, err
	}
	req["open"] = open
	for _, k := range []string{"after", "limit"} {
		if v := q.Get(k); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, badRequest(k + " must be a number")
			}
			req[k] = n
		}
	}
	return s.query(r, "/market/jobs", req)
}
