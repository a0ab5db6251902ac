"""How work runs: the execution path (device, precision, layout), processes under torchrun, progress bars."""
