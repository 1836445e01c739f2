"""Stand-in for example-get-started's prepare.py: splits data/data.xml by params."""

import os
import sys
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["prepare"]
text = Path(sys.argv[1]).read_text()
os.makedirs("data/prepared", exist_ok=True)
Path("data/prepared/train.tsv").write_text(f"{text}\t{params['split']}\t{params['seed']}\n")
Path("data/prepared/test.tsv").write_text(f"{text}\t{1 - params['split']:.2f}\n")
