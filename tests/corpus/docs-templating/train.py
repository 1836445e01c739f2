"""Stand-in for the docs' train.py: model-<key>.hdf5 records the threshold."""

import sys
from pathlib import Path

key, _flag, thresh = sys.argv[1:4]
Path(f"model-{key}.hdf5").write_text(f"{key} {thresh}\n")
