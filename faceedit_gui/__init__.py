"""faceedit: a desktop editor for real face photos.

Method: Yin et al., "Expanding the Latent Space of StyleGAN for Real Face Editing" (2022).
Package layout, one way down: gui -> engine -> networks (only `gui` imports Qt).
"""

__version__ = "0.1.0"
