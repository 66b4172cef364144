"""Training data: MUSDB18-HQ-style datasets and augmentations (``musdb``, ``augment``), real
recordings and the training mix (``real``, ``mix``, ``splits``). Import submodules directly."""
