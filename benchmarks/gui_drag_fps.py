"""Frames per second while dragging a slider in the real editor window, and screenshots.

    python benchmarks/gui_drag_fps.py --size 32 PHOTO
    python benchmarks/gui_drag_fps.py --size 128 --real-channels PHOTO --screenshots docs/screenshots

Builds an untrained bundle (random weights, the GUI test bundle's recipe; `--real-channels`
uses the default model's table {4:256, 8:256, 16:256, 32:128, 64:64, 128:32}, style_dim
512), opens PHOTO (or, without one, a face sampled from the
bundle's generator: use that for screenshots meant for the repository, since the shared
test photos may not be copied into it) in the main window, then drags the age slider through `--ticks` values
at `--rate` ticks per second (a hand drag) and prints the frames delivered per second and
the mean render time. Run under Xvfb (`xvfb-run -a`) or with QT_QPA_PLATFORM=offscreen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REAL_CHANNELS = {4: 256, 8: 256, 16: 256, 32: 128, 64: 64, 128: 32}


def build_bundle(folder: Path, size: int, real_channels: bool) -> Path:
    import torch

    from faceedit_gui.checkpoints.bundle import save_bundle
    from faceedit_gui.checkpoints.card import AttributeSpec, BundleCard, DirectionSpec
    from faceedit_gui.faces.framing import ffhq_framing
    from faceedit_gui.networks.editor import Editor, EditorConfig
    from faceedit_gui.networks.small_encoder import SmallEncoder, SmallEncoderConfig
    from faceedit_gui.networks.stylegan2 import Generator

    torch.manual_seed(0)
    if real_channels:
        channels, style_dim = {r: c for r, c in REAL_CHANNELS.items() if r <= size}, 512
    else:
        channels, style_dim = {r: max(8, 64 // max(1, r // 8)) for r in (2**k for k in range(2, size.bit_length()))}, 16
    generator = Generator(size=size, style_dim=style_dim, n_mlp=2, channels=channels)
    n_w = generator.n_latent
    encoder = SmallEncoder(SmallEncoderConfig(size=size, n_w=n_w, style_dim=style_dim, channels=(8, 8, 16, 16, 16),
                                              units=(1, 1, 1, 1), fpn_channels=8, head_channels=8))
    enc_channels = {int(name.split("x")[0]): 8 for name in encoder.config.feature_names()}
    editor = Editor(EditorConfig(n_attributes=3, n_w=n_w, style_dim=style_dim, generator_channels=channels,
                                 encoder_channels=enc_channels, relevance_width=4, image_channels=4, direction_init=0.5))
    card = BundleCard(name=f"untrained-{size}{'-real-channels' if real_channels else ''}", resolution=size, n_w=n_w,
                      style_dim=style_dim,
                      attributes=(AttributeSpec(name="age"), AttributeSpec(name="smile"), AttributeSpec(name="glasses")),
                      extra_directions=(DirectionSpec(name="pose"),), framing=ffhq_framing(size).to_dict(),
                      notes="random weights: for benchmarks and screenshots only")
    save_bundle(folder, card, {"generator": generator, "encoder": encoder, "editor": editor}, dtype="float32",
                extra_tensors={"pose": torch.randn(n_w, style_dim)})
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photo", nargs="?", help="photo to open (default: a face sampled from the bundle's generator)")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--real-channels", action="store_true")
    p.add_argument("--ticks", type=int, default=200)
    p.add_argument("--rate", type=float, default=60.0, help="slider ticks per second")
    p.add_argument("--screenshots", type=Path, help="folder for main-window PNGs (with and without the overlay)")
    args = p.parse_args(argv)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="faceedit-fps-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    app = QApplication(sys.argv[:1])
    from faceedit_gui.gui.app import create_window, parse_args

    bundle = build_bundle(tmp / "bundle", args.size, args.real_channels)
    window = create_window(parse_args(["--bundle", str(bundle)] + ([args.photo] if args.photo else [])))
    window.resize(1280, 800)
    window.show()

    def pump(seconds: float, until=None) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not (until and until()):
            app.processEvents()
            time.sleep(0.002)

    pump(120, lambda: window.controller.last_frame is not None)
    c = window.controller
    if c.last_frame is None:
        print("no frame:", window.last_message)
        return 1
    slider = window.sliders.rows["age"].slider
    slider.setSliderDown(True)
    frames0, renders0 = c.shown_generation, c.render_count
    delivered: list[float] = []
    c.frame.connect(lambda f: delivered.append(f.result.timings.get("render_ms", 0.0)))
    t0 = time.perf_counter()
    for i in range(args.ticks):
        slider.setValue(-200 + round(400 * i / max(1, args.ticks - 1)))
        pump(1.0 / args.rate)
    slider.setSliderDown(False)
    pump(30, lambda: c.scheduler.idle())
    pump(0.2)
    elapsed = time.perf_counter() - t0
    ms = sum(delivered) / max(1, len(delivered))
    print(f"bundle {args.size} px {'real channels' if args.real_channels else 'test channels'}: {args.ticks} ticks at "
          f"{args.rate:g}/s -> {len(delivered)} frames in {elapsed:.2f} s = {len(delivered) / elapsed:.1f} fps, "
          f"mean render {ms:.1f} ms, renders {c.render_count - renders0}, final value shown "
          f"{c.last_frame.result.sliders}")
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
        window.sliders.set_values({"age": 0.8, "smile": -0.5, "pose": 0.6})
        pump(30, lambda: c.scheduler.idle())
        pump(0.5)
        stem = f"main_window_{args.size}px_{'photo' if args.photo else 'sampled'}"
        window.grab().save(str(args.screenshots / f"{stem}.png"))
        window.set_overlay_visible(True)
        pump(0.5)
        window.grab().save(str(args.screenshots / f"{stem}_overlay.png"))
        window.actions.views["split"].trigger()
        pump(0.5)
        window.grab().save(str(args.screenshots / f"{stem}_split_overlay.png"))
        print("screenshots in", args.screenshots)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
