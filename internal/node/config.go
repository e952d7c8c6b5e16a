package node

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/spf13/viper"
)

// A home directory holds one node:
//
//	config/config.toml   CometBFT's configuration (consensus, p2p, rpc, mempool)
//	config/app.toml      vai's node settings (REST API, state, logging)
//	config/client.toml   defaults for client commands (node URL, keyring)
//	config/genesis.json, node_key.json, priv_validator_key.json
//	data/                block store, consensus state, tx index, application.db
//	logs/                verifiable logs (tlog): one directory per log, with its operator key
//	keyring-test/, keyring-file/
const (
	appConfigFile    = "app.toml"
	clientConfigFile = "client.toml"
)

// AppConfig is config/app.toml.
type AppConfig struct {
	API   APIConfig   `toml:"api"`
	CAS   CASConfig   `toml:"cas"`
	State StateConfig `toml:"state"`
	Log   LogConfig   `toml:"log"`
	Logs  LogsConfig  `toml:"logs"`
}

// LogsConfig configures the verifiable logs the node serves (tlog).
type LogsConfig struct {
	Enable bool `toml:"enable"`
	// BatchMaxSize and BatchMaxAgeMS bound an append batch.
	BatchMaxSize  uint  `toml:"batch_max_size"`
	BatchMaxAgeMS int64 `toml:"batch_max_age_ms"`
	// CheckpointIntervalMS is how often a grown log signs a checkpoint.
	CheckpointIntervalMS int64 `toml:"checkpoint_interval_ms"`
	// WitnessIntervalMS is how often grown logs' checkpoints are sent to
	// the chain.
	WitnessIntervalMS int64 `toml:"witness_interval_ms"`
	// AllowRemoteWrites accepts log creation, appends and publication from
	// other hosts than loopback (reads are always open).
	AllowRemoteWrites bool `toml:"allow_remote_writes"`
}

// CASConfig configures the content store the node serves at /blobs.
type CASConfig struct {
	// Backend is "local" (a directory in the home) or "kubo" (an IPFS
	// kubo node's HTTP RPC API at KuboAPI).
	Backend string `toml:"backend"`
	KuboAPI string `toml:"kubo_api"`
	// MaxUpload bounds one uploaded blob, in bytes (negative: no uploads).
	MaxUpload int64 `toml:"max_upload"`
}

// APIConfig configures the REST API.
type APIConfig struct {
	Enable bool `toml:"enable"`
	// Address to listen on; loopback unless you mean to expose it.
	Address string `toml:"address"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
}

// StateConfig configures the ledger's storage.
type StateConfig struct {
	// InvariantPeriod checks every invariant each N blocks (0: never). A
	// broken invariant halts the node.
	InvariantPeriod int64 `toml:"invariant_period"`
	// KeepVersions is how many recent state versions are kept for
	// historical queries and proofs (0: all).
	KeepVersions int64 `toml:"keep_versions"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// DefaultAppConfig is the configuration of a new home.
func DefaultAppConfig() AppConfig {
	return AppConfig{
		API:   APIConfig{Enable: true, Address: "127.0.0.1:1317", MaxBodyBytes: 4 << 20},
		CAS:   CASConfig{Backend: "local", MaxUpload: 1 << 30},
		State: StateConfig{InvariantPeriod: 100, KeepVersions: 0},
		Log:   LogConfig{Level: "warn", Format: "text"},
		Logs:  LogsConfig{Enable: true, BatchMaxSize: 4096, BatchMaxAgeMS: 50, CheckpointIntervalMS: 250, WitnessIntervalMS: 250},
	}
}

// ClientConfig is config/client.toml: defaults for client commands.
type ClientConfig struct {
	ChainID string `toml:"chain_id"`
	Node    string `toml:"node"`
	// API is the node's REST API (content store uploads and downloads).
	API            string `toml:"api"`
	KeyringBackend string `toml:"keyring_backend"`
}

// LoadAppConfig reads config/app.toml; unknown keys are errors.
func LoadAppConfig(home string) (AppConfig, error) {
	c := DefaultAppConfig()
	err := decodeStrict(filepath.Join(home, "config", appConfigFile), &c)
	return c, err
}

// LoadClientConfig reads config/client.toml. A missing file gives the
// defaults (node on localhost, file keyring).
func LoadClientConfig(home string) (ClientConfig, error) {
	c := ClientConfig{Node: "http://127.0.0.1:26657", API: "http://127.0.0.1:1317", KeyringBackend: "file"}
	err := decodeStrict(filepath.Join(home, "config", clientConfigFile), &c)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	return c, err
}

func decodeStrict(path string, v any) error {
	md, err := toml.DecodeFile(path, v)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return fmt.Errorf("%s: unknown settings %s", path, strings.Join(keys, ", "))
	}
	return nil
}

func writeTOML(path string, v any) error {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(v); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// LoadCometConfig reads config/config.toml as CometBFT's own commands do.
func LoadCometConfig(home string) (*cmtcfg.Config, error) {
	path := filepath.Join(home, "config", "config.toml")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s is not a vai home (no config/config.toml): run `vai init` or `vai up`", home)
	}
	v := viper.New()
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	c := cmtcfg.DefaultConfig()
	if err := v.Unmarshal(c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	c.SetRoot(home)
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseLevel parses a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("invalid log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}
