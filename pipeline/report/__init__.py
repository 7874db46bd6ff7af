"""OUTPUT/report.html: a finished run in one self-contained page (build.py)."""
