"""``block_hook``: every backbone calls it once per named block, in order, with that block's output
and the train flag; what it returns flows on; parameter-free modules it makes add no parameters."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from wsol_jax.models import heads, inception, mobilenet, resnet, vgg

SEEN = []


@dataclasses.dataclass(frozen=True)
class Recorder:
  """Records (name, shape, train) of each block it sees; zeroes the block named ``zero``."""
  zero: str = ""

  def __call__(self, name, x, train):
    SEEN.append((name, x.shape, train))
    return jnp.zeros_like(x) if name == self.zero else x


class Scale(nn.Module):
  """A parameter-free module made by the hook (as ADL is)."""

  @nn.compact
  def __call__(self, x):
    return x * 2.0


@dataclasses.dataclass(frozen=True)
class MakesModule:
  name: str

  def __call__(self, name, x, train):
    return Scale(name=f"scale_{name}")(x) if name == self.name else x


CASES = [("vgg16", {}, 64, vgg.BLOCK_NAMES[:-1]),  # pool5 is dropped for the feature map
         ("resnet50", {}, 64, resnet.BLOCK_NAMES),
         ("inception_v3", {}, 139, inception.BLOCK_NAMES[:8]),  # 'features' stops at Mixed_6e
         ("mobilenet_v1_075", {"last_stride": 1}, 64, mobilenet.BLOCK_NAMES),
         ("small_vgg", {"widths": (4, 8), "convs_per_stage": 1}, 16, ("conv1_1", "conv2_1"))]


@pytest.mark.parametrize("name,kwargs,size,expected", CASES, ids=[c[0] for c in CASES])
def test_hook_sees_every_named_block_in_order(name, kwargs, size, expected):
  images = jnp.ones((1, size, size, 3)) * 0.5
  plain = heads.make_backbone(name, kwargs)
  variables = jax.eval_shape(lambda: plain.init(jax.random.key(0), images, train=False))
  hooked = heads.make_backbone(name, dict(kwargs, block_hook=Recorder(zero=expected[-1])))
  SEEN.clear()
  out = jax.eval_shape(lambda v: hooked.apply(v, images, train=True, mutable=["batch_stats"]),
                       variables)
  assert [n for n, _, _ in SEEN] == list(expected)
  assert all(train is True for _, _, train in SEEN)
  assert SEEN[-1][1] == out[0].shape  # the last block's output is the feature map


def test_hook_output_flows_on_and_its_modules_add_no_parameters():
  kwargs = {"widths": (4, 8), "convs_per_stage": 1}
  images = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))
  plain = heads.make_backbone("small_vgg", kwargs)
  variables = plain.init(jax.random.key(0), images, train=False)
  zeroed = heads.make_backbone("small_vgg", dict(kwargs, block_hook=Recorder(zero="conv2_1")))
  assert float(jnp.abs(zeroed.apply(variables, images, train=False)).max()) == 0.0
  doubled = heads.make_backbone("small_vgg", dict(kwargs, block_hook=MakesModule("conv2_1")))
  assert (jax.tree.structure(doubled.init(jax.random.key(0), images, train=False))
          == jax.tree.structure(variables))
  assert jnp.allclose(doubled.apply(variables, images, train=False),
                      2.0 * plain.apply(variables, images, train=False))
