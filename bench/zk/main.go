// Command zk measures vai's zkML proofs: for each model, circuit size,
// proving time, verification time (as the ledger runs it), proof size and
// peak memory, with Groth16 or (-backend plonk) PLONK, beside EZKL's published figures for the same
// architecture where DESIGN §6 has them. EZKL itself cannot run here (its
// npm engine has no circuit compilation or SRS generation, and its CLI's
// registries are out of reach), so the comparison is with published
// numbers, stated with their precision.
//
//	go run ./bench/zk                        # all models (~3 minutes on 2 cores)
//	go run ./bench/zk -models digits_mlp     # one model
//	go run ./bench/zk -models digits_mlp -backend plonk
//	go run ./bench/zk -models mlp_784_56_10 -cpuprofile /tmp/prove.pprof  # profile the proofs
//
// Each model runs in a child process so that its peak memory (VmHWM) is its
// own. Groth16 keys come from gnark's single-party setup: the ceremony's
// keys have the same size and cost to use. PLONK keys come from a universal
// SRS of the circuit's size drawn beforehand (not timed: it stands for a
// sealed powers-of-tau ceremony or an SRS file); the setup time is what
// 'vai zk setup --backend plonk' spends on it, mostly the SRS's conversion
// to the Lagrange basis.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vai-dev/vai/runtime"
	"github.com/vai-dev/vai/zkml"
)

type result struct {
	Model       string  `json:"model"`
	Backend     string  `json:"backend"`
	Params      int     `json:"params"`
	Constraints int     `json:"constraints"`
	CompileS    float64 `json:"compile_s"`
	SetupS      float64 `json:"setup_s"`
	ProveS      float64 `json:"prove_s"`     // median
	ProveCPUS   float64 `json:"prove_cpu_s"` // median CPU time (user + system) of a proof
	VerifyMS    float64 `json:"verify_ms"`
	VerifyVKMS  float64 `json:"verify_with_key_decoding_ms"`
	ProofBytes  int     `json:"proof_bytes"`
	PeakMiB     float64 `json:"peak_mib"`
	Synthetic   bool    `json:"synthetic"`
}

// ezkl holds EZKL's published figures (DESIGN §6, from the ZKML-Benchmark
// report): architecture → proving seconds, memory GB, precision.
var ezkl = map[string]struct {
	proveS, memGB float64
	note          string
}{
	"mlp_784_56_10": {38.0, 4.8, "scale 2^11; 2.66 s at scale 2^4 with 6.4% accuracy loss"},
}

var models = []string{"digits_mlp", "digits_cnn", "mlp_784_56_10", "mlp_784_128_10"}

func main() {
	one := flag.String("one", "", "run one model in this process (internal)")
	list := flag.String("models", strings.Join(models, ","), "comma-separated models")
	proves := flag.Int("proves", 3, "proofs per model (the median is reported)")
	out := flag.String("json", "", "also write the results as JSON to this file")
	backendName := flag.String("backend", "groth16", "proof system: groth16 or plonk")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the proofs (not setup) to FILE.MODEL")
	flag.Parse()
	log.SetFlags(0)
	backend, err := zkml.ParseBackend(*backendName)
	if err != nil {
		log.Fatal(err)
	}
	if *one != "" {
		r, err := run(*one, *proves, backend, *cpuProfile)
		if err != nil {
			log.Fatalf("%s: %v", *one, err)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("zkML benchmark: %s/BN254 (gnark v0.14), %d cores, %s/%s, %s\n\n", backend.Title(), goruntime.NumCPU(), goruntime.GOOS, goruntime.GOARCH, cpuModel())
	var rs []result
	for _, m := range strings.Split(*list, ",") {
		cmd := exec.Command(os.Args[0], "-one", m, "-proves", strconv.Itoa(*proves), "-backend", string(backend), "-cpuprofile", *cpuProfile)
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		if err != nil {
			log.Fatalf("%s: %v", m, err)
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			log.Fatalf("%s: %v", m, err)
		}
		rs = append(rs, r)
	}
	fmt.Printf("%-16s %8s %11s %9s %9s %11s %10s %12s %7s %9s\n", "model", "params", "constraints", "setup s", "prove s", "prove cpu s", "verify ms", "+key dec ms", "proof B", "peak MiB")
	for _, r := range rs {
		name := r.Model
		if r.Synthetic {
			name += "*"
		}
		fmt.Printf("%-16s %8d %11d %9.1f %9.2f %11.2f %10.2f %12.2f %7d %9.0f\n", name, r.Params, r.Constraints, r.SetupS, r.ProveS, r.ProveCPUS, r.VerifyMS, r.VerifyVKMS, r.ProofBytes, r.PeakMiB)
	}
	fmt.Println("\n* synthetic int8 model with random weights (no trained model of this size in the repository)")
	fmt.Println("\nEZKL (published figures, DESIGN §6; EZKL cannot run here: its npm engine lacks circuit compilation and SRS generation):")
	for _, r := range rs {
		e, ok := ezkl[r.Model]
		if !ok {
			fmt.Printf("  %-16s no published EZKL figure for this architecture\n", r.Model)
			continue
		}
		fmt.Printf("  %-16s EZKL %.1f s / %.1f GB (%s); vai %.2f s / %.2f GB (int8 weights and activations, exact): %.1fx faster proving, %.1fx less memory\n",
			r.Model, e.proveS, e.memGB, e.note, r.ProveS, r.PeakMiB/1024, e.proveS/r.ProveS, e.memGB*1024/r.PeakMiB)
	}
	fmt.Println("\ngoals: proving >= 10x faster than EZKL on the same model; on-chain (in-state-machine) verification <= 5 ms")
	if *out != "" {
		b, _ := json.MarshalIndent(rs, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func loadModel(name string) (*runtime.Model, bool, error) {
	switch name {
	case "mlp_784_56_10":
		return syntheticMLP(784, 56, 10), true, nil
	case "mlp_784_128_10":
		return syntheticMLP(784, 128, 10), true, nil
	}
	b, err := os.ReadFile(filepath.Join("runtime", "testdata", name+".vaim"))
	if err != nil {
		return nil, false, fmt.Errorf("%v (run from the repository root)", err)
	}
	m, err := runtime.Decode(b)
	return m, false, err
}

// syntheticMLP is in → hidden (ReLU) → out with random int8 weights, small
// biases and per-channel requantisation that keeps activations in range.
func syntheticMLP(in, hidden, out int) *runtime.Model {
	rng := rand.New(rand.NewPCG(1, uint64(in*hidden)))
	dense := func(i, o int, act runtime.Activation) *runtime.Dense {
		d := &runtime.Dense{In: i, Out: o, Act: act, Weights: make([]int8, i*o), Bias: make([]int32, o),
			Requant: runtime.Requant{Mult: make([]int32, o), Shift: make([]uint8, o)}}
		for k := range d.Weights {
			d.Weights[k] = int8(rng.IntN(255) - 127)
		}
		for k := range o {
			d.Bias[k] = int32(rng.IntN(2001) - 1000)
			d.Requant.Mult[k] = int32(1<<30 + rng.IntN(1<<30))
			d.Requant.Shift[k] = 45
		}
		return d
	}
	return &runtime.Model{Input: runtime.Shape{in}, InputScale: runtime.Fixed{Mult: 127, Shift: 0}, OutputScale: runtime.Fixed{Mult: 1, Shift: 7},
		Layers: []runtime.Layer{dense(in, hidden, runtime.ActRelu), dense(hidden, out, runtime.ActNone)},
		Meta:   map[string]string{"name": fmt.Sprintf("synthetic-%d-%d-%d", in, hidden, out)}}
}

func run(name string, proves int, backend zkml.Backend, cpuProfile string) (*result, error) {
	m, synth, err := loadModel(name)
	if err != nil {
		return nil, err
	}
	r := &result{Model: name, Backend: string(backend), Params: m.Params(), Synthetic: synth}
	t0 := time.Now()
	c, err := zkml.Compile(m, zkml.Options{Backend: backend})
	if err != nil {
		return nil, err
	}
	r.CompileS, r.Constraints = time.Since(t0).Seconds(), c.Constraints()
	pr, vk, setupS, err := setup(c)
	if err != nil {
		return nil, err
	}
	r.SetupS = setupS
	salt, _ := zkml.NewSalt()
	rng := rand.New(rand.NewPCG(2, 2))
	in := make([]int8, m.Input.Size())
	var times, cpu []float64
	var p *zkml.Proof
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile + "." + name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	for range proves {
		for i := range in {
			in[i] = int8(rng.IntN(256) - 128)
		}
		t0, c0 := time.Now(), cpuSeconds()
		if p, err = pr.Prove(m, salt, in, []byte("bench")); err != nil {
			return nil, err
		}
		times = append(times, time.Since(t0).Seconds())
		cpu = append(cpu, cpuSeconds()-c0)
	}
	pprof.StopCPUProfile()
	slices.Sort(times)
	slices.Sort(cpu)
	r.ProveS, r.ProveCPUS, r.ProofBytes = times[len(times)/2], cpu[len(cpu)/2], len(p.Bytes())
	pub := p.Public.Vector()
	const n = 50
	t0 = time.Now()
	for range n {
		if err := vk.VerifyRaw(p.Bytes(), pub); err != nil {
			return nil, err
		}
	}
	r.VerifyMS = time.Since(t0).Seconds() * 1000 / n
	t0 = time.Now()
	for range n {
		k, err := zkml.ParseVerifier(backend, vk.Bytes())
		if err != nil {
			return nil, err
		}
		if err := k.VerifyRaw(p.Bytes(), pub); err != nil {
			return nil, err
		}
	}
	r.VerifyVKMS = time.Since(t0).Seconds() * 1000 / n
	r.PeakMiB = peakMiB()
	return r, nil
}

// setup makes c's keys and returns the time it took: gnark's single-party
// Groth16 setup, or PLONK's from a universal SRS drawn beforehand.
func setup(c *zkml.Circuit) (*zkml.Prover, zkml.Verifier, float64, error) {
	var pk, vk any
	var err error
	var t0 time.Time
	if c.Options().Backend == zkml.BackendPlonk {
		srs, err := zkml.NewDevSRS(c.SRSSize())
		if err != nil {
			return nil, nil, 0, err
		}
		t0 = time.Now()
		pk, vk, err = zkml.PlonkSetup(c, srs)
		if err != nil {
			return nil, nil, 0, err
		}
	} else {
		t0 = time.Now()
		if pk, vk, err = zkml.DevSetup(c); err != nil {
			return nil, nil, 0, err
		}
	}
	s := time.Since(t0).Seconds()
	pr, err := zkml.NewProver(c, pk)
	if err != nil {
		return nil, nil, 0, err
	}
	v, err := zkml.NewVerifier(vk)
	return pr, v, s, err
}

// cpuSeconds is this process's CPU time so far (user + system): on a
// machine shared with other work, it moves much less than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakMiB is this process's peak resident memory (VmHWM).
func peakMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}
