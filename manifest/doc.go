// Package manifest builds, reads and compares OpenSSF Model Signing (OMS)
// manifests of a file or directory: in-toto Statement v1 documents with the
// https://model_signing/signature/v1.0 predicate, listing every file (or
// shard of a file) with its digest. vai identifies datasets and models by
// them.
//
// # Building
//
// Build walks a model and hashes it on all cores:
//
//	res, err := manifest.Build(ctx, "./model", manifest.Config{
//		Hash:     manifest.BLAKE3,   // default SHA256; also BLAKE2b
//		CacheDir: cacheDir,          // optional incremental cache
//	})
//	m := res.Manifest
//	os.WriteFile("model.manifest.json", m.Statement(), 0o644)
//
// The result follows the OMS reference implementation exactly, so a
// manifest vai writes verifies with the reference tool and the other way
// round: resource names are slash-separated paths relative to the root ("."
// for a single-file model); resources are sorted component by component
// ("a/b" < "a b/y" < "a-b/x" < "a.txt") and shards by integer offset; with
// Config.ShardSize each file is cut into shards named "path:start:end" with
// the algorithm "sha256-sharded-N" (BLAKE3 never shards); .git,
// .gitattributes, .github and .gitignore at the root are ignored unless
// Config.IncludeGitPaths; ignore paths drop whole subtrees and are recorded
// in the predicate; the root digest is SHA-256 over the resources' raw
// digests.
//
// The walk refuses symbolic links unless Config.AllowSymlinks (then file
// links are hashed with their target's content under the link's name, and
// directory links are skipped), and fails on link loops, dangling links,
// sockets, FIFOs and devices. A file that changes while it is hashed (its
// size, mtime, ctime, inode or device differ before and after) fails the
// build with ErrChanged. Errors name the path in a *PathError.
//
// Hashing streams files in bounded memory: each worker maps or reads one
// window at a time. Large files are hashed in parallel too: by shard in
// shards mode, and by 16 MiB BLAKE3 subtree for BLAKE3.
//
// # Reading and comparing
//
// Parse reads a statement and checks it: any key order, shard_size as an
// integral double and ignore_paths as a set are accepted, as the reference
// writes them; path traversal in names, duplicate keys, resources out of
// order, shards that do not tile a file and a wrong root digest are
// rejected with errors wrapping ErrInvalid. Compare lists the files that
// changed, are missing or are extra between two manifests.
//
// # Identity
//
// Manifest.Identity is the SHA-256 of Manifest.Canonical: the RFC 8785
// (JCS) form of the statement with the subject name blanked, ignore paths
// sorted and unknown fields left out. Two builds of the same content with
// the same settings have the same identity, whatever the directory is
// called.
//
// # Membership proofs
//
// The resources, in order, are the leaves of an RFC 6962 Merkle tree
// (leaf data: LeafData). Manifest.Prove gives a proof that one resource is
// in the manifest; InclusionProof.Verify checks it against the tree's root
// and size alone, so a ledger can check "a file with digest D is in dataset
// X" without the manifest.
//
// # The cache
//
// With Config.CacheDir, a file whose path, size, mtime, ctime, inode and
// device are unchanged since an earlier build with the same hash and shard
// layout is not read again. A damaged cache file is ignored (Result.CacheErr
// says so); it can cost time, never a wrong digest. Files modified in the
// two seconds before a build are not cached, because a second change in
// the same timestamp tick would be invisible.
package manifest
