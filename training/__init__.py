"""stemplay training package: synthetic songs, datasets, PyTorch models, training, evaluation,
ONNX export. Uses the engine for the STFT convention and for scoring through the real separator."""
