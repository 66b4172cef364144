"""``python -m training evaluate`` on a two-track toy dataset, through the engine's separator.

The model is the contract's "gain" test model with gains (0, 0, 0, 1): every stem but ``other``
is silent and ``other`` is the mixture, so the expected scores are known: 0 dB global SDR for
the silent estimates and ``other`` equal to the mixture floor.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import tinymodels
from training import evaluate


@pytest.fixture(scope="module")
def other_is_mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "other_is_mix.onnx"
    return tinymodels.gain_model(path, (0.0, 0.0, 0.0, 1.0), name="other_is_mix")


def table_rows(text: str, header: str) -> dict[str, list[float]]:
    """The markdown table following ``header``: {row label: [vocals, drums, bass, other, mean]}."""
    lines = text.split(header, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)
    rows = {}
    for line in block[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = [float(c) for c in cells[1:]]
    return rows


def test_global_table_with_floor_and_oracle(toy_dataset: Path, other_is_mix: Path,
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scores.json"
    assert evaluate.main(["--model", str(other_is_mix), "--data", str(toy_dataset), "--no-bss",
                          "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(2 tracks" in text and "x real time" in text
    rows = table_rows(text, "Global SDR")
    model, floor = rows["model"], rows["mixture as estimate (floor)"]
    oracle = rows["oracle ideal ratio mask (ceiling)"]
    assert model[:3] == pytest.approx([0.0, 0.0, 0.0], abs=0.01)  # silent estimates: 0 dB
    assert model[3] == pytest.approx(floor[3], abs=0.01)  # other = the mixture
    assert all(o > f + 10 for o, f in zip(oracle, floor))  # the IRM separates the toy songs
    raw = json.loads(out.read_text())
    assert raw["tracks"] == ["toy0", "toy1"] and len(raw["global"]["model"]["vocals"]) == 2


@pytest.mark.slow  # museval's BSS-Eval v4 costs ~25 s of CPU for the three estimate sets
def test_bss_eval_v4_table(toy_dataset: Path, other_is_mix: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """museval on the middle 2 s of one track (kept short: BSS-Eval v4 is slow)."""
    assert evaluate.main(["--model", str(other_is_mix), "--data", str(toy_dataset),
                          "--tracks", "1", "--seconds", "2"]) == 0
    text = capsys.readouterr().out
    rows = table_rows(text, "median over tracks:")
    assert set(rows) == {"model", "mixture as estimate (floor)",
                         "oracle ideal ratio mask (ceiling)"}
    floor, oracle = rows["mixture as estimate (floor)"], rows["oracle ideal ratio mask (ceiling)"]
    assert rows["model"][3] == pytest.approx(floor[3], abs=0.05)
    assert all(o > f + 10 for o, f in zip(oracle, floor))


def test_folder_without_tracks_is_a_one_line_error(tmp_path: Path, other_is_mix: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main(["--model", str(other_is_mix), "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no MUSDB-style track folders") and err.count("\n") == 1
