"""scripts/summarize_train_log.py: a training metric's mean per epoch and over seeds, on logs whose
answer is known, and one-line errors for bad input."""

import json

import pytest

import backbone_helpers

summarize = backbone_helpers.load_script("summarize_train_log")


def _write_log(path, records):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_epoch_means_put_an_epochs_last_step_in_that_epoch(tmp_path):
  # 4 steps an epoch, logged after steps 2, 4 (epoch 1's last: train/epoch = 1.0), 6, 8.
  records = [{"step": s, "train/epoch": s / 4, "train/x": v}
             for s, v in ((2, 0.2), (4, 0.4), (6, 0.6), (8, 1.0))]
  records.insert(1, {"step": 3, "other/y": 5.0})  # a record without the metric is skipped
  _write_log(tmp_path / "metrics.jsonl", records)
  means = summarize.epoch_means(str(tmp_path / "metrics.jsonl"), "train/x")
  assert means == pytest.approx({"1": 0.3, "2": 0.8, "all": 0.55})


def test_table_over_seeds(tmp_path, capsys):
  for seed, value in ((0, 0.5), (1, 0.7)):
    _write_log(tmp_path / "v" / f"seed{seed}" / "metrics.jsonl",
               [{"step": 1, "train/epoch": 0.5, "train/x": value}])
  out = tmp_path / "out.json"
  summarize.main(["--metric", "train/x", "--runs", f"v={tmp_path / 'v'}", "--out", str(out)])
  table = capsys.readouterr().out
  assert "v       |     1 | 50.0 / 70.0 | 60.0 | 14.1" in table, table
  assert json.loads(out.read_text())["v"]["seed1"] == {"1": 0.7, "all": 0.7}


def test_bad_input_is_one_line_naming_what(tmp_path):
  _write_log(tmp_path / "v" / "seed0" / "metrics.jsonl", [{"step": 1, "train/epoch": 1.0}])
  with pytest.raises(ValueError, match=r"metrics\.jsonl: no record has 'train/x'"):
    summarize.main(["--metric", "train/x", "--runs", f"v={tmp_path / 'v'}"])
  with pytest.raises(ValueError, match=r"--runs 'v': expected NAME=DIR"):
    summarize.main(["--metric", "train/x", "--runs", "v"])
  with pytest.raises(ValueError, match=r"has no seed\*/metrics\.jsonl"):
    summarize.main(["--metric", "train/x", "--runs", f"w={tmp_path / 'none'}"])
  (tmp_path / "v" / "seed0" / "metrics.jsonl").write_text("{not json\n")
  with pytest.raises(ValueError, match=r"metrics\.jsonl:1: not a JSON record"):
    summarize.main(["--metric", "train/x", "--runs", f"v={tmp_path / 'v'}"])
