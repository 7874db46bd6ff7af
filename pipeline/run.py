"""Ray job entry point:
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python pipeline/run.py --config configs/demo.yaml --output out/demo
Without a cluster, it starts a local Ray itself."""
import os
import sys

# Run as a script (`python pipeline/run.py`), sys.path[0] is pipeline/: put the repository root first.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipeline.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
