package node

import (
	"fmt"
	"sync"

	"github.com/cometbft/cometbft/blocksync"
	cmtcfg "github.com/cometbft/cometbft/config"
	cs "github.com/cometbft/cometbft/consensus"
	"github.com/cometbft/cometbft/mempool"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/proxy"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/statesync"
	"github.com/go-kit/kit/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// metricsProvider is CometBFT's Prometheus metrics with the ones updated
// for every message and transaction — p2p, mempool, ABCI timing — built on
// vecMetric instead of go-kit's Prometheus adapter. The adapter builds a
// label map and has the vector validate and hash it on every update: 6 % of
// a validator's CPU at four validators under load, 2.6 % at one (bench/tps
// -cpuprofile). Names, help, labels and buckets are CometBFT's (v0.38.26
// metrics.gen.go); TestFastMetricsMatchCometBFT holds them to it.
func metricsProvider(c *cmtcfg.InstrumentationConfig) nm.MetricsProvider {
	if !c.Prometheus {
		return nm.DefaultMetricsProvider(c)
	}
	return func(chainID string) (*cs.Metrics, *p2p.Metrics, *mempool.Metrics, *sm.Metrics, *proxy.Metrics, *blocksync.Metrics, *statesync.Metrics) {
		r, ns := prometheus.DefaultRegisterer, c.Namespace
		return cs.PrometheusMetrics(ns, "chain_id", chainID), p2pMetrics(r, ns, chainID), mempoolMetrics(r, ns, chainID),
			sm.PrometheusMetrics(ns, "chain_id", chainID), proxyMetrics(r, ns, chainID),
			blocksync.PrometheusMetrics(ns, "chain_id", chainID), statesync.PrometheusMetrics(ns, "chain_id", chainID)
	}
}

// p2pMetrics is p2p.PrometheusMetrics on vecMetric.
func p2pMetrics(r prometheus.Registerer, ns, chainID string) *p2p.Metrics {
	f := newFactory(r, ns, p2p.MetricsSubsystem, chainID)
	return &p2p.Metrics{
		Peers:                    f.gauge("peers", "Number of peers."),
		PeerReceiveBytesTotal:    f.counter("peer_receive_bytes_total", "Number of bytes received from a given peer.", "peer_id", "chID"),
		PeerSendBytesTotal:       f.counter("peer_send_bytes_total", "Number of bytes sent to a given peer.", "peer_id", "chID"),
		PeerPendingSendBytes:     f.gauge("peer_pending_send_bytes", "Pending bytes to be sent to a given peer.", "peer_id"),
		NumTxs:                   f.gauge("num_txs", "Number of transactions submitted by each peer.", "peer_id"),
		MessageReceiveBytesTotal: f.counter("message_receive_bytes_total", "Number of bytes of each message type received.", "message_type"),
		MessageSendBytesTotal:    f.counter("message_send_bytes_total", "Number of bytes of each message type sent.", "message_type"),
	}
}

// mempoolMetrics is mempool.PrometheusMetrics on vecMetric.
func mempoolMetrics(r prometheus.Registerer, ns, chainID string) *mempool.Metrics {
	f := newFactory(r, ns, mempool.MetricsSubsystem, chainID)
	return &mempool.Metrics{
		Size:        f.gauge("size", "Number of uncommitted transactions in the mempool."),
		SizeBytes:   f.gauge("size_bytes", "Total size of the mempool in bytes."),
		TxSizeBytes: f.histogram("tx_size_bytes", "Histogram of transaction sizes in bytes.", prometheus.ExponentialBuckets(1, 3, 7)),
		FailedTxs: f.counter("failed_txs", "FailedTxs defines the number of failed transactions. These are transactions that failed to make it into the mempool "+
			"because they were deemed invalid. metrics:Number of failed transactions."),
		RejectedTxs: f.counter("rejected_txs", "RejectedTxs defines the number of rejected transactions. These are transactions that failed to make it into the mempool "+
			"due to resource limits, e.g. mempool is full. metrics:Number of rejected transactions."),
		EvictedTxs: f.counter("evicted_txs", "EvictedTxs defines the number of evicted transactions. These are valid transactions that passed CheckTx and make it into "+
			"the mempool but later became invalid. metrics:Number of evicted transactions."),
		RecheckTimes:              f.counter("recheck_times", "Number of times transactions are rechecked in the mempool."),
		ActiveOutboundConnections: f.gauge("active_outbound_connections", "Number of connections being actively used for gossiping transactions (experimental feature)."),
	}
}

// proxyMetrics is proxy.PrometheusMetrics on vecMetric.
func proxyMetrics(r prometheus.Registerer, ns, chainID string) *proxy.Metrics {
	f := newFactory(r, ns, proxy.MetricsSubsystem, chainID)
	return &proxy.Metrics{
		MethodTimingSeconds: f.histogram("method_timing_seconds", "Timing for each ABCI method.",
			[]float64{.0001, .0004, .002, .009, .02, .1, .65, 2, 6, 25}, "method", "type"),
	}
}

// factory registers the metrics of one subsystem, each with the chain_id
// label bound.
type factory struct {
	r                prometheus.Registerer
	ns, sub, chainID string
}

func newFactory(r prometheus.Registerer, ns, sub, chainID string) factory {
	return factory{r: r, ns: ns, sub: sub, chainID: chainID}
}

func (f factory) labels(more []string) []string { return append([]string{"chain_id"}, more...) }

func (f factory) counter(name, help string, labels ...string) metrics.Counter {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: f.ns, Subsystem: f.sub, Name: name, Help: help}, f.labels(labels))
	f.r.MustRegister(v)
	return vecCounter{newVecMetric(f.labels(labels), func(lvs []string) any { return v.WithLabelValues(lvs...) }).bind("chain_id", f.chainID)}
}

func (f factory) gauge(name, help string, labels ...string) metrics.Gauge {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: f.ns, Subsystem: f.sub, Name: name, Help: help}, f.labels(labels))
	f.r.MustRegister(v)
	return vecGauge{newVecMetric(f.labels(labels), func(lvs []string) any { return v.WithLabelValues(lvs...) }).bind("chain_id", f.chainID)}
}

func (f factory) histogram(name, help string, buckets []float64, labels ...string) metrics.Histogram {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: f.ns, Subsystem: f.sub, Name: name, Help: help, Buckets: buckets}, f.labels(labels))
	f.r.MustRegister(v)
	return vecHistogram{newVecMetric(f.labels(labels), func(lvs []string) any { return v.WithLabelValues(lvs...) }).bind("chain_id", f.chainID)}
}

// maxLabels bounds the label names of a vecMetric (CometBFT's hot metrics
// have at most three: chain_id and two more).
const maxLabels = 4

// vecMetric is one metric vector's children, each looked up once per
// label-value combination and then kept: an update is a map lookup keyed
// by the values, with no allocation or validation.
type vecMetric struct {
	shared *vecShared
	lvs    [maxLabels]string // values bound so far, in the vector's label order
	set    uint8             // which of them are bound
}

type vecShared struct {
	names    []string
	create   func(lvs []string) any
	mu       sync.RWMutex
	children map[[maxLabels]string]any
}

func newVecMetric(names []string, create func([]string) any) vecMetric {
	if len(names) > maxLabels {
		panic(fmt.Sprintf("metrics: %d labels, at most %d", len(names), maxLabels))
	}
	return vecMetric{shared: &vecShared{names: names, create: create, children: map[[maxLabels]string]any{}}}
}

// bind returns m with the given label name/value pairs bound, as go-kit's
// With does; an unknown name panics, as the Prometheus vector would.
func (m vecMetric) bind(lvs ...string) vecMetric {
	for i := 0; i+1 < len(lvs); i += 2 {
		j := m.index(lvs[i])
		m.lvs[j], m.set = lvs[i+1], m.set|1<<j
	}
	return m
}

func (m vecMetric) index(name string) int {
	for j, n := range m.shared.names {
		if n == name {
			return j
		}
	}
	panic(fmt.Sprintf("metrics: label %q not among %v", name, m.shared.names))
}

// child returns the vector's metric for the bound values, creating it the
// first time. Unbound labels are an error, as with go-kit's adapter.
func (m vecMetric) child() any {
	s := m.shared
	s.mu.RLock()
	c, ok := s.children[m.lvs]
	s.mu.RUnlock()
	if ok {
		return c
	}
	if int(m.set) != 1<<len(s.names)-1 {
		panic(fmt.Sprintf("metrics: labels %v not all given", s.names))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.children[m.lvs]; ok {
		return c
	}
	c = s.create(m.lvs[:len(s.names)])
	s.children[m.lvs] = c
	return c
}

type vecCounter struct{ vecMetric }

func (c vecCounter) With(lvs ...string) metrics.Counter { return vecCounter{c.bind(lvs...)} }
func (c vecCounter) Add(d float64)                      { c.child().(prometheus.Counter).Add(d) }

type vecGauge struct{ vecMetric }

func (g vecGauge) With(lvs ...string) metrics.Gauge { return vecGauge{g.bind(lvs...)} }
func (g vecGauge) Set(v float64)                    { g.child().(prometheus.Gauge).Set(v) }
func (g vecGauge) Add(d float64)                    { g.child().(prometheus.Gauge).Add(d) }

type vecHistogram struct{ vecMetric }

func (h vecHistogram) With(lvs ...string) metrics.Histogram { return vecHistogram{h.bind(lvs...)} }
func (h vecHistogram) Observe(v float64)                    { h.child().(prometheus.Observer).Observe(v) }
