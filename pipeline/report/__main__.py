"""`python -m pipeline.report OUTPUT_DIR` rewrites a finished run's report.html (build.py)."""
import sys

from pipeline.report.build import main

sys.exit(main())
