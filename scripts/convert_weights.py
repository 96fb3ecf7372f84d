"""Convert ImageNet weights once, for machines that lack torch or the network.

    # torchvision / timm .pth -> .safetensors (same keys; loads later without torch)
    python scripts/convert_weights.py --arch vgg16 --weights vgg16-397923af.pth \
        --out vgg16.safetensors
    # any supported file or name -> this package's Flax layout (.msgpack)
    python scripts/convert_weights.py --arch mobilenet_v1_075 \
        --weights ../shared/weights/mobilenet_7_5_224_tf.h5 --out mobilenet_075.msgpack

Either output is a valid ``model.pretrained``. Before writing, the weights are loaded into the full
backbone (ImageNet head included) to check that every tensor is there with the right shape; the
output is written to a temporary file and renamed, so an interrupted run leaves no partial file.
"""

from __future__ import annotations

import pathlib

import flax
import jax
import jax.numpy as jnp
import numpy as np
import script_lib

from wsol_jax import io_utils
from wsol_jax.models import get_backbone, pretrained, weight_sources


def verify(weights: str, arch: str) -> str:
  """Load ``weights`` into the full ``arch`` classifier; returns the load summary."""
  model = get_backbone(arch, output="logits")
  if pretrained.family_of(model)[0] == "mobilenet_v1":
    width = pretrained.read_converted(weight_sources.resolve(weights), "mobilenet_v1")[
        ("params", "conv1", "kernel")].shape[-1] / 32
    model = model.clone(width=width)
  shapes = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False),
                          jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32))
  _, report = pretrained.load_into(shapes, weights, model, paths=[()])
  return report.summary()


def convert(weights: str, arch: str, out: pathlib.Path) -> None:
  family, _ = pretrained.family_of(arch)
  source = pretrained.default_source(arch) if weights == "imagenet" else weights
  print(verify(source, arch))
  path = weight_sources.resolve(source)
  if out.suffix == ".safetensors":
    if path.suffix.lower() == ".h5":
      raise ValueError(f"{path} is a Keras file: convert it to .msgpack instead")
    from safetensors.numpy import save  # pylint: disable=import-outside-toplevel
    state = {k: np.ascontiguousarray(v) for k, v in pretrained.read_state_dict(path).items()}
    data = save(state)
  elif out.suffix == ".msgpack":
    tree = flax.traverse_util.unflatten_dict(pretrained.read_converted(path, family))
    data = flax.serialization.msgpack_serialize(tree)
  else:
    raise ValueError(f"--out must end in .safetensors or .msgpack, got {out.name!r}")
  io_utils.atomic_write(out, lambda f: f.write(data), "wb")
  print(f"wrote {out}")


def main(argv=None) -> None:
  parser = script_lib.parser(__doc__)
  parser.add_argument("--arch", required=True, help="backbone name, e.g. vgg16, mobilenet_v1_075")
  parser.add_argument("--weights", required=True,
                      help="a file, a name such as torchvision:vgg16, or 'imagenet'")
  parser.add_argument("--out", required=True, type=pathlib.Path,
                      help="FILE.safetensors or FILE.msgpack")
  args = parser.parse_args(argv)
  convert(args.weights, args.arch, args.out)


if __name__ == "__main__":
  main()
