"""The mixer: the audio callback that turns ring buffers into output samples.

What to play arrives as ``engine/mixsettings.py``'s value objects (:class:`MixSettings`, swapped
in by reference); dB to gain and the pan law are ``engine/levels.py``'s. :class:`Mixer` holds
the callback's streaming state; ``Mixer.process(outdata, frames)`` runs on the PortAudio
callback thread (or is called directly by tests and by the bench with a plain numpy buffer).

The callback never allocates an array, never takes a lock, never logs and always fills the whole
output. Per block it reads the plain mix ring, then, when the selected source ("A", "B",
"reference") has stems at the playhead, the stems of that source: each stem ramps linearly from
its old gain to its new gain across the block (no clicks, no zipper noise), the stems are summed
and the master gain (also ramped) applied. Until stems are available the plain mix plays; any
change of the audible source (A/B switch, stems arriving, stems running dry) is an equal-gain
cross-fade over ``FADE_S`` seconds, sample-aligned at the playhead since every ring shares the
same stream positions. So when the separation falls behind (a loaded CPU), the plain mix
takes over without a gap (counted in ``late``, flagged by ``behind``) and the stems fade back in
when they catch up; only a dry *mix* ring inserts silence (``underruns``).

Pan: each stem of a stem source has a pan (−100 = hard left … +100 = hard right), stemplay's
one pan law (``engine.levels.pan_matrix``: centre leaves the stem exactly as it was), ramped
across the block like the gains. The plain mix has no stems and is
not panned.

Last stage of every block: non-finite samples are silenced (``non_finite`` counts the blocks)
and the output is clamped to full scale, so a device never receives NaN, Inf or more than ±1.

After the mixer: tempo and pitch (``MixSettings.tempo`` / ``.pitch``). At tempo 1 and pitch 0
the stage is bypassed and the output is exactly the mixer's. Otherwise the mixer's blocks feed
a Rubber Band stretcher (:class:`engine.stretch.LiveStretch`, built by the facade on the GUI
thread and handed over as ``Mixer.stretcher``) that the callback pulls from, so all stems are
stretched together and stay aligned; the ratios change smoothly while playing. Entering or
leaving the stretched path while sound goes out is a one-block fade-out then fade-in (no
click). Positions, loops, seeks and meters stay in song time: the mixer is unchanged upstream
of the stretcher.

Count-in (``Mixer.count_in``, a click track built by :func:`click_track`): when a loop wraps,
the clicks play before the loop's start and the playhead waits meanwhile.

Positions are *stream positions* (samples since the current generation started, see
``engine/ring.py``); the facade maps them to track time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from engine.config import CHANNELS, SAMPLE_RATE
from engine.levels import PAN_MAX, pan_matrix
from engine.mixsettings import (
    SOURCES,
    STEM_SOURCES,
    MixSettings,
    Source,
    click_track,
    stem_audible,
)
from engine.ring import StemRing
from engine.stretch import LiveStretch, is_neutral

# The facade and the tests import these from here too (the mixer's public face).
__all__ = ["PAN_MAX", "SOURCES", "STEM_SOURCES", "MixSettings", "Mixer", "Source", "click_track",
           "crossfade_weights", "linear_ramp", "stem_audible"]

#: Longest block processed in one go (longer callbacks are processed in pieces).
MAX_BLOCK = 4096
#: Most stems a model may have.
MAX_STEMS = 8
#: Cross-fade length when the audible source changes (seconds).
FADE_S = 0.015
#: Meter ballistics: peak fall-off and RMS integration time (seconds).
METER_PEAK_DECAY_S = 0.3
METER_RMS_S = 0.1
#: Fade at the loop end before a count-in and at the loop start after it (seconds).
COUNT_IN_FADE_S = 0.004
#: Input samples of silence after which the stretcher is no longer run (paused).
STRETCH_IDLE = 1 << 15


# ---------------------------------------------------------------------------------- maths
# Reference forms of the ramps the callback computes in place (``Mixer._ramp_into`` ...).
def linear_ramp(out: np.ndarray, start: float, stop: float) -> None:
    """Fill ``out`` (n,) with a ramp that ends exactly on ``stop`` at its last sample.

    ``out[i] = start + (stop - start) * (i + 1) / n``: the sample before the block had
    ``start``, so consecutive blocks join without a step.
    """
    n = out.shape[0]
    if n == 0:
        return
    out[:] = np.arange(1, n + 1, dtype=out.dtype)
    out *= (stop - start) / n
    out += start


def crossfade_weights(out: np.ndarray, offset: int, length: int) -> None:
    """Fill ``out`` (n,) with the weight of the *new* source: ``(offset + i + 1) / length``
    clipped to [0, 1]; the old source gets ``1 - w`` (equal-gain: the sources are correlated)."""
    n = out.shape[0]
    out[:] = np.arange(offset + 1, offset + n + 1, dtype=out.dtype)
    out *= 1.0 / max(1, length)
    np.clip(out, 0.0, 1.0, out=out)


# ---------------------------------------------------------------------------------- callback
class Mixer:
    """Streaming state of the audio callback. ``process`` is the callback body.

    Members touched by two threads say who writes and who reads. Everything else is owned by
    the callback thread (or by whoever drives ``process`` directly, e.g. a test).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, fade_s: float = FADE_S) -> None:
        self.sample_rate = sample_rate
        self.fade_len = max(1, round(fade_s * sample_rate))
        # --- shared members ---------------------------------------------------------------
        # Written by the GUI thread (one reference swap), read by the callback.
        self.settings = MixSettings()
        # Written by the GUI thread, read by the callback: whether the user wants sound.
        self.play_request = False
        # Written by the GUI thread, read by the callback: (generation, stream position) of a
        # seek; applied (after a short fade-out) when its generation differs from ours.
        self.seek_request: tuple[int, int] = (0, 0)
        # Written by the worker (a new dict, swapped by reference), read by the callback.
        self.mix_ring: StemRing | None = None
        self.sources: Mapping[str, Source] = MappingProxyType({})
        # Written by the callback, read by the GUI thread (status): (generation, position).
        self.playhead: tuple[int, int] = (0, 0)
        # Written by the callback, read by the GUI thread. ``underruns``: blocks where the
        # output had nothing (inserted silence: the plain mix itself ran dry). ``late``: times
        # the heard stems ran dry and the mix took over (no silence); ``behind``: that is now
        # the case; ``non_finite``: blocks whose NaN/Inf samples were silenced.
        self.underruns = 0
        self.late = 0
        self.behind = False
        self.non_finite = 0
        # Written by the GUI thread once (before tempo or pitch first leave 1 / 0), read by the
        # callback: the stretcher stage (None: never needed so far).
        self.stretcher: LiveStretch | None = None
        # Written by the GUI thread (a reference swap), read by the callback: the count-in
        # click track (samples, channels) played when a loop wraps, or None (off).
        self.count_in: np.ndarray | None = None
        # Written once by the facade, read by the callback: an object whose ``timeline`` (the
        # worker's, swapped by reference) maps stream to track positions (for loop wraps).
        self.timeline_owner: Any = None
        # Written by the callback, read by the GUI thread: a count-in is playing now.
        self.counting_in = False
        self.playing = False  # sound is going out (not paused, not finished, not waiting)
        self.finished = False  # the playhead reached the end of the track
        self.heard = "mix"  # the source that is audible now ("mix" until stems arrive)
        self.errors = 0  # exceptions caught in the callback (a bug; output was silenced)
        # (stems, 2) peak and RMS of each stem of the heard source, after its gain.
        # Written by the callback in place (floats; a torn read only mixes two meter updates).
        self.levels = np.zeros((MAX_STEMS, 2), dtype=np.float64)
        self.master_level = np.zeros(2, dtype=np.float64)
        # --- callback-owned state ---------------------------------------------------------
        self._generation = 0
        self._position = 0
        self._started = False  # some audio of this generation was played
        self._run_gain = 0.0  # transport fade: 0 = silent (paused / seeking), 1 = playing
        self._master = 1.0
        self._gains: dict[str, np.ndarray] = {
            src: np.zeros(MAX_STEMS, dtype=np.float64) for src in STEM_SOURCES
        }
        self._targets: dict[str, np.ndarray] = {
            src: np.zeros(MAX_STEMS, dtype=np.float64) for src in STEM_SOURCES
        }
        self._pans: dict[str, np.ndarray] = {
            src: np.zeros(MAX_STEMS, dtype=np.float64) for src in STEM_SOURCES
        }
        self._pan_targets: dict[str, np.ndarray] = {
            src: np.zeros(MAX_STEMS, dtype=np.float64) for src in STEM_SOURCES
        }
        self._gains_valid: dict[str, tuple[str, ...] | None] = {s: None for s in STEM_SOURCES}
        self._stretching = False  # the output comes from the stretcher
        self._fade_in_next = False  # the path was just switched: its next block fades in
        self._idle = 0  # input samples of silence fed to the stretcher since the last sound
        self._ci_pos = -1  # position in the count-in click track, -1: none playing
        self._ci_fade = 0  # samples of the fade-in after a count-in still to apply
        self._ci_len = max(1, round(COUNT_IN_FADE_S * sample_rate))
        self._prev: str | None = None  # source fading out, None when no fade runs
        self._wanted = "A"  # the source the settings asked for at the last block
        self._fade_pos = 0
        # Preallocated work buffers, (frames, channels) and (stems, frames, channels).
        self._mixbuf = np.zeros((1, MAX_BLOCK, CHANNELS), dtype=np.float32)
        self._stembuf = np.zeros((MAX_STEMS, MAX_BLOCK, CHANNELS), dtype=np.float32)
        self._new = np.zeros((MAX_BLOCK, CHANNELS), dtype=np.float32)
        self._old = np.zeros((MAX_BLOCK, CHANNELS), dtype=np.float32)
        self._tmp = np.zeros((MAX_BLOCK, CHANNELS), dtype=np.float32)
        self._abs = np.zeros((MAX_BLOCK, CHANNELS), dtype=np.float32)
        self._bad = np.zeros((MAX_BLOCK, CHANNELS), dtype=bool)
        # Ramps are (frames, channels) with equal columns: a broadcast (frames, 1) operand
        # would make numpy allocate a buffer.
        self._ramp = np.zeros((MAX_BLOCK, CHANNELS), dtype=np.float32)
        self._ramp2 = np.zeros((MAX_BLOCK, CHANNELS), dtype=np.float32)
        self._count = np.repeat(  # 1..MAX_BLOCK in every channel
            np.arange(1, MAX_BLOCK + 1, dtype=np.float32)[:, None], CHANNELS, axis=1
        )
        self._count1 = np.arange(1, MAX_BLOCK + 1, dtype=np.float32)  # 1..MAX_BLOCK
        self._pre = np.zeros((MAX_BLOCK, CHANNELS), dtype=np.float32)  # stretcher input
        self._r1 = np.zeros(MAX_BLOCK, dtype=np.float32)  # pan ramps and products, (frames,)
        self._r2 = np.zeros(MAX_BLOCK, dtype=np.float32)
        self._v1 = np.zeros(MAX_BLOCK, dtype=np.float32)

    # ------------------------------------------------------------------ sounddevice entry
    def callback(
        self, outdata: np.ndarray, frames: int, time: Any = None, status: Any = None
    ) -> None:
        """sounddevice ``OutputStream`` callback: ``process`` that never raises."""
        if status is not None and getattr(status, "output_underflow", False):
            self.underruns += 1
        try:
            self.process(outdata, frames)
        except Exception:  # noqa: BLE001 - never raise into PortAudio: silence, count
            outdata.fill(0.0)
            self.errors += 1

    def process(self, outdata: np.ndarray, frames: int) -> None:
        """Fill ``outdata`` ``(frames, channels)`` float32 with the next ``frames`` samples."""
        off = 0
        while off < frames:
            n = min(MAX_BLOCK, frames - off)
            self._out_block(outdata[off : off + n], n)
            off += n

    # ------------------------------------------------------------------ tempo and pitch
    def _out_block(self, out: np.ndarray, n: int) -> None:
        """One output block: straight from the mixer, or through the stretcher."""
        settings = self.settings
        st = self.stretcher
        want = st is not None and not is_neutral(settings.tempo, settings.pitch)
        if want != self._stretching:
            silent = (self._idle >= STRETCH_IDLE if self._stretching
                      else not self.playing and self._run_gain == 0.0 and self._ci_pos < 0)
            if silent:  # nothing is going out: switch at once
                self._switch(want)
            else:  # the old path fades out over this block, the new one fades in next
                self._path(out, n)
                ramp = self._ramp[:n]
                self._ramp_into(ramp, 1.0, 0.0)
                out *= ramp
                self._switch(want)
                self._fade_in_next = True
                return
        self._path(out, n)
        if self._fade_in_next:
            self._fade_in_next = False
            ramp = self._ramp[:n]
            self._ramp_into(ramp, 0.0, 1.0)
            out *= ramp

    def _switch(self, stretching: bool) -> None:
        if stretching and self.stretcher is not None:
            self.stretcher.jump(self.settings.tempo, self.settings.pitch)
            self.stretcher.reset()
        self._stretching = stretching
        self._idle = 0

    def _path(self, out: np.ndarray, n: int) -> None:
        if self._stretching:
            self._stretch_block(out, n)
        else:
            self._pull(out, n)

    def _stretch_block(self, out: np.ndarray, n: int) -> None:
        """``n`` output samples pulled from the stretcher, fed from the mixer on demand."""
        st = self.stretcher
        assert st is not None
        settings = self.settings
        st.set(settings.tempo, settings.pitch)
        if self._idle >= STRETCH_IDLE:  # paused for a while: the stretcher holds silence
            pre = self._pre[:n]
            self._pull(pre, n)  # seeks and play requests still apply
            if not self.playing and self._ci_pos < 0:
                out.fill(0.0)
                return
            st.feed(pre)
            self._idle = 0
        got = st.take_into(out)
        rounds = 0
        while got < n:
            rounds += 1
            if rounds > 256:  # never spin in the callback: the stretcher gave nothing back
                out[got:n] = 0.0
                self.errors += 1
                break
            k = st.wanted()
            pre = self._pre[:k]
            self._pull(pre, k)
            if self.playing or self._ci_pos >= 0:
                self._idle = 0
            else:
                self._idle += k
            st.feed(pre)
            got += st.take_into(out[got:n])
        np.clip(out, -1.0, 1.0, out=out)

    # ------------------------------------------------------------------ count-in
    def _pull(self, out: np.ndarray, n: int) -> None:
        """``n`` samples of song (or count-in clicks) in song time, before tempo and pitch."""
        done = 0
        while done < n:
            done += self._pull_some(out[done:n], n - done)

    def _to_wrap(self) -> int | None:
        """Samples from the playhead to the next loop wrap of the timeline, None if none."""
        owner = self.timeline_owner
        tl = getattr(owner, "timeline", None) if owner is not None else None
        if tl is None or tl.generation != self._generation:
            return None
        pos = self._position
        t, run = tl.run_at(pos)
        if run <= 0 or tl.track_at(pos + run) == t + run:
            return None
        return int(run)

    def _pull_some(self, out: np.ndarray, n: int) -> int:
        clicks = self.count_in
        if self._ci_pos >= 0:
            if (clicks is None or not self.play_request
                    or self.seek_request[0] != self._generation):
                self._ci_pos = -1  # paused, seeking or switched off: the count-in stops
                self.counting_in = False
            else:
                k = min(n, clicks.shape[0] - self._ci_pos)
                np.multiply(clicks[self._ci_pos : self._ci_pos + k],
                            self.settings.master_gain, out=out[:k])
                self._ci_pos += k
                if self._ci_pos >= clicks.shape[0]:
                    self._ci_pos = -1
                    self.counting_in = False
                    self._ci_fade = self._ci_len
                return k
        k = n
        wrap = False
        if clicks is not None and self._run_gain > 0.0 and self.play_request:
            w = self._to_wrap()
            if w is not None and w <= n:
                k, wrap = w, True
        before = self._position
        self._block(out[:k], k)
        if self._ci_fade > 0:  # the loop restarts after a count-in: fade in
            j = min(k, self._ci_fade)
            r = self._r1[:j]
            np.add(self._count1[:j], self._ci_len - self._ci_fade, out=r)
            r *= 1.0 / self._ci_len
            out[:j, 0] *= r
            out[:j, 1] *= r
            self._ci_fade -= j
        if wrap and self._position == before + k:  # played up to the wrap: fade out, count
            j = min(k, self._ci_len)
            r = self._r1[:j]
            self._ramp1(r, j / self._ci_len, 0.0)
            out[k - j : k, 0] *= r
            out[k - j : k, 1] *= r
            self._ci_pos = 0
            self.counting_in = True
        return k

    # ------------------------------------------------------------------ internals
    def _ramp_into(self, out: np.ndarray, start: float, stop: float) -> None:
        """Allocation-free ``linear_ramp`` into ``out`` (n, channels)."""
        n = out.shape[0]
        np.multiply(self._count[:n], (stop - start) / n, out=out)
        out += start

    def _ramp1(self, out: np.ndarray, start: float, stop: float) -> None:
        """Allocation-free ``linear_ramp`` into ``out`` (n,)."""
        n = out.shape[0]
        np.multiply(self._count1[:n], (stop - start) / n, out=out)
        out += start

    def _fade_into(self, out: np.ndarray, offset: int) -> None:
        """Allocation-free ``crossfade_weights`` into ``out`` (n, channels)."""
        n = out.shape[0]
        np.add(self._count[:n], offset, out=out)
        out *= 1.0 / self.fade_len
        np.clip(out, 0.0, 1.0, out=out)

    def _update_targets(self, settings: MixSettings, sources: Mapping[str, Source]) -> None:
        for src in STEM_SOURCES:
            source = sources.get(src)
            if source is None:
                continue
            tgt = self._targets[src]
            ptgt = self._pan_targets[src]
            pans = settings.pan
            for k, name in enumerate(source.stems):
                tgt[k] = settings.gain(name)
                ptgt[k] = pans.get(name, 0.0) if pans else 0.0
            if self._gains_valid[src] != source.stems:  # a new model: start at the target
                self._gains[src][:] = tgt
                self._pans[src][:] = ptgt
                self._gains_valid[src] = source.stems

    def _ready(self, src: str, sources: Mapping[str, Source], m: int) -> bool:
        if src == "mix":
            return True
        source = sources.get(src)
        return source is not None and source.ring.available(self._generation, self._position) >= m

    def _render(
        self, src: str, sources: Mapping[str, Source], dst: np.ndarray, m: int, meter: bool
    ) -> None:
        """Write source ``src`` for the next ``m`` samples into ``dst`` (m, channels)."""
        if src == "mix":
            dst[:] = self._mixbuf[0, :m]
            if meter:
                self.levels *= self._decay(m)
            return
        source = sources[src]
        count = len(source.stems)
        stems = self._stembuf[:count, :m]
        if source.ring.read_into(stems, self._generation, self._position) < m:
            dst[:] = self._mixbuf[0, :m]  # raced with a seek: the plain mix is always right
            return
        cur = self._gains[src]
        tgt = self._targets[src]
        tmp = self._tmp[:m]
        ramp = self._ramp[:m]
        dst.fill(0.0)
        decay = self._decay(m)
        pcur = self._pans[src]
        ptgt = self._pan_targets[src]
        for k in range(count):
            g0 = float(cur[k])
            g1 = float(tgt[k])
            p0 = float(pcur[k])
            p1 = float(ptgt[k])
            if p0 != 0.0 or p1 != 0.0:
                if g0 == 0.0 and g1 == 0.0:
                    if meter:
                        self.levels[k] *= decay
                    continue
                self._pan_into(tmp, stems[k], g0, g1, p0, p1)
            elif g0 == g1:
                if g1 == 0.0:
                    if meter:
                        self.levels[k] *= decay
                    continue
                np.multiply(stems[k], g1, out=tmp)
            else:
                self._ramp_into(ramp, g0, g1)
                np.multiply(stems[k], ramp, out=tmp)
            dst += tmp
            if meter:
                self._meter(self.levels[k], tmp, m, decay)

    def _pan_into(self, dst: np.ndarray, x: np.ndarray, g0: float, g1: float, p0: float,
                  p1: float) -> None:
        """``dst`` (m, 2) = stem ``x`` (m, 2) through the pan matrix and gain, both ramped from
        (g0, p0) to (g1, p1) across the block. Allocation-free."""
        m = x.shape[0]
        a0 = pan_matrix(p0)
        a1 = pan_matrix(p1)
        left = x[:, 0]
        right = x[:, 1]
        for ch in range(2):
            o = dst[:, ch]
            for j, src in enumerate((left, right)):
                c0 = g0 * a0[2 * ch + j]
                c1 = g1 * a1[2 * ch + j]
                v = o if j == 0 else self._v1[:m]
                if c0 == c1:
                    np.multiply(src, c1, out=v)
                else:
                    r = self._r2[:m]
                    self._ramp1(r, c0, c1)
                    np.multiply(src, r, out=v)
            o += self._v1[:m]

    def _decay(self, m: int) -> float:
        return math.exp(-m / (METER_PEAK_DECAY_S * self.sample_rate))

    def _meter(self, level: np.ndarray, x: np.ndarray, m: int, decay: float) -> None:
        peak = float(np.max(np.abs(x, out=self._abs[:m])))
        ms = float(np.vdot(x, x)) / x.size
        a = math.exp(-m / (METER_RMS_S * self.sample_rate))
        level[0] = max(peak, level[0] * decay)
        level[1] = math.sqrt(a * level[1] * level[1] + (1.0 - a) * ms)

    def _guard(self, x: np.ndarray, m: int) -> None:
        """What leaves for the device is finite and within full scale: NaN/Inf → 0 (counted),
        the rest clamped to [-1, 1] (where the device would clip anyway). Allocation-free."""
        if not math.isfinite(float(np.add.reduce(x, axis=None))):
            bad = self._bad[:m]
            np.isfinite(x, out=bad)
            np.logical_not(bad, out=bad)
            if bad.any():
                np.copyto(x, 0.0, where=bad)
                self.non_finite += 1
        np.clip(x, -1.0, 1.0, out=x)

    def _block(self, out: np.ndarray, n: int) -> None:
        settings = self.settings
        sources = self.sources
        mix_ring = self.mix_ring
        seek_gen, seek_pos = self.seek_request
        seeking = seek_gen != self._generation
        want = self.play_request and not seeking
        if mix_ring is None or (self._run_gain == 0.0 and not want):
            self._run_gain = 0.0
            if seeking:  # nothing to fade: jump now
                self._jump(seek_gen, seek_pos)
            out.fill(0.0)
            self.playing = False
            self.levels *= self._decay(n)
            self.master_level *= self._decay(n)
            return
        gen, pos = self._generation, self._position
        m = mix_ring.read_into(self._mixbuf[:, :n], gen, pos)
        if m < n:
            if mix_ring.at_eof(gen, pos + m):
                if m == 0:
                    self.finished = True
            elif self._started and not seeking:  # a seek emptied the rings: not a dropout
                self.underruns += 1
        if m == 0:  # nothing to play: waiting for the first samples, an underrun or the end
            out.fill(0.0)
            self.playing = False
            # Silent already, so a pending seek applies at the next block, and sound that
            # comes back (after an underrun) fades in instead of clicking.
            self._run_gain = 0.0
            return
        self._started = True
        self.playing = True
        self.finished = False

        # What should be heard: the selected stems when they cover the block, else the mix.
        self._update_targets(settings, sources)
        wanted = settings.source
        if wanted != self._wanted:  # another source chosen: it is not late (yet)
            self._wanted = wanted
            self.behind = False
        src = wanted if self._ready(wanted, sources, m) else "mix"
        if src != self.heard:
            if self.heard == wanted and src == "mix":
                self.late += 1  # the separation fell behind the playhead: the mix takes over
                self.behind = True
            elif src == wanted:
                self.behind = False
            self._prev = self.heard if self._started and self._run_gain > 0.0 else None
            self.heard = src
            self._fade_pos = 0
        new = self._new[:m]
        self._render(src, sources, new, m, meter=True)
        if self._prev is not None:
            old = self._old[:m]
            prev = self._prev if self._ready(self._prev, sources, m) else "mix"
            self._render(prev, sources, old, m, meter=False)
            w = self._ramp2[:m]
            self._fade_into(w, self._fade_pos)
            new *= w
            np.subtract(1.0, w, out=w)
            old *= w
            new += old
            self._fade_pos += m
            if self._fade_pos >= self.fade_len:
                self._prev = None
        for s in STEM_SOURCES:  # every source's faders moved, heard or not
            if s in sources:
                self._gains[s][:] = self._targets[s]
                self._pans[s][:] = self._pan_targets[s]

        # Master gain and transport fade, one combined ramp.
        master = settings.master_gain
        run = 1.0 if want else 0.0
        if master != self._master or run != self._run_gain:
            ramp = self._ramp[:m]
            self._ramp_into(ramp, self._master, master)
            if run != self._run_gain:
                self._ramp_into(self._ramp2[:m], self._run_gain, run)
                ramp *= self._ramp2[:m]
            new *= ramp
        elif master != 1.0:
            new *= master
        self._master = master
        self._run_gain = run
        self._guard(new, m)
        out[:m] = new
        if m < n:
            out[m:] = 0.0
        self._meter(self.master_level, new, m, self._decay(m))
        self._position = pos + m
        self.playhead = (gen, self._position)
        mix_ring.publish_read(gen, self._position)
        for source in sources.values():
            source.ring.publish_read(gen, self._position)
        if seeking:  # this block faded the old position out: jump at its end, so the worker
            # (which waits for the playhead to leave the old generation before it empties
            # the rings) starts on the new position one block sooner
            self._jump(seek_gen, seek_pos)

    def _jump(self, generation: int, position: int) -> None:
        """Go to a requested seek position (silent now: faded out or nothing playing)."""
        self._generation, self._position = generation, position
        self._started = False
        self._prev = None
        self.heard = "mix"
        self.behind = False  # stems missing right after a seek are not "late"
        self.finished = False
        self.playhead = (generation, position)
