"""`faceedit [PHOTO] [--bundle DIR]`: start the desktop editor.

Which model: `--bundle DIR`, else `models/default` when it exists, else the bundle used
last time. With none, the window opens with a message and the Model menu. With a model
and no photo, a face sampled from its generator is shown so there is something to edit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from faceedit_gui.checkpoints.bundle import default_bundle_path
from faceedit_gui.engine.runtime import resolve_device
from faceedit_gui.gui.settings import APPLICATION, ORGANIZATION, Settings
from faceedit_gui.gui.theme import apply_theme


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="faceedit", description="Open the faceedit desktop editor.")
    parser.add_argument("photo", nargs="?", help="a photo to open")
    parser.add_argument("--bundle", help="model bundle folder (default: models/default, then the last one used)")
    parser.add_argument("--theme", choices=("dark", "light"), help="colour theme (remembered)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled face shown without a photo")
    parser.add_argument("--device", default="auto",
                        help="where the networks run: auto (a CUDA GPU when torch sees one, else cpu), cpu, cuda, cuda:N")  # fmt: skip
    return parser.parse_args(argv)


def choose_bundle(explicit: str | None, settings: Settings) -> Path | None:
    if explicit:
        return Path(explicit)
    default = default_bundle_path()
    if (default / "model.json").is_file():
        return default
    last = settings.last_bundle()
    if last and (Path(last) / "model.json").is_file():
        return Path(last)
    return None


def create_window(args: argparse.Namespace):
    """The window with its model (and photo or sampled face) requested in the background."""
    from faceedit_gui.gui.main_window import MainWindow

    settings = Settings()
    if args.theme:
        settings.set_theme(args.theme)
    apply_theme(QApplication.instance(), settings.theme())
    window = MainWindow(settings=settings)
    window.controller.device = resolve_device(args.device)
    bundle = choose_bundle(args.bundle, settings)
    if bundle is not None:
        photo, seed = args.photo, args.seed

        def first_content(_bundle) -> None:
            window.controller.bundleLoaded.disconnect(first_content)
            if photo:
                window.files.open_path(photo)
            else:
                window.controller.sample(seed)

        window.controller.bundleLoaded.connect(first_content)
        window.controller.load_bundle(bundle)
    elif args.photo:
        window.show_message("No model", f"Cannot open {args.photo} yet: no model bundle is loaded. "
                            "Model ▸ Load bundle… picks one (models/default is not in this build yet).")
    return window


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        resolve_device(args.device)
    except ValueError as exc:
        print(f"faceedit: {exc}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("faceedit")
    window = create_window(args)
    window.show()
    return int(app.exec())
