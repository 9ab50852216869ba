"""The baselines by name: fit, save, load (`interfacegan`, `ganspace`, `sefa`).

    editor = fit_baseline("sefa", generator, classifier, ["age", "smile"])
    editor.save(folder / "sefa")                      # sefa.safetensors + sefa.json
    editor = load_or_fit("sefa", folder, generator, classifier, ["age", "smile"])

A bundle may carry fitted baselines under `<bundle>/baselines/<method>.{json,safetensors}`;
`load_or_fit` reads them from the folder given, else fits (on generated samples only) and
saves them there, so a second run reuses the fit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from faceedit_gui.editing.directions import LinearEditor

METHODS = ("interfacegan", "ganspace", "sefa")
BASELINE_FOLDER = "baselines"  # inside a bundle


def fit_baseline(method: str, generator, classifier, attributes: Sequence[str], **options: Any) -> LinearEditor:
    """Fit one baseline's calibrated directions for `attributes` (see each module for `options`)."""
    if method == "interfacegan":
        from faceedit_gui.editing.interfacegan import fit_interfacegan as fit
    elif method == "ganspace":
        from faceedit_gui.editing.ganspace import fit_ganspace as fit
    elif method == "sefa":
        from faceedit_gui.editing.sefa import fit_sefa as fit
    else:
        raise ValueError(f"unknown baseline {method!r} (choose {', '.join(METHODS)})")
    return fit(generator, classifier, list(attributes), **options)


def load_or_fit(
    method: str,
    folder: str | os.PathLike,
    generator,
    classifier=None,
    attributes: Sequence[str] = (),
    **options: Any,
) -> LinearEditor:
    """`folder/<method>` when saved there and covering `attributes`, else a new fit saved there."""
    stem = Path(folder) / method
    if stem.with_suffix(".json").is_file():
        editor = LinearEditor.load(stem)
        if set(attributes) <= set(editor.names) and editor.n_w == generator.n_latent:
            return editor
    if classifier is None:
        raise ValueError(f"no fitted {method} directions in {folder} and no attribute classifier to fit them with "
                         "(the bundle has no `classifier` network)")  # fmt: skip
    editor = fit_baseline(method, generator, classifier, attributes, **options)
    editor.save(stem)
    return editor
