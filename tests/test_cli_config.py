"""``--config`` on the command line (wsol_jax.cli_config): a workdir's saved config.json stands in
for a missing ``--config``; an exported file is its own; a new workdir is a one-line error."""

import pytest

from wsol_jax import cli_config


def test_flag_value_reads_both_forms_and_the_last_wins():
  argv = ["main", "--workdir", "a", "--config.train.lr=0.1", "--workdir=b", "--mode=eval"]
  assert cli_config.flag_value(argv, "workdir") == "b"
  assert cli_config.flag_value(argv, "mode") == "eval"
  assert cli_config.flag_value(argv, "config") is None  # an override is not --config


def test_a_workdir_gives_its_config_json(tmp_path):
  (tmp_path / "config.json").write_text("{}")
  argv = ["main", f"--workdir={tmp_path}", "--mode=eval", "--config.eval.batch_size=8"]
  assert cli_config.with_saved_config(argv) == [
      "main", f"--config={tmp_path / 'config.json'}", *argv[1:]]
  given = ["main", "--config=configs/synthetic_cam.py", f"--workdir={tmp_path}"]
  assert cli_config.with_saved_config(given) == given


def test_an_exported_file_is_its_own_config(tmp_path):
  exported = tmp_path / "model.wsol"
  exported.write_bytes(b"")
  argv = ["main", f"--workdir={exported}", "--mode=predict"]
  assert cli_config.with_saved_config(argv)[1] == f"--config={exported}"


@pytest.mark.parametrize("mode, needle", [("train", "a new run needs --config=configs/NAME.py"),
                                          ("dryrun", "a new run needs --config=configs/NAME.py"),
                                          ("eval", "the config --workdir=")])
def test_a_workdir_without_config_json_is_one_line_error(tmp_path, mode, needle):
  with pytest.raises(cli_config.MissingConfigError) as info:
    cli_config.with_saved_config(["main", f"--workdir={tmp_path / 'new'}", f"--mode={mode}"])
  message = str(info.value)
  assert needle in message and str(tmp_path / "new" / "config.json") in message
  assert "\n" not in message
