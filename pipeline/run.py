"""Ray job entry point:
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python pipeline/run.py --config configs/demo.yaml --output out/demo
Without a cluster, it starts a local Ray itself."""
import os
import sys

# Run as a script, sys.path[0] is pipeline/, whose modules and rooms would pass for top-level
# ones (and could shadow the standard library's): replace it with the repository root.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
sys.path.insert(0, os.path.dirname(_here))

from pipeline.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
