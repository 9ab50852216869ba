"""Small dialogs: pick a face on the photo, the model card, official checkpoints, JPEG quality."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QInputDialog, QLabel, QListWidget, QMessageBox, QTextBrowser,
                               QVBoxLayout, QWidget)

from faceedit_gui.gui.image_view import ImageView
from faceedit_gui.gui.model_info import card_html


class FacePickerDialog(QDialog):
    """The photo with every detected face boxed and numbered: click a box (or pick from the list)."""

    def __init__(self, photo, faces, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"faceedit — {len(faces)} faces found: pick one")
        self.chosen = 0
        self.view = ImageView()
        self.view.set_images(None, photo.rgb)
        self.view.set_face_boxes([f.box for f in faces])
        self.view.setMinimumSize(480, 360)
        self.list = QListWidget()
        for i, f in enumerate(faces):
            self.list.addItem(f"Face {i + 1}: {int(f.width)}×{int(f.height)} px at ({int(f.box[0])}, {int(f.box[1])})")
        self.list.setCurrentRow(0)
        self.list.setMaximumHeight(90)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Click the face to edit (the largest is face 1)."))
        layout.addWidget(self.view, 1)
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.view.faceClicked.connect(self._clicked)
        self.list.currentRowChanged.connect(self._row)

    def _clicked(self, index: int) -> None:
        self.list.setCurrentRow(index)
        self.accept()

    def _row(self, index: int) -> None:
        self.chosen = max(0, index)


def show_model_card(parent: QWidget, card, folder: str) -> None:
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"faceedit — About the model “{card.name}”")
    text = QTextBrowser()
    text.setHtml(
        "<p><b>faceedit</b>: a face editor after Yin et al., <i>Expanding the Latent Space of StyleGAN for Real "
        "Face Editing</i> (2022): inversion, sparse style directions and relevance-map content fusion.</p><hr>"
        + card_html(card, folder)
    )
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(text)
    layout.addWidget(buttons)
    dialog.resize(560, 520)
    dialog.exec()


OFFICIAL_EXPLANATION = (
    "{what}\n\n"
    "An editing session needs a complete model bundle: a generator, an encoder that inverts "
    "photos into it (e4e/pSp or the bundled encoder), and an editor trained for that generator "
    "(the style directions d_sty, content codes d_cnt, the content extractors A and the relevance "
    "heads H), plus attribute names and the face framing. An official checkpoint alone gives "
    "only part of that.\n\n"
    "To build one: faceedit train editor --generator FILE [--encoder FILE] (see README), then "
    "Model ▸ Load bundle… on the folder it writes."
)


def describe_official_checkpoint(path: str | Path) -> str:
    """Open a StyleGAN2 / e4e / pSp file (weights only) and say what it is, or why not."""
    from faceedit_gui.checkpoints.official_encoders import load_e4e_or_psp
    from faceedit_gui.checkpoints.official_stylegan2 import load_stylegan2_checkpoint
    from faceedit_gui.checkpoints.safe_load import CheckpointError

    errors = []
    try:
        enc = load_e4e_or_psp(path)
        return (f"{Path(path).name}: an official {enc.encoder.config.kind} encoder for a "
                f"{enc.decoder_size} px StyleGAN2 (its decoder is inside the file).")
    except (CheckpointError, ValueError, KeyError) as exc:
        errors.append(f"as e4e/pSp: {exc}")
    try:
        gen = load_stylegan2_checkpoint(path)
        g = gen.generator
        avg = "with" if gen.latent_avg is not None else "without"
        return f"{Path(path).name}: an official StyleGAN2 generator, {g.size} px, style_dim {g.style_dim}, {avg} latent_avg."
    except (CheckpointError, ValueError, KeyError) as exc:
        errors.append(f"as StyleGAN2: {exc}")
    raise ValueError(f"{Path(path).name} is not a checkpoint faceedit can read:\n" + "\n".join(errors))


def ask_jpeg_quality(parent: QWidget, default: int = 92) -> int | None:
    value, ok = QInputDialog.getInt(parent, "JPEG quality", "Quality (1–100):", default, 1, 100, 1)
    return value if ok else None


def confirm_overwrite(parent: QWidget, path: Path) -> bool:
    answer = QMessageBox.question(parent, "Replace file?", f"{path.name} already exists in {path.parent}.\nReplace it?",
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def message_dialog(parent: QWidget, title: str, text: str, icon=QMessageBox.Icon.Warning) -> QMessageBox:
    """A non-blocking message box (opened with .open()), so tests and the window stay responsive."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("faceedit_message")
    box.open()
    return box
