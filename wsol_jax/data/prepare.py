r"""Build a dataset into array_record files: ``python -m wsol_jax.data.prepare``.

  python -m wsol_jax.data.prepare --dataset=cub --data_dir=~/tensorflow_datasets \
      --manual_dir=~/downloads/cub [--builder_config=with_masks] [--summary=cub.json]

Prints the splits, their sizes and the class count, and writes them to ``--summary`` as
``{"dataset": ..., "config": ..., "data_dir": ..., "splits": {"train": N, ...},
"num_classes": C, "skipped": [...]}``. Without ``--manual_dir`` a real dataset is downloaded
(needs internet); ``synthetic_wsol`` is rendered offline.
"""

from __future__ import annotations

import os
import sys

from absl import app
from absl import flags

from wsol_jax import io_utils
from wsol_jax.data import registry

_DATASET = flags.DEFINE_enum("dataset", "synthetic_wsol", registry.DATASETS.names(),
                             "Dataset to build.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "TFDS data dir ('' = $TFDS_DATA_DIR or "
                                "~/tensorflow_datasets).")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", "", "Folder holding the source archives / "
                                  "folders (otherwise they are downloaded).")
_CONFIG = flags.DEFINE_string("builder_config", "", "Builder config ('' = default; cub: "
                              "'with_masks').")
_SKIP = flags.DEFINE_bool("skip_bad_examples", False, "Count and skip undecodable images and "
                          "degenerate boxes instead of stopping at the first.")
_SUMMARY = flags.DEFINE_string("summary", "", "Write the summary JSON here.")


def prepare_dataset(name: str, data_dir: str = "", manual_dir: str = "", builder_config: str = "",
                    skip_bad_examples: bool = False) -> dict:
  """Build ``name`` (if not built yet) and return its summary dict."""
  cfg = {"name": name, "data_dir": data_dir, "builder_config": builder_config,
         "skip_bad_examples": skip_bad_examples}
  builder = registry.make_builder(cfg)
  registry.prepare(builder, manual_dir or None)
  skipped = builder.skipped_examples  # Only filled if this call built it.
  builder = registry.make_builder(cfg)  # Re-read what was written.
  return {
      "dataset": name,
      "config": builder.builder_config.name if builder.builder_config else "",
      "data_dir": os.fspath(builder.data_dir),
      "splits": {k: int(v.num_examples) for k, v in builder.info.splits.items()},
      "num_classes": int(builder.info.features["label"].num_classes),
      "skipped": skipped or list(builder.info.metadata.get("skipped", [])),
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    summary = prepare_dataset(_DATASET.value, _DATA_DIR.value, _MANUAL_DIR.value, _CONFIG.value,
                              _SKIP.value)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except OSError as e:  # requests' errors are OSErrors: a failed download.
    files = getattr(registry.builder_class(_DATASET.value), "MANUAL_FILES", "the source files")
    reason = str(e).splitlines()[0][:200]
    print(f"error: download failed ({type(e).__name__}: {reason}); offline, put {files} in a "
          "folder and pass --manual_dir", file=sys.stderr)
    return 1
  print(f"{summary['dataset']}/{summary['config']} in {summary['data_dir']}")
  for split, n in summary["splits"].items():
    print(f"  {split:<12s} {n:>9,d} examples")
  print(f"  classes      {summary['num_classes']:>9,d}")
  if summary["skipped"]:
    print(f"  skipped      {len(summary['skipped']):>9,d} bad examples (see the summary / log)")
  if _SUMMARY.value:
    io_utils.atomic_write_json(_SUMMARY.value, summary)
    print(f"summary -> {_SUMMARY.value}")
  return 0


if __name__ == "__main__":
  app.run(main)
