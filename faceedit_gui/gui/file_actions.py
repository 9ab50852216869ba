"""What the File and Model menus do: open, recent files, save image, presets, load a model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

from faceedit_gui.gui.dialogs import (OFFICIAL_EXPLANATION, ask_jpeg_quality, confirm_overwrite,
                                      describe_official_checkpoint)
from faceedit_gui.engine.presets import PresetError, check_sliders, read_preset, write_preset
from faceedit_gui.gui.saving import SaveError, atomic_save_image, same_file, suggest_path

if TYPE_CHECKING:
    from faceedit_gui.gui.main_window import MainWindow

PHOTO_FILTER = "Images (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff *.gif);;All files (*)"


class FileActions:
    def __init__(self, window: "MainWindow") -> None:
        self.w = window

    # ------------------------------------------------------------------ open
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open photo", self.w.settings.last_folder("open"), PHOTO_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        path = Path(path)
        self.w.settings.set_last_folder("open", path)
        if path.exists():
            self.w.settings.add_recent_file(path)
            self.w.actions.refresh_recent()
        self.w.controller.open_photo(path)

    # ------------------------------------------------------------------ save image
    def save_image(self, kind: str = "crop", path: str | Path | None = None, quality: int | None = None) -> Path | None:
        """Save the edited crop (`kind="crop"`) or the photo with the edit pasted back (`"photo"`).

        With `path` given (tests, scripts) no dialog opens; an existing file other than the
        original is replaced only after a confirmation; the original never.
        """
        c = self.w.controller
        frame = c.last_frame
        if frame is None or not frame.result.ok:
            self.w.show_message("Nothing to save", "There is no edited image yet: open a photo first.")
            return None
        session = frame.session
        original = session.photo.path
        if path is None:
            folder = self.w.settings.last_folder("save") or (str(original.parent) if original else str(Path.home()))
            suggestion = suggest_path(original, folder, "edited" if kind == "crop" else "edited_photo")
            path, _ = QFileDialog.getSaveFileName(self.w, "Save edited image", str(suggestion),
                                                  "PNG (*.png);;JPEG (*.jpg *.jpeg)",
                                                  options=QFileDialog.Option.DontConfirmOverwrite)
            if not path:
                return None
            path = Path(path)
            if not path.suffix:
                path = path.with_suffix(".png")
            if path.exists() and not same_file(path, original) and not confirm_overwrite(self.w, path):
                return None
        path = Path(path)
        if same_file(path, original):
            self.w.show_message("Not saved", f"{path.name} is the photo being edited: faceedit never overwrites the "
                                "original. Choose another name.")
            return None
        if path.suffix.lower() in (".jpg", ".jpeg") and quality is None:
            quality = ask_jpeg_quality(self.w)
            if quality is None:
                return None
        if kind == "photo":
            rgb = frame.result.photo if frame.result.photo is not None else session.render(frame.result.sliders, paste=True).photo
        else:
            rgb = frame.result.refined
        try:
            atomic_save_image(path, rgb, quality=quality or 95, original=original,
                              icc_profile=session.photo.icc_profile if kind == "photo" else None)
        except SaveError as exc:
            self.w.show_message("Not saved", str(exc))
            return None
        self.w.settings.set_last_folder("save", path)
        self.w.statusBar().showMessage(f"Saved {path}", 6000)
        return path

    # ------------------------------------------------------------------ presets
    def save_preset(self, path: str | Path | None = None) -> Path | None:
        if path is None:
            folder = self.w.settings.last_folder("preset") or str(Path.home())
            path, _ = QFileDialog.getSaveFileName(self.w, "Save slider preset", str(Path(folder) / "preset.json"),
                                                  "Preset (*.json)")
            if not path:
                return None
        path = Path(path)
        try:
            write_preset(path, self.w.sliders.values())
        except (OSError, PresetError) as exc:
            self.w.show_message("Preset not saved", f"{path}: {exc}")
            return None
        self.w.settings.set_last_folder("preset", path)
        self.w.statusBar().showMessage(f"Preset saved: {path}", 6000)
        return path

    def load_preset(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self.w, "Load slider preset", self.w.settings.last_folder("preset"),
                                                  "Preset (*.json);;All files (*)")
            if not path:
                return False
        try:
            values = check_sliders(read_preset(path), self.w.sliders.rows.keys(), f"preset {path}")
        except PresetError as exc:
            self.w.show_message("Preset not loaded", str(exc))
            return False
        self.w.settings.set_last_folder("preset", path)
        self.w.sliders.set_values(values)
        self.w.history.commit(self.w.sliders.values(), f"preset {Path(path).name}")
        return True

    # ------------------------------------------------------------------ model
    def load_bundle_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.w, "Load model bundle (a folder with model.json)",
                                                  self.w.settings.last_folder("bundle"))
        if folder:
            self.w.settings.set_last_folder("bundle", Path(folder) / "model.json")
            self.w.controller.load_bundle(folder)

    def official_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Official checkpoint (StyleGAN2, e4e, pSp)",
                                              self.w.settings.last_folder("bundle"), "PyTorch checkpoints (*.pt *.pth)")
        if path:
            self.explain_official(path)

    def explain_official(self, path: str | Path) -> None:
        try:
            what = describe_official_checkpoint(path)
        except Exception as exc:  # noqa: BLE001 - any failure is a message for the user
            what = str(exc)
        self.w.show_message("Official checkpoint", OFFICIAL_EXPLANATION.format(what=what))

    def new_sample(self) -> None:
        session = self.w.controller.session
        seed = getattr(session, "seed", -1) + 1
        self.w.controller.sample(seed)


def about_faceedit(window) -> None:
    bundle = window.controller.bundle
    if bundle is None:
        QMessageBox.about(window, "About faceedit", "faceedit: a face editor built on StyleGAN2. No model is loaded.")
        return
    from faceedit_gui.gui.dialogs import show_model_card

    show_model_card(window, bundle.card, str(bundle.folder))
