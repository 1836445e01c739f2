"""Stand-in for the style transfer: final_owl.png and gpu_info.txt from the params."""

from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())
Path("final_owl.png").write_text(f"{params['iter']} {params['content_weight']}\n")
Path("gpu_info.txt").write_text("no GPU (stand-in)\n")
