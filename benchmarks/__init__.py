"""`make bench`: speed and memory figures, each a ratio against a named reference run in the same process."""
