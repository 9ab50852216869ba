"""Pure-PyTorch networks: no I/O, no Qt.

`Generator` and `Discriminator` keep the rosinality StyleGAN2 key layout.
"""

from faceedit_gui.networks.discriminator import Discriminator
from faceedit_gui.networks.stylegan2 import Generator, GeneratorConfig, official_channels

__all__ = ["Discriminator", "Generator", "GeneratorConfig", "official_channels"]
