"""The pure timeline maths (engine/timeline.py): loops set or cleared while playing."""

from __future__ import annotations

from engine.timeline import start_timeline


def test_loop_set_ahead_wraps_exactly_at_its_end() -> None:
    tl = start_timeline(1, 1000, track=100, loop=None)
    new = tl.with_loop(pos=20, margin=50, loop=(110, 300))
    assert new.pieces[-1].stream == 200  # the playhead at track 120: the end is 180 ahead
    assert new.run_at(199) == (299, 1)
    assert new.run_at(200) == (110, 190)  # first wrap at the loop end
    assert new.run_at(19) == (119, 181)  # nothing changes before the cut


def test_loop_end_too_close_or_cleared_cuts_after_the_margin() -> None:
    tl = start_timeline(1, 1000, track=100, loop=None)
    near = tl.with_loop(pos=180, margin=50, loop=(110, 300))  # track 280: end only 20 ahead
    assert near.pieces[-1].stream == 230
    assert near.run_at(229) == (329, 1)  # the rings up to the cut stay as they are
    looped = start_timeline(1, 1000, track=100, loop=(50, 300))
    cleared = looped.with_loop(pos=10, margin=50, loop=None)
    assert cleared.pieces[-1].stream == 60
    assert cleared.run_at(60) == (160, 840)  # plays on to the end of the track


def test_loop_end_closer_than_the_margin_still_loops_in_its_beat() -> None:
    tl = start_timeline(1, 1000, track=100, loop=None)
    near = tl.with_loop(pos=180, margin=50, loop=(110, 300))  # track 280: end only 20 ahead
    assert near.run_at(229) == (329, 1)  # what is already on its way plays as it is
    assert near.run_at(230) == (140, 160)  # then into the loop, 30 past its start (20 + 30 = 50)
    assert near.run_at(390) == (110, 190)  # and it keeps wrapping at its end
