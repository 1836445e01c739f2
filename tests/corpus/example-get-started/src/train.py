"""Stand-in for train.py: the "model" records the train params."""

import sys
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["train"]
Path(sys.argv[2]).write_text(f"{params['n_est']} {params['min_split']} {params['seed']}\n")
