package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vai-dev/vai/manifest"
)

func newManifestCmd(g *globalFlags) *cobra.Command {
	var (
		hf      hashFlags
		outFile string
	)
	cmd := &cobra.Command{
		Use:   "manifest PATH",
		Short: "Hash a file or directory into an OMS manifest",
		Long: `Hash a file or directory into an OpenSSF Model Signing (OMS) manifest: an in-toto
statement listing every file (or 1 GB shard with --shard-size) with its digest.

The text output gives the manifest's identity (the SHA-256 of its canonical
statement, which names a dataset or model in vai), the OMS root digest, the
Merkle root of its resources, the file count and the total size. --output json
prints the statement itself; -o FILE writes the statement to FILE, and leaves
FILE out of the manifest when it lies inside PATH.

--ignore paths are relative to PATH (absolute paths must lie inside it) and drop
their whole subtree. .git, .gitattributes, .github and .gitignore at the root
are ignored unless --no-ignore-git-paths. Symbolic links are an error unless
--allow-symlinks. Digests of unchanged files come from a cache in the vai home
unless --no-cache.`,
		Example: `  vai manifest ./model
  vai manifest ./model --hash blake3 -o model.manifest.json
  vai manifest ./data --shard-size 1000000000 --ignore checkpoints --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := args[0]
			// Read through the flag set so that a global --output, if the
			// root defines one, serves as well as the local flag below.
			output, _ := cmd.Flags().GetString("output")
			switch output {
			case "text", "json":
			default:
				return fmt.Errorf("unknown --output %q (want text or json)", output)
			}
			cfg, err := hf.config(g, root)
			if err != nil {
				return err
			}
			if outFile != "" {
				// Like OMS's signature file, the output never hashes itself.
				absRoot, _ := filepath.Abs(root)
				absOut, err := filepath.Abs(outFile)
				if err != nil {
					return err
				}
				if rel, err := filepath.Rel(absRoot, absOut); err == nil && filepath.IsLocal(rel) {
					cfg.IgnorePaths = append(cfg.IgnorePaths, filepath.ToSlash(rel))
				}
			}
			stderr := cmd.ErrOrStderr()
			defer progress(stderr, &cfg)()

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := manifest.Build(ctx, root, cfg)
			if err != nil {
				return withHint(err)
			}
			if res.CacheErr != nil {
				fmt.Fprintf(stderr, "vai: warning: %v\n", res.CacheErr)
			}
			m := res.Manifest
			if outFile != "" {
				if err := writeFileAtomic(outFile, m.Statement()); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				_, err := out.Write(m.Statement())
				return err
			}
			root32 := m.RootDigest()
			fmt.Fprintf(out, "identity:      %s\n", m.Identity())
			fmt.Fprintf(out, "root digest:   sha256:%x\n", root32)
			fmt.Fprintf(out, "merkle root:   sha256:%x (%d resources)\n", m.Tree().Root(), len(m.Resources))
			fmt.Fprintf(out, "files:         %d\n", res.Files)
			fmt.Fprintf(out, "size:          %s (%d bytes)\n", humanBytes(res.Bytes), res.Bytes)
			fmt.Fprintf(out, "serialization: %s, %s\n", m.Serialization.Method, m.Serialization.Algorithm())
			if res.CachedFiles > 0 {
				fmt.Fprintf(out, "cached:        %d files; hashed %s\n", res.CachedFiles, humanBytes(res.HashedBytes))
			}
			return nil
		},
	}
	hf.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&outFile, "out", "o", "", "also write the statement to `FILE`")
	return cmd
}

// hashFlags are the flags of every command that hashes a directory
// (manifest, dataset register, model register, verify), as OMS-FORMAT.md
// names them.
type hashFlags struct {
	hashName      string
	shardSize     int64
	ignores       []string
	noGitIgnores  bool
	allowSymlinks bool
	noCache       bool
}

func (hf *hashFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&hf.hashName, "hash", "sha256", "content hash: sha256, blake2b or blake3")
	f.Int64Var(&hf.shardSize, "shard-size", 0, "hash files in shards of N bytes (OMS default 1000000000); 0 hashes whole files")
	f.StringArrayVar(&hf.ignores, "ignore", nil, "leave out `PATH` (relative to the model root) and everything under it; repeatable")
	f.BoolVar(&hf.noGitIgnores, "no-ignore-git-paths", false, "hash .git, .gitattributes, .github and .gitignore too")
	f.BoolVar(&hf.allowSymlinks, "allow-symlinks", false, "hash file symlinks' targets under the link's name, skip directory symlinks")
	f.BoolVar(&hf.noCache, "no-cache", false, "hash every file, ignoring the cache in <home>/cache/manifest")
}

// config turns the flags into a manifest configuration for root.
func (hf *hashFlags) config(g *globalFlags, root string) (manifest.Config, error) {
	h, err := manifest.ParseHash(hf.hashName)
	if err != nil {
		return manifest.Config{}, err
	}
	if hf.shardSize < 0 {
		return manifest.Config{}, fmt.Errorf("--shard-size must be positive")
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return manifest.Config{}, err
	}
	cfg := manifest.Config{Hash: h, ShardSize: hf.shardSize, IncludeGitPaths: hf.noGitIgnores, AllowSymlinks: hf.allowSymlinks}
	for _, p := range hf.ignores {
		rel, err := relIgnore(absRoot, p)
		if err != nil {
			return manifest.Config{}, err
		}
		cfg.IgnorePaths = append(cfg.IgnorePaths, rel)
	}
	if !hf.noCache {
		cfg.CacheDir, err = g.cacheDir()
		if err != nil {
			return manifest.Config{}, err
		}
	}
	return cfg, nil
}

func (g *globalFlags) cacheDir() (string, error) {
	home, err := g.resolveHome()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "cache", "manifest"), nil
}

// progress shows a progress bar on w while a manifest builds, if w is a
// terminal; call the returned function when done.
func progress(w io.Writer, cfg *manifest.Config) func() {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := &progressBar{w: f, start: time.Now()}
		cfg.Progress = bar.update
		return bar.clear
	}
	return func() {}
}

// relIgnore makes an --ignore path relative to the model root. Relative
// paths are taken as relative to the root already; absolute ones must lie
// inside it.
func relIgnore(absRoot, p string) (string, error) {
	if !filepath.IsAbs(p) {
		return p, nil
	}
	rel, err := filepath.Rel(absRoot, filepath.Clean(p))
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("--ignore %s is outside the model %s", p, absRoot)
	}
	return filepath.ToSlash(rel), nil
}

func withHint(err error) error {
	switch {
	case errors.Is(err, manifest.ErrSymlink):
		return fmt.Errorf("%w; pass --allow-symlinks to hash symlink targets, or --ignore the link", err)
	case errors.Is(err, manifest.ErrSpecialFile), errors.Is(err, manifest.ErrBrokenSymlink), errors.Is(err, manifest.ErrSymlinkLoop):
		return fmt.Errorf("%w; --ignore the path to leave it out", err)
	case errors.Is(err, manifest.ErrChanged):
		return fmt.Errorf("%w; hash it again once nothing writes to it", err)
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	}
	return err
}

// writeFileAtomic writes data to path through a temporary file and rename,
// so that an interrupted write never leaves a partial manifest.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progressBar draws hashing progress on a terminal.
type progressBar struct {
	w     io.Writer
	start time.Time
	drawn bool
}

func (b *progressBar) update(done, total int64) {
	if total == 0 {
		return
	}
	const width = 30
	frac := float64(done) / float64(total)
	filled := int(frac * width)
	rate := float64(done) / max(time.Since(b.start).Seconds(), 1e-3)
	fmt.Fprintf(b.w, "\r\033[Khashing [%s%s] %3.0f%% %s / %s %s/s",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100,
		humanBytes(done), humanBytes(total), humanBytes(int64(rate)))
	b.drawn = true
}

func (b *progressBar) clear() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
}
