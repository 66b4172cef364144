"""No real recording from ../shared/data/real may sit in the repository (licences forbid it).

Where the shared folder exists (next to the repository, as ``../shared/data/real``), every file in
the repository tree whose size equals a shared audio file's size is compared by SHA-256. Always
(also on CI, where the folder may be missing) files and folders are checked against name patterns
of the shared material, and the patterns are checked to cover every shared file name.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_REAL = REPO.parent / "shared" / "data" / "real"

#: Folders of the working tree that are not part of the repository's content.
SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
    "build",
    "dist",
    ".whl",
    ".gl",
    ".gpupack",  # the GPU training pack: ignored by git, never committed (a test checks)
}
AUDIO_EXTENSIONS = {
    ".wav",
    ".flac",
    ".mp3",
    ".ogg",
    ".opus",
    ".m4a",
    ".mp4",
    ".aiff",
    ".aif",
    ".npy",
    ".npz",
}

#: Names of the shared real material (songs, singers' clip names, datasets).
REAL_NAME_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"musicdelta",  # MedleyDB MusicDelta songs
        r"ultimate_nz_tour|dev2__ultimate",  # SiSEC 2011 snippet
        (
            r"^(en|zh|fr|ge|it|jp|kr|ru|sp)\d*[-_](alto|tenor|soprano|bass|control|speech|vibrato|"
            r"breathy|falsetto|glissando|mixed|pharyngeal)"
        ),  # GTSinger clips
        r"^(zh|fr|ge|it|jp|kr|ru|sp|en)\d+_",  # GTSinger clips, short names
        r"gtsinger|m4singer",
        r"^svs_gt_|^svc_|^samples_(alto|tenor|soprano|bass)-",  # M4Singer clips
        r"vocadito",
        r"^csd_[a-z]{2}\d+",  # Children's Song Dataset
        r"^pjs\d+_song",  # PJS corpus
    )
]


def _repo_files(repo: Path = REPO) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        files.extend(Path(dirpath) / f for f in filenames)
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _shared_audio() -> list[Path]:
    return [
        p for p in SHARED_REAL.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
    ]


def _looks_real(rel: Path) -> bool:
    return any(pat.search(part) for part in rel.parts for pat in REAL_NAME_PATTERNS)


def _copies_of_shared(repo: Path) -> list[str]:
    """Files under ``repo`` whose content equals a shared real audio file (size, then SHA-256)."""
    by_size: dict[int, list[Path]] = {}
    for p in _shared_audio():
        by_size.setdefault(p.stat().st_size, []).append(p)
    hashes: dict[int, set[str]] = {}
    found = []
    for path in _repo_files(repo):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size not in by_size:
            continue
        if size not in hashes:
            hashes[size] = {_sha256(p) for p in by_size[size]}
        if _sha256(path) in hashes[size]:
            found.append(str(path.relative_to(repo)))
    return found


def test_no_file_of_the_shared_real_data_is_in_the_repository() -> None:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} not present: the name check below still runs")
    assert _shared_audio(), f"{SHARED_REAL} holds no audio: has the layout changed?"
    found = _copies_of_shared(REPO)
    assert not found, f"real recordings copied into the repository: {found}"


def test_a_renamed_copy_is_caught_by_content(tmp_path: Path) -> None:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} not present")
    source = min(_shared_audio(), key=lambda p: p.stat().st_size)
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "innocent.bin").write_bytes(source.read_bytes())
    (tmp_path / "assets" / "other.bin").write_bytes(b"x" * source.stat().st_size)
    assert _copies_of_shared(tmp_path) == ["assets/innocent.bin"]


def test_no_audio_named_like_the_real_material_is_in_the_repository() -> None:
    found = [
        str(p.relative_to(REPO))
        for p in _repo_files()
        if p.suffix.lower() in AUDIO_EXTENSIONS and _looks_real(p.relative_to(REPO))
    ]
    assert not found, f"files named like the real recordings are in the repository: {found}"


def test_the_name_patterns_cover_every_shared_file() -> None:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} not present")
    missed = [
        str(p.relative_to(SHARED_REAL))
        for p in _shared_audio()
        if not _looks_real(Path(p.name)) and not _looks_real(p.parent.relative_to(SHARED_REAL))
    ]
    assert not missed, f"name patterns miss these shared files: {missed[:10]}"


@pytest.mark.parametrize(
    "name, real",
    [
        ("MusicDelta_Beatles/vocals.flac", True),
        ("EN-Alto-1-Glissando-Control.flac", True),
        ("zh3_Speech.flac", True),
        ("SVS_GT_12.flac", True),
        ("vocadito_10.flac", True),
        ("csd_en001b.mp3", True),
        ("assets/demo/mixture.flac", False),
        ("assets/demo/vocals.flac", False),
        ("tests/fixtures/song_000/bass.wav", False),
    ],
)
def test_name_patterns(name: str, real: bool) -> None:
    assert _looks_real(Path(name)) is real


def test_the_gpu_training_pack_is_ignored_by_git() -> None:
    """The pack holds Opus copies of the shared real recordings: git must never pick it up."""
    import subprocess

    done = subprocess.run(["git", "check-ignore", "-q", ".gpupack/voices/0000.opus"], cwd=REPO,
                          check=False)
    if done.returncode == 128:
        pytest.skip("not a git checkout")
    assert done.returncode == 0, ".gpupack/ is not in .gitignore"
