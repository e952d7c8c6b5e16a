package httpapi

import (
	"errors"
	"net/http"

	json "github.com/go-json-experiment/json"

	"github.com/vai-dev/vai/client"
	"github.com/vai-dev/vai/internal/ledger"
)

// statusOf is the one place ledger error kinds become HTTP statuses.
var statusOf = map[ledger.Kind]int{
	ledger.KindInternal:     http.StatusInternalServerError,
	ledger.KindInvalid:      http.StatusBadRequest,
	ledger.KindUnauthorized: http.StatusForbidden,
	ledger.KindNotFound:     http.StatusNotFound,
	ledger.KindConflict:     http.StatusConflict,
	ledger.KindInsufficient: http.StatusPaymentRequired,
	ledger.KindTooLarge:     http.StatusRequestEntityTooLarge,
	ledger.KindExpired:      http.StatusUnprocessableEntity,
}

// Error is the JSON body of every error response.
type Error struct {
	Code      uint32 `json:"code"`
	Codespace string `json:"codespace"`
	Kind      string `json:"kind"`
	Message   string `json:"message"`
}

type errorBody struct {
	Error Error `json:"error"`
}

// apiError is an error the handlers return with its HTTP status.
type apiError struct {
	status int
	body   Error
}

func (e *apiError) Error() string { return e.body.Message }

// badRequest reports malformed requests that never reach the ledger.
func badRequest(msg string) error {
	return &apiError{status: http.StatusBadRequest, body: Error{Code: ledger.ErrInvalidQuery.Code, Codespace: ledger.Codespace, Kind: ledger.KindInvalid.String(), Message: msg}}
}

func notFound(msg string) error {
	return &apiError{status: http.StatusNotFound, body: Error{Code: ledger.ErrNotFound.Code, Codespace: ledger.Codespace, Kind: ledger.KindNotFound.String(), Message: msg}}
}

// coded maps an error carrying a ledger code (a query or transaction
// failure) to its status.
func coded(codespace string, code uint32, msg string) error {
	kind := ledger.KindInternal
	if e, ok := ledger.LookupError(codespace, code); ok {
		kind = e.Kind
	}
	return &apiError{status: statusOf[kind], body: Error{Code: code, Codespace: codespace, Kind: kind.String(), Message: msg}}
}

// toAPI classifies any handler error.
func toAPI(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var qe *client.QueryError
	if errors.As(err, &qe) {
		return toAPI(coded(qe.Codespace, qe.Code, qe.Log))
	}
	var te *client.TxError
	if errors.As(err, &te) {
		return toAPI(coded(te.Codespace, te.Code, te.Log))
	}
	if errors.Is(err, client.ErrTxNotFound) {
		return toAPI(notFound(err.Error()))
	}
	if errors.Is(err, client.ErrNotIncluded) {
		return &apiError{status: http.StatusGatewayTimeout, body: Error{Code: ledger.ErrTxExpired.Code, Codespace: ledger.Codespace, Kind: ledger.KindExpired.String(), Message: err.Error()}}
	}
	return &apiError{status: http.StatusBadGateway, body: Error{Code: 1, Codespace: ledger.Codespace, Kind: ledger.KindInternal.String(), Message: err.Error()}}
}

func writeError(w http.ResponseWriter, err error) {
	ae := toAPI(err)
	writeJSON(w, ae.status, errorBody{Error: ae.body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":1,"codespace":"ledger","kind":"internal","message":"failed to encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
