"""Rule-based document filters: URL safety (before extraction) and Gopher quality rules."""
