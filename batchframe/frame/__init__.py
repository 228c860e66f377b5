"""The DataFrame layer: encode rows to request bytes, chunk, submit, follow, decode results."""
