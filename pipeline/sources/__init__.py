"""Where documents come from: the source stages and the input files they read."""
