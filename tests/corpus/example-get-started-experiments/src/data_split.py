"""Stand-in for data_split.py: the pool images split by params into train and test folders."""

import os
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())
names = sorted(os.listdir("data/pool_data"))
for folder in ("data/train_data", "data/test_data"):
    os.makedirs(folder, exist_ok=True)
Path("data/train_data/images.txt").write_text(f"{names[:-1]} {params['base']['random_seed']}\n")
Path("data/test_data/images.txt").write_text(f"{names[-1:]} {params['data_split']['test_pct']}\n")
