"""Synthetic multitrack song generator (``python -m training synth``) and its listening check
(``python -m training preview``). ``song.generate(seed, seconds, split)`` makes one song; the
CLI writes MUSDB18-HQ-style folders plus ``manifest.json``."""
