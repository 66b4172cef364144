"""Training data: MUSDB-style songs (``multitrack``), the generated ones as a dataset
(``synthetic``), banks of real recordings (``banks``, ``audiofiles``, the real-music bank
``realmusic*``), augmentations, levels and produced voices (``augment``, ``levels``,
``voices``) and the training mix (``mixconfig``, ``mix``, ``splits``). Import submodules
directly."""
