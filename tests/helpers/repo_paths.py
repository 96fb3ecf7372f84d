"""Where things are, for tests at any depth under tests/: the repository, its configs/, and this
helpers folder (subprocesses that import a helper put it on ``sys.path``)."""

import pathlib

HELPERS_DIR = pathlib.Path(__file__).resolve().parent
REPO = HELPERS_DIR.parents[1]
CONFIGS_DIR = REPO / "configs"
