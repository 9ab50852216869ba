"""Untrained but complete editing bundles for benchmarks and tests.

`build_dev_bundle(folder, size=128)` saves a bundle with the REAL architecture of the
bundled 128 px model (generator channels {4:256, 8:256, 16:256, 32:128, 64:64, 128:32},
style_dim 512, n_mlp 8; `SmallEncoder` and `Editor` at their default configs, 5
attributes, a pose direction, FFHQ framing) and random weights: the speed of the real
model without its training. `tiny=True` builds the small test configuration instead
(style_dim 16, a few channels), which `tests/conftest.build_edit_bundle` uses.
"""

from __future__ import annotations

from pathlib import Path

import torch

REAL_128_CHANNELS = {4: 256, 8: 256, 16: 256, 32: 128, 64: 64, 128: 32}
ATTRIBUTES_5 = ("age", "smile", "glasses", "hair", "gender")


def build_dev_bundle(folder: str | Path, size: int = 128, seed: int = 0, tiny: bool = False) -> Path:
    """Save an untrained bundle at `folder` and return its path.

    `tiny=False` needs `size == 128` (the bundled model's configuration); `tiny=True`
    works for any power of two >= 32 and has 3 attributes (age, smile, glasses).
    """
    from faceedit_gui.checkpoints.bundle import save_bundle
    from faceedit_gui.checkpoints.card import AttributeSpec, BundleCard, DirectionSpec
    from faceedit_gui.faces.framing import ffhq_framing
    from faceedit_gui.networks.editor import Editor, EditorConfig
    from faceedit_gui.networks.small_encoder import SmallEncoder, SmallEncoderConfig
    from faceedit_gui.networks.stylegan2 import Generator

    folder = Path(folder)
    torch.manual_seed(seed)
    if tiny:
        style_dim, n_mlp = 16, 2
        channels = {r: max(8, 64 // max(1, r // 8)) for r in (2**k for k in range(2, size.bit_length()))}
        names = ATTRIBUTES_5[:3]
    else:
        if size != 128:
            raise ValueError(f"the real configuration is 128 px, got size {size} (use tiny=True)")
        style_dim, n_mlp, channels, names = 512, 8, dict(REAL_128_CHANNELS), ATTRIBUTES_5
    generator = Generator(size=size, style_dim=style_dim, n_mlp=n_mlp, channels=channels)
    n_w = generator.n_latent
    if tiny:
        enc_cfg = SmallEncoderConfig(size=size, n_w=n_w, style_dim=style_dim, channels=(8, 8, 16, 16, 16),
                                     units=(1, 1, 1, 1), fpn_channels=8, head_channels=8)
    else:
        enc_cfg = SmallEncoderConfig(size=size, n_w=n_w, style_dim=style_dim)
    encoder = SmallEncoder(enc_cfg)
    enc_channels = {int(name.split("x")[0]): enc_cfg.fpn_channels for name in enc_cfg.feature_names()}
    if tiny:
        ed_cfg = EditorConfig(n_attributes=len(names), n_w=n_w, style_dim=style_dim, generator_channels=channels,
                              encoder_channels=enc_channels, relevance_width=4, image_channels=4, direction_init=0.5)
    else:
        ed_cfg = EditorConfig(n_attributes=len(names), n_w=n_w, style_dim=style_dim, generator_channels=channels,
                              encoder_channels=enc_channels, direction_init=0.5)
    editor = Editor(ed_cfg)
    card = BundleCard(
        name=f"untrained-{'test' if tiny else 'dev'}-{size}",
        resolution=size,
        n_w=n_w,
        style_dim=style_dim,
        attributes=tuple(AttributeSpec(name=n) for n in names),
        extra_directions=(DirectionSpec(name="pose"),),
        framing=ffhq_framing(size).to_dict(),
        notes="random weights: for tests and benchmarks only",
    )
    save_bundle(folder, card, {"generator": generator, "encoder": encoder, "editor": editor}, dtype="float32",
                extra_tensors={"pose": torch.randn(n_w, style_dim)})
    return folder
