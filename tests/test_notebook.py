"""notebooks/colab_quickstart.ipynb runs end to end on CPU (nbclient), on tiny settings.

The notebook's parameters cell reads ``WSOL_NB_*`` environment variables: here no install (this
checkout), SLT-Net on a tiny synthetic_wsol with a tiny network, no pretrained weights and a few
steps -- the same cells a Colab user runs, so the notebook cannot rot.
"""

from __future__ import annotations

import json
import pathlib
import shlex

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (test extra)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (test extra)")
pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (test extra)")

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "colab_quickstart.ipynb"
TINY = {
    "data.synthetic.image_size": 32, "data.synthetic.num_train": 48, "data.synthetic.num_test": 16,
    "data.synthetic.num_groups": 2, "data.synthetic.classes_per_group": 2,
    "data.image_size": 32, "data.resize_size": 36, "data.worker_count": 0,
    "model.backbone_kwargs.widths": "(4,8)", "model.head_channels": 8,
    "train.batch_size": 16, "train.num_steps": 2, "train.log_every_steps": 1,
    "train.progress_bar": False, "eval.batch_size": 16, "eval.cam_curve_interval": 0.1,
    "slt.smt_k": 2, "slt.canvas_multiple": 2, "slt.regressor.hidden_units": 8,
    "slt.stage_train.classifier.num_steps": 2, "eval.figure_images": 2,
}


def test_quickstart_notebook_runs_on_cpu(tmp_path, monkeypatch):
  overrides = " ".join(shlex.quote(f"--config.{k}={v}") for k, v in TINY.items())
  env = {"INSTALL": "0", "REPO_DIR": str(REPO), "CONFIG": "configs/synthetic_slt.py",
         "DATASET": "synthetic_wsol", "DATA_DIR": str(tmp_path / "tfds"), "PRETRAINED": "",
         "WORKDIR": str(tmp_path / "run"), "OVERRIDES": overrides, "MAX_FIGURES": "2"}
  for key, value in env.items():
    monkeypatch.setenv(f"WSOL_NB_{key}", value)
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("XLA_FLAGS", "")  # the training subprocesses use the one CPU device
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                   resources={"metadata": {"path": str(tmp_path)}})
  client.execute()

  results = json.loads((tmp_path / "run" / "results.json").read_text())
  assert results, "the evaluation wrote no results"
  outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                    for o in cell.get("outputs", []))
  assert "runtime: cpu" in outputs
  assert "synthetic_wsol: built on first use" in outputs
  assert "no pretrained weights" in outputs
  assert "figures in" in outputs
  images = [o for cell in notebook.cells for o in cell.get("outputs", [])
            if "image/png" in o.get("data", {})]
  assert images, "no figure was shown"
  predicted = (tmp_path / "run" / "predict" / "predictions.jsonl").read_text().splitlines()
  assert len(predicted) == 4 and all("box_xyxy" in json.loads(l) for l in predicted)
  assert len(list((tmp_path / "run" / "predict" / "overlays").glob("*.png"))) == 4
