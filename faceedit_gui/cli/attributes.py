"""`faceedit attributes`: attribute probabilities of every face in some images.

Examples:
    faceedit attributes portrait.jpg group.png                  # detect, align, classify
    faceedit attributes --aligned crops/*.png --json            # crops already aligned
    faceedit attributes --weights .data/trained/classifier photo.jpg   # a trained classifier, no bundle

Without `--aligned` every face is detected (dlib) and aligned to the framing the classifier
was trained with (the bundle's, or the one recorded beside `--weights`), then classified;
with `--aligned` each image is taken as one aligned square crop. Probabilities are the
user-facing names of `networks/classifier.py` (smile, glasses, age = p(age >= 40),
gender = p(male), beard = 1 - p(No_Beard), ...). `--json` prints a list of
{"file": ..., "face": k, "attributes": {name: p}}; text prints one line per face.
Images that cannot be read or show no face are reported on stderr; exit status 1 then.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("attributes", help="attribute probabilities per face", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--aligned", action="store_true", help="each image is an aligned crop (no detection)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: models/default)")
    p.add_argument("--weights", type=Path, default=None, metavar="DIR",
                   help="a trained classifier (folder with classifier.json + .safetensors) instead of a bundle's")
    p.set_defaults(func=run)


class ClassifierNotFound(RuntimeError):
    pass


def load_classifier(bundle: Path | None, weights: Path | None):
    """(classifier in eval mode, the JSON file that records its framing or None)."""
    from faceedit_gui.training.net_io import load_network

    if weights is not None:
        stem = weights / "classifier" if weights.is_dir() else weights
        if not stem.with_suffix(".json").is_file():
            raise ClassifierNotFound(f"no trained classifier at {weights} (expected classifier.json and "
                                     "classifier.safetensors, written by `faceedit train classifier`)")
        net, _ = load_network(stem)
        return net, stem.with_suffix(".json")
    from faceedit_gui.checkpoints.bundle import default_bundle_path, load_bundle, read_card

    folder = Path(bundle) if bundle is not None else default_bundle_path()
    if not (folder / "model.json").is_file():
        raise ClassifierNotFound(
            f"no model bundle at {folder}: pass --bundle DIR, or --weights DIR for a classifier trained with "
            f"`faceedit train classifier` (it writes {REPO / '.data' / 'trained' / 'classifier'})"
        )
    card = read_card(folder)
    names = [n for n, e in card.networks.items() if e.type == "attribute_classifier"]
    if not names:
        raise ClassifierNotFound(f"the bundle at {folder} has no attribute classifier; pass --weights DIR")
    return load_bundle(folder, networks=names[:1]).networks[names[0]], folder / "model.json"


def framing_for(record: Path | None):
    """The framing recorded in `record` (model.json or classifier.json), else the UTKFace template."""
    from faceedit_gui.faces import UTKFACE_TEMPLATE_PATH, load_framing

    if record is not None and "framing" in json.loads(record.read_text()) and json.loads(record.read_text())["framing"]:
        return load_framing(record)
    if UTKFACE_TEMPLATE_PATH.is_file():
        return load_framing(UTKFACE_TEMPLATE_PATH)
    raise ValueError(f"{record} records no framing and {UTKFACE_TEMPLATE_PATH} is missing: use --aligned with aligned crops")


def crops_of(path: Path, aligned: bool, framing) -> list[tuple[int, object]]:
    """[(face index, uint8 [S, S, 3] crop)] of one image; raises PhotoError / ValueError."""
    from faceedit_gui.faces import align_face, detect_faces, load_photo, no_face_message

    photo = load_photo(path)
    if aligned:
        if photo.rgb.shape[0] != photo.rgb.shape[1]:
            raise ValueError(f"an aligned crop must be square, got {photo.rgb.shape[1]}x{photo.rgb.shape[0]}")
        return [(0, photo.rgb)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        faces = detect_faces(photo)
    if not faces:
        raise ValueError(f"no face: {no_face_message(photo)}")
    return [(k, align_face(photo, face, framing).crop) for k, face in enumerate(faces)]


def run(args: argparse.Namespace) -> int:
    from faceedit_gui.checkpoints.card import BundleError
    from faceedit_gui.faces import PhotoError

    try:
        net, record = load_classifier(args.bundle, args.weights)
        framing = None if args.aligned else framing_for(record)
    except (ClassifierNotFound, BundleError, ValueError) as exc:
        print(f"faceedit attributes: {exc}", file=sys.stderr)
        return 2
    results, failed = [], 0
    for path in args.images:
        try:
            crops = crops_of(path, args.aligned, framing)
        except (PhotoError, ValueError) as exc:
            print(f"faceedit attributes: skipped {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        for k, crop in crops:
            results.append({"file": str(path), "face": k, "attributes": classify(net, crop)})
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            probs = "  ".join(f"{name} {p:.2f}" for name, p in r["attributes"].items())
            print(f"{r['file']}#{r['face']}: {probs}")
    return 1 if failed else 0


def classify(net, crop) -> dict[str, float]:
    """{user-facing name: probability} of one uint8 `[S, S, 3]` crop."""
    from faceedit_gui.conventions import uint8_to_tensor

    return {k: round(v, 4) for k, v in net.user_probabilities(uint8_to_tensor(crop))[0].items()}
