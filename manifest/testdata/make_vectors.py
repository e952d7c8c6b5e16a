#!/usr/bin/env python3
"""Writes the OMS test vectors in vectors/*.txtar.

Each vector is a model (files under model/), a config, and the statement the
OMS rules give for it. The expected digests come from Python's hashlib and
Debian's b3sum, the order from sorted() over pathlib.PurePosixPath keys and
integer offsets (what the reference's _File/_Shard dataclasses compare), so
the vectors do not share code with vai. Run it from this directory; vai's
tests only read its output.
"""
import hashlib, json, pathlib, subprocess

def digest(hash_type, data):
    if hash_type == "sha256":
        return hashlib.sha256(data).hexdigest()
    if hash_type == "blake2b":
        return hashlib.blake2b(data).hexdigest()
    if hash_type == "blake3":
        out = subprocess.run(["b3sum", "--no-names"], input=data, capture_output=True, check=True)
        return out.stdout.decode().strip()
    raise ValueError(hash_type)

GIT = [".git", ".gitattributes", ".github", ".gitignore"]

def is_ignored(rel, ignores):
    p = pathlib.PurePosixPath(rel)
    return any(p.is_relative_to(i) for i in ignores)

def statement(name, files, hash_type="sha256", shard_size=0, ignore=(), git=True, root=None):
    ignores = sorted(set(list(ignore) + (GIT if git else [])))
    if hash_type == "blake3":
        shard_size = 0  # BLAKE3 never shards
    if root is not None:  # single-file model
        entries = {".": files[root]}
    else:
        entries = {k: v for k, v in files.items() if not is_ignored(k, ignores)}
    keyed = []
    for path, data in entries.items():
        if shard_size:
            for start in range(0, len(data), shard_size):
                end = min(start + shard_size, len(data))
                keyed.append(((pathlib.PurePosixPath(path), start, end), f"{path}:{start}:{end}",
                              f"{hash_type}-sharded-{shard_size}", digest(hash_type, data[start:end])))
        else:
            keyed.append(((pathlib.PurePosixPath(path),), path, hash_type, digest(hash_type, data)))
    keyed.sort(key=lambda k: k[0])
    resources = [{"name": n, "algorithm": a, "digest": d} for _, n, a, d in keyed]
    root_digest = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    ser = {"method": "shards" if shard_size else "files", "hash_type": hash_type}
    if shard_size:
        ser["shard_size"] = shard_size
    ser["allow_symlinks"] = False
    if ignores:
        ser["ignore_paths"] = ignores
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": root_digest}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {"serialization": ser, "resources": resources},
    }

SORT_FILES = {
    "a/b": b"first by components\n",
    "a b/y": b"space sorts before dash\n",
    "a-b/x": b"dash sorts before dot\n",
    "a.txt": b"dot sorts after the directory a\n",
    ".hidden": b"hidden files are hashed\n",
    "empty": b"",
    "sub/.gitignore": b"only root git paths are ignored\n",
    ".gitignore": b"ignored at the root\n",
    ".git/HEAD": b"ref: refs/heads/main\n",
}
SHARD_FILES = {
    "w": b"abcdefghijklmnopqrstuvw\n",  # 24 bytes: shards 0:8 8:16 16:24 sort numerically
    "big": b"ABCDEFGHIJKLMNOPQRS\n",    # 20 bytes: the last shard 16:20 is short
    "small": b"1234567\n",              # exactly one shard
    "empty": b"",                       # no shard at all
}
IGNORE_FILES = {
    "ckpt/step1": b"ignored subtree\n",
    "ckpt_old/step1": b"not a path-component prefix: kept\n",
    "data/train.csv": b"a,b\n1,2\n",
    "data/cache/x": b"ignored nested directory\n",
}

CASES = [
    ("files-sort", dict(name="model", files=SORT_FILES)),
    ("blake2b", dict(name="model", files=SORT_FILES, hash_type="blake2b")),
    ("blake3", dict(name="model", files=SORT_FILES, hash_type="blake3")),
    ("blake3-never-shards", dict(name="model", files=SHARD_FILES, hash_type="blake3", shard_size=8)),
    ("shards", dict(name="model", files=SHARD_FILES, shard_size=8)),
    ("shards-blake2b", dict(name="model", files=SHARD_FILES, hash_type="blake2b", shard_size=8)),
    ("single-file", dict(name="weights.bin", files={"weights.bin": b"a single-file model\n"}, root="weights.bin")),
    ("single-file-shards", dict(name="weights.bin", files={"weights.bin": b"a single-file model\n"}, root="weights.bin", shard_size=8)),
    ("empty-model", dict(name="model", files={".gitignore": b"x\n", ".git/config": b"[core]\n"})),
    ("ignore-paths", dict(name="model", files=IGNORE_FILES, ignore=["ckpt", "data/cache", "does/not/exist"])),
    ("no-git-ignores", dict(name="model", files=SORT_FILES, git=False)),
]

def config(kw):
    c = {"hash": kw.get("hash_type", "sha256")}
    if kw.get("shard_size"):
        c["shard_size"] = kw["shard_size"]
    if kw.get("ignore"):
        c["ignore"] = kw["ignore"]
    if kw.get("git") is False:
        c["include_git_paths"] = True
    c["root"] = "model/" + kw["root"] if kw.get("root") else "model"
    return c

for name, kw in CASES:
    st = statement(**kw)
    # txtar: a file is the lines after its marker, so every content here
    # ends in a newline or is empty.
    text = json.dumps(config(kw)) + "\n"
    for path, data in sorted(kw["files"].items()):
        assert data == b"" or data.endswith(b"\n"), path
        text += f"-- model/{path} --\n" + data.decode()
    text += "-- want.json --\n" + json.dumps(st, indent=2) + "\n"
    pathlib.Path(f"vectors/{name}.txtar").write_text(text)
