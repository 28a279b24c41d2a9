"""Reads a repo's `.gitattributes` to decide which paths git stores through LFS; holds the Hub's default file."""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

# The file the Hub commits in a new repo: the binary and archive formats, and for datasets the audio, image and
# video formats too, are routed to LFS (and so to Xet) rather than stored as git blobs.
_COMMON = (
    "7z",
    "arrow",
    "bin",
    "bz2",
    "ckpt",
    "ftz",
    "gz",
    "h5",
    "joblib",
    "lz4",
    "mds",
    "mlmodel",
    "model",
    "msgpack",
    "npy",
    "npz",
    "onnx",
    "ot",
    "parquet",
    "pb",
    "pickle",
    "pkl",
    "pt",
    "pth",
    "rar",
    "safetensors",
    "tar",
    "tflite",
    "tgz",
    "wasm",
    "xz",
    "zip",
    "zst",
)
_COMMON_PATTERNS = ("*.lfs.*", "saved_model/**/*", "*.tar.*", "*tfevents*")
_MEDIA = {
    "Audio files - uncompressed": ("pcm", "sam", "raw"),
    "Audio files - compressed": ("aac", "flac", "mp3", "ogg", "wav"),
    "Image files - uncompressed": ("bmp", "gif", "png", "tiff"),
    "Image files - compressed": ("jpg", "jpeg", "webp"),
    "Video files - compressed": ("mp4", "webm"),
}
_LFS = "filter=lfs diff=lfs merge=lfs -text"


def default_gitattributes(repo_type: str) -> bytes:
    lines = [f"*.{ext} {_LFS}" for ext in _COMMON] + [f"{pattern} {_LFS}" for pattern in _COMMON_PATTERNS]
    if repo_type == "dataset":
        for heading, extensions in _MEDIA.items():
            lines.append(f"# {heading}")
            lines += [f"*.{ext} {_LFS}" for ext in extensions]
    return ("\n".join(lines) + "\n").encode()


@lru_cache(maxsize=64)
def _rules(text: str) -> tuple[tuple[re.Pattern[str], bool, bool], ...]:
    """(compiled pattern, whether it is anchored to the root, whether it sets filter=lfs), in file order."""
    rules = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        pattern, attributes = fields[0], fields[1:]
        if "filter=lfs" in attributes:
            lfs = True
        elif any(a in ("-filter", "!filter") or (a.startswith("filter=") and a != "filter=lfs") for a in attributes):
            lfs = False
        else:
            continue
        anchored = "/" in pattern.rstrip("/")
        rules.append((_compile(pattern.lstrip("/")), anchored, lfs))
    return tuple(rules)


def _compile(pattern: str) -> re.Pattern[str]:
    # `**/` matches any number of leading folders, as in git; fnmatch alone would demand at least one.
    parts = pattern.split("**/")
    return re.compile(
        "(?:.*/)?".join(fnmatch.translate(part).removeprefix("(?s:").removesuffix(")\\Z") for part in parts) + r"\Z",
        re.DOTALL,
    )


def routes_to_lfs(gitattributes: str, path: str) -> bool:
    """Whether the last matching line of `gitattributes` gives `path` the `filter=lfs` attribute, as git decides."""
    decision = False
    basename = path.rsplit("/", 1)[-1]
    for pattern, anchored, lfs in _rules(gitattributes):
        if pattern.match(path if anchored else basename):
            decision = lfs
    return decision
