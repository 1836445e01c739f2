"""Stand-in for featurization.py: one line per split, from the featurize params."""

import os
import sys
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["featurize"]
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for split in ("train", "test"):
    rows = Path(os.path.join(src, f"{split}.tsv")).read_text()
    Path(os.path.join(out, f"{split}.pkl")).write_text(f"{rows}{params['max_features']} {params['ngrams']}\n")
