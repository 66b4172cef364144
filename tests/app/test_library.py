"""Issue 12 item 5, the library: reopening a song restores its mix (real window, real engine),
also in a new session; a corrupt or locked database costs one warning, never the app."""

from __future__ import annotations

import logging
import math
import sqlite3

import pytest

from app.library import SCHEMA_VERSION, Library
from tests.app.conftest import open_window, tone_song


@pytest.fixture
def songs(tmp_path):
    return tone_song(tmp_path / "First Song", 6.0), tone_song(tmp_path / "Second Song", 6.0)


def test_reopening_a_song_restores_its_mix(qtbot, settings, two_models, songs):
    first, second = songs
    w = open_window(qtbot, settings)
    c = w.controller
    w.open_path(first)
    c.set_gain("vocals", -6.0)
    c.set_mute("drums", True)
    c.set_gain("bass", -math.inf)
    w._set_master(-3.0)
    c.select("B")
    c.set_loop(2.0, 4.0)
    w.open_path(second)  # another song, changed differently
    c.set_mute("drums", False)
    c.set_gain("vocals", 0.0)
    c.set_gain("bass", 0.0)
    c.select("A")
    c.toggle_loop(False)
    w.open_path(first)
    eng = c.engine

    def check():
        assert c.mix.gain("vocals") == -6.0 and c.mix.muted == {"drums"}
        assert c.mix.gain("bass") == -math.inf
        assert eng.mixer.settings.mute == {"drums"} and eng.mixer.settings.source == "B"
        assert w.strips.strips["drums"].mute.isChecked()
        assert w.strips.strips["vocals"].db_label.text() == "-6.0 dB"
        assert w.sources.current == "B"
        assert c.master_db == pytest.approx(-3.0, abs=0.1)
        assert w.transport.master_label.text() == "-3.0 dB"
        assert c.loop == pytest.approx((2.0, 4.0)) and c.loop_enabled
        assert eng.status().loop == pytest.approx((2.0, 4.0), abs=0.01)
        assert w.transport.loop_button.isChecked()

    check()
    w.open_path(second)
    assert c.mix.muted == frozenset() and c.source == "A" and not c.loop_enabled
    w.close()
    w2 = open_window(qtbot, settings)  # a new session: the database on disk
    try:
        c, w = w2.controller, w2
        w2.open_path(first)
        eng = c.engine
        check()
        assert [s.title for s in w2.library.recent()] == ["First Song", "Second Song"]
        labels = [a.text() for a in w2.recent_menu.actions() if a.toolTip()]
        assert labels[0].startswith("First Song") and labels[1].startswith("Second Song")
        second_action = next(a for a in w2.recent_menu.actions()
                             if a.toolTip() == str(second.resolve()))
        second_action.trigger()  # reopening from the menu restores that song's mix
        assert c.mix.muted == frozenset() and c.source == "A"
    finally:
        w2.close()


def test_corrupt_library_is_one_warning_and_the_app_works(qtbot, settings, two_models,
                                                          songs, caplog):
    (settings.file_path.parent / "library.sqlite3").write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="app.library"):
        w = open_window(qtbot, settings)
    try:
        assert not w.library.usable
        warnings = [r for r in caplog.records if r.name == "app.library"]
        assert len(warnings) == 1 and "not usable" in warnings[0].getMessage()
        assert "\n" not in warnings[0].getMessage()
        assert w.open_path(songs[0])
        w.controller.set_mute("drums", True)
        w.remember_song()
        assert w.open_path(songs[1]) and w.open_path(songs[0])
        assert w.presenter.history == []
    finally:
        w.close()


def test_locked_library_skips_saving_with_a_warning(tmp_path, caplog):
    lib = Library(tmp_path / "lib.sqlite3")
    assert lib.usable
    other = sqlite3.connect(tmp_path / "lib.sqlite3", timeout=0)
    other.execute("BEGIN EXCLUSIVE")  # another stemplay writing
    song = tmp_path / "x.wav"
    song.write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="app.library"):
        assert not lib.remember(song, "x", {"gains": {"vocals": -math.inf}})
    assert any("could not save" in r.getMessage() for r in caplog.records)
    other.rollback()
    other.close()
    assert lib.remember(song, "x", {"gains": {"vocals": -math.inf}})
    assert lib.recall(song) == {"gains": {"vocals": -math.inf}}
    version = lib.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION


def test_library_of_a_newer_version_is_left_alone(tmp_path, caplog):
    path = tmp_path / "lib.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING, logger="app.library"):
        lib = Library(path)
    assert not lib.usable and "newer stemplay" in lib.problem
    assert lib.recall(path) is None and lib.recent() == []


def test_pan_tempo_and_pitch_come_back_with_the_song(qtbot, settings, two_models,
                                                     songs):
    first, second = songs
    w = open_window(qtbot, settings)
    try:
        c = w.controller
        w.open_path(first)
        c.set_pan("vocals", -100.0)
        c.set_tempo(0.8)
        c.set_pitch(2.0)
        w.open_path(second)
        c.set_pan("vocals", 0.0)
        c.set_tempo(1.0)
        c.set_pitch(0.0)
        w.open_path(first)
        st = c.engine.mixer.settings
        assert c.pan["vocals"] == -100.0 and st.pan_of("vocals") == -100.0
        assert c.tempo == pytest.approx(0.8) and st.tempo == pytest.approx(0.8)
        assert c.pitch == pytest.approx(2.0) and st.pitch == pytest.approx(2.0)
        w.open_path(second)
        assert c.pan["vocals"] == 0.0 and c.tempo == 1.0 and c.pitch == 0.0
    finally:
        w.close()
