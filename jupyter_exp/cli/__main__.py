"""``python -m jupyter_exp.cli``: the console script without the installed wrapper."""

from jupyter_exp.cli import run

run()
