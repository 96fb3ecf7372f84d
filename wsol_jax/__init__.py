"""wsol_jax: weakly supervised object localization (CAM, SLT-Net, LCHP) in JAX/Flax."""

__version__ = "0.1.0"
