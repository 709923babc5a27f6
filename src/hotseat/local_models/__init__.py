"""Local GGUF models beyond the embedded one: the catalogue, ``hotseat models pull``, and selection."""
