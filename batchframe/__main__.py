"""``python -m batchframe ...`` runs the same command as ``batchframe ...``."""

from batchframe.cli import main

if __name__ == "__main__":
    main(prog_name="batchframe")
