"""Check imported ImageNet weights by classifying the val photos of a Tiny-ImageNet zip.

    python scripts/check_pretrained.py --arch mobilenet_v1_075 \
        --weights ../shared/weights/mobilenet_7_5_224_tf.h5 \
        --tiny_imagenet ../shared/data/tiny-imagenet-200-sub20.zip \
        --synsets ../shared/data/imagenet_synsets.txt [--out check.json] [--limit N]

Each 64x64 val photo is resized bilinearly to the model's input (299 for InceptionV3, else 224),
scaled as the backbone's weights expect, and classified by the full ImageNet-1k head; Tiny-ImageNet
wnids map to ImageNet class indices through the synsets file (line i = class i). Prints top-1 and
top-5 accuracy over all 1,000 classes (chance: 0.1% / 0.5%); ``--out`` writes them as JSON.
A wrong layout import (transposed kernels, wrong padding or scaling) scores near chance.
"""

from __future__ import annotations

import pathlib
import sys
import time
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from PIL import Image
import script_lib

from wsol_jax import io_utils
from wsol_jax import runtime
from wsol_jax.data import decode
from wsol_jax.models import get_backbone, pretrained

_INPUT_SIZE = {"inception_v3": 299}
# The classifier form of each family: ResNet50's ImageNet head needs stride 2 in layer4.
_CLASSIFIER_KWARGS = {"resnet50": {"stage_strides": (1, 2, 2, 2)}}


def read_synsets(path: pathlib.Path) -> dict[str, int]:
  """``wnid name`` per line -> {wnid: line index}."""
  wnids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
  return {w: i for i, w in enumerate(wnids)}


def read_tiny_val(zip_path: pathlib.Path, synsets: dict[str, int], limit: int = 0
                  ) -> tuple[list[str], list[np.ndarray], np.ndarray]:
  """The zip's val photos (sorted by file name, the first ``limit`` if > 0) and ImageNet labels."""
  with zipfile.ZipFile(zip_path) as zf:
    ann_name = next((n for n in zf.namelist() if n.endswith("val/val_annotations.txt")), None)
    if ann_name is None:
      raise ValueError(f"{zip_path} has no val/val_annotations.txt (not a Tiny-ImageNet zip)")
    root = ann_name[:-len("val_annotations.txt")]
    rows = sorted(line.split("\t")[:2] for line in zf.read(ann_name).decode().splitlines()
                  if line.strip())
    if limit > 0:
      rows = rows[:limit]
    unknown = sorted({w for _, w in rows if w not in synsets})
    if unknown:
      raise ValueError(f"wnids not in the synsets file: {', '.join(unknown[:5])}")
    names, images = [], []
    for file_name, _ in rows:
      member = f"{root}images/{file_name}"
      rgb, _ = decode.load_rgb_image(zf.read(member), name=f"{zip_path}:{member}")
      names.append(file_name)
      images.append(rgb)
  return names, images, np.asarray([synsets[w] for _, w in rows], np.int32)


def resize_bilinear(images: list[np.ndarray], size: int) -> np.ndarray:
  """uint8 RGB images -> uint8 [N, size, size, 3] (Pillow bilinear)."""
  return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
                   for im in images])


def classify(arch: str, weights: str, images_uint8: np.ndarray, batch_size: int = 50
             ) -> np.ndarray:
  """[N, S, S, 3] uint8 -> [N, 1000] logits of the backbone's ImageNet head with ``weights``."""
  family, _ = pretrained.family_of(arch)
  model = get_backbone(arch, output="logits", **_CLASSIFIER_KWARGS.get(family, {}))
  # Every variable comes from the file, so only the structure is needed (no random init).
  variables = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x, train=False),
                             jax.ShapeDtypeStruct((1, *images_uint8.shape[1:]), jnp.float32))
  variables, report = pretrained.load_into(variables, weights, model, paths=[()])
  print(report.summary(), file=sys.stderr)
  apply = jax.jit(lambda v, x: model.apply(v, x.astype(jnp.float32) / 255.0, train=False))
  logits = []
  for start in tqdm.trange(0, len(images_uint8), batch_size, desc="classify", unit="batch"):
    batch = images_uint8[start:start + batch_size]
    pad = batch_size - len(batch)  # one compiled shape for every batch
    batch = np.concatenate([batch, np.zeros((pad, *batch.shape[1:]), batch.dtype)])
    logits.append(np.asarray(apply(variables, batch))[:batch_size - pad])
  return np.concatenate(logits)


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
  top = np.argsort(-logits, axis=1)[:, :k]
  return float(np.mean(np.any(top == labels[:, None], axis=1)))


def main(argv=None) -> dict:
  parser = script_lib.parser(__doc__)
  parser.add_argument("--arch", required=True, help="backbone name, e.g. mobilenet_v1_075, vgg16")
  parser.add_argument("--weights", required=True, help="weights file or name (torchvision:vgg16)")
  parser.add_argument("--tiny_imagenet", required=True, type=pathlib.Path)
  parser.add_argument("--synsets", required=True, type=pathlib.Path)
  parser.add_argument("--out", type=pathlib.Path, default=None, help="write the result as JSON")
  parser.add_argument("--limit", type=int, default=0, help="use the first N val photos (0 = all)")
  parser.add_argument("--batch_size", type=int, default=50)
  args = parser.parse_args(argv)
  script_lib.require_paths(args.tiny_imagenet, args.synsets)

  start = time.time()
  names, images, labels = read_tiny_val(args.tiny_imagenet, read_synsets(args.synsets), args.limit)
  family, _ = pretrained.family_of(args.arch)
  size = _INPUT_SIZE.get(family, 224)
  logits = classify(args.arch, args.weights, resize_bilinear(images, size), args.batch_size)
  result = {"arch": args.arch, "weights": str(args.weights), "images": len(names),
            "input_size": size, "top1": topk_accuracy(logits, labels, 1),
            "top5": topk_accuracy(logits, labels, 5), "seconds": round(time.time() - start, 1)}
  print(f"{args.arch} on {len(names)} Tiny-ImageNet val photos ({size}px): "
        f"top-1 {100 * result['top1']:.1f}%  top-5 {100 * result['top5']:.1f}%  "
        f"({result['seconds']} s)")
  if args.out is not None:
    io_utils.atomic_write_json(args.out, result)
  return result


if __name__ == "__main__":
  runtime.restart_with_huge_page_malloc()
  main()
