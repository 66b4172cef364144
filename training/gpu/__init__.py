"""GPU training: a pack of training audio, a bank/mixer on the device, the runner."""
