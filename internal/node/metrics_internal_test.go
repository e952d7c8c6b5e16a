package node

import (
	"slices"
	"strings"
	"testing"

	"github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/proxy"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// capture is a Registerer that keeps what is registered with it.
type capture struct {
	prometheus.Registerer
	got []prometheus.Collector
}

func (c *capture) Register(x prometheus.Collector) error { c.got = append(c.got, x); return nil }
func (c *capture) MustRegister(xs ...prometheus.Collector) {
	for _, x := range xs {
		c.Register(x)
	}
}

func descs(cs []prometheus.Collector) []string {
	var out []string
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			out = append(out, d.String())
		}
	}
	slices.Sort(out)
	return out
}

// TestFastMetricsMatchCometBFT holds the hand-built p2p, mempool and ABCI
// metrics to the ones CometBFT's generated code registers: same names,
// help, labels and buckets. It fails when an upgrade of CometBFT changes
// them.
func TestFastMetricsMatchCometBFT(t *testing.T) {
	theirs := &capture{}
	saved := prometheus.DefaultRegisterer
	prometheus.DefaultRegisterer = theirs
	p2p.PrometheusMetrics("ns", "chain_id", "c")
	mempool.PrometheusMetrics("ns", "chain_id", "c")
	proxy.PrometheusMetrics("ns", "chain_id", "c")
	prometheus.DefaultRegisterer = saved

	ours := &capture{}
	p2pMetrics(ours, "ns", "c")
	mempoolMetrics(ours, "ns", "c")
	proxyMetrics(ours, "ns", "c")

	if len(theirs.got) == 0 {
		t.Fatal("captured nothing from CometBFT")
	}
	a, b := descs(theirs.got), descs(ours.got)
	if !slices.Equal(a, b) {
		t.Fatalf("CometBFT registers\n%v\nvai registers\n%v", a, b)
	}
	// Histogram buckets are not in the descriptors: compare them too.
	buckets := func(cs []prometheus.Collector) map[string][]float64 {
		reg := prometheus.NewPedanticRegistry()
		for _, c := range cs {
			reg.MustRegister(c)
		}
		out := map[string][]float64{}
		for _, c := range cs {
			if h, ok := c.(*prometheus.HistogramVec); ok {
				h.WithLabelValues(make([]string, labelCount(h))...).Observe(0)
			}
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
					out[mf.GetName()] = append(out[mf.GetName()], b.GetUpperBound())
				}
			}
		}
		return out
	}
	ba, bb := buckets(theirs.got), buckets(ours.got)
	if len(ba) != 2 {
		t.Fatalf("expected CometBFT's two histograms, got %v", ba)
	}
	for name, want := range ba {
		if !slices.Equal(bb[name], want) {
			t.Errorf("%s buckets: vai %v, CometBFT %v", name, bb[name], want)
		}
	}
}

// labelCount is the number of variable labels of h, read off its
// descriptor ("variableLabels: {a,b,c}").
func labelCount(h *prometheus.HistogramVec) int {
	ch := make(chan *prometheus.Desc, 1)
	h.Describe(ch)
	d := (<-ch).String()
	_, vl, _ := strings.Cut(d, "variableLabels: {")
	vl, _, _ = strings.Cut(vl, "}")
	return len(strings.Split(vl, ","))
}

// TestFastMetricsCount checks that updates land on the right series, with
// the chain id bound, and that a metric used without all its labels fails
// as go-kit's adapter does.
func TestFastMetricsCount(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := p2pMetrics(reg, "ns", "chain-x")
	for range 2 {
		m.PeerSendBytesTotal.With("peer_id", "p1", "chID", "0x30").Add(100)
	}
	m.PeerSendBytesTotal.With("chID", "0x30", "peer_id", "p2").Add(7) // order of pairs does not matter
	m.Peers.Set(3)
	m.Peers.Add(-1)
	pm := proxyMetrics(reg, "ns", "chain-x")
	pm.MethodTimingSeconds.With("method", "check_tx", "type", "sync").Observe(0.001)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range mt.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case mt.Counter != nil:
				got[key] = mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				got[key] = mt.GetGauge().GetValue()
			case mt.Histogram != nil:
				got[key] = float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"ns_p2p_peer_send_bytes_total,chID=0x30,chain_id=chain-x,peer_id=p1":                  200,
		"ns_p2p_peer_send_bytes_total,chID=0x30,chain_id=chain-x,peer_id=p2":                  7,
		"ns_p2p_peers,chain_id=chain-x":                                                       2,
		"ns_abci_connection_method_timing_seconds,chain_id=chain-x,method=check_tx,type=sync": 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a counter without its peer_id label did not panic")
			}
		}()
		m.PeerSendBytesTotal.With("chID", "0x30").Add(1)
	}()
}
