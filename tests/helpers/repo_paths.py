"""Where things are, for tests at any depth under tests/: the repository, its configs/, this
helpers folder (subprocesses that import a helper put it on ``sys.path``) and ../shared (the
project's read-only real data and weights, beside the repository in the development setup)."""

import pathlib

HELPERS_DIR = pathlib.Path(__file__).resolve().parent
REPO = HELPERS_DIR.parents[1]
CONFIGS_DIR = REPO / "configs"
SHARED_DIR = REPO.parent / "shared"
