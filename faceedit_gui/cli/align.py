"""`faceedit align`: aligned face crops (+ JSON) from any photos.

Examples:
    faceedit align holiday.jpg group.png -o crops/ --framing ffhq            # 1024 px FFHQ crops
    faceedit align photos/*.jpg -o crops/ --framing ffhq --size 256
    faceedit align scan.tif -o crops/ --framing bundle --bundle models/default

For the k-th face of each photo (k = 0 the largest) it writes DIR/<stem>_<k>.png, the crop,
and DIR/<stem>_<k>.json: face box and landmarks (photo pixels), the 2x3 transforms both
ways, the framing. Photos without a face, or that cannot be read, are listed on stderr and
the command goes on; the exit status is 1 if any photo gave no crop, else 0. The resolved
settings and a summary go to DIR/align_run.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("align", help="aligned face crops and their transforms from photos",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--framing", choices=["ffhq", "bundle"], default="bundle",
                   help="ffhq: the official 1024 models' crop; bundle: the framing in the model bundle (default)")
    p.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: models/default)")
    p.add_argument("--size", type=int, default=None, help="crop size (default: the bundle's resolution; 1024 for ffhq)")
    p.add_argument("--faces", choices=["all", "largest"], default="all")
    p.add_argument("--detector", choices=["auto", "hog", "cnn"], default="auto")
    p.add_argument("--landmarks", choices=["dlib", "face_alignment"], default="dlib")
    p.add_argument("--border", choices=["reflect", "constant"], default="reflect")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceedit_gui.faces import ffhq_framing

    try:
        framing = ffhq_framing(args.size or 1024) if args.framing == "ffhq" else bundle_framing(args.bundle)
    except ValueError as e:
        print(f"faceedit align: {e}", file=sys.stderr)
        return 2
    if args.size:
        framing = framing.with_size(args.size)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = align_photos(args.photos, args.out, framing, args.faces == "all", args.detector, args.landmarks, args.border)
    run_record = {
        "framing": framing.to_dict(),
        "size": framing.size,
        "faces": args.faces,
        "detector": args.detector,
        "landmarks": args.landmarks,
        "border": args.border,
        "bundle": str(args.bundle) if args.bundle else None,
        **summary,
    }
    (args.out / "align_run.json").write_text(json.dumps(run_record, indent=1) + "\n")
    print(f"faceedit align: {summary['crops']} crop(s) from {len(args.photos)} photo(s) in {args.out}", file=sys.stderr)
    return 1 if summary["failed"] else 0


def align_photos(photos: list[Path], out: Path, framing, all_faces: bool, detector: str, landmarks: str, border: str) -> dict:
    """Align every photo; one line on stderr per photo that gave nothing. Returns a summary."""
    from faceedit_gui.faces import PhotoError, align_face, detect_faces, load_photo, no_face_message, save_image

    crops, failed = 0, []
    for path in photos:
        try:
            photo = load_photo(path)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                faces = detect_faces(photo, backend=landmarks, detector=detector)
            for w in caught:
                print(f"faceedit align: {w.message}", file=sys.stderr)
        except PhotoError as e:
            failed.append({"photo": str(path), "reason": e.reason})
            print(f"faceedit align: skipped {e}", file=sys.stderr)
            continue
        if not faces:
            reason = no_face_message(photo)
            failed.append({"photo": str(path), "reason": reason})
            print(f"faceedit align: no face: {path}: {reason}", file=sys.stderr)
            continue
        for k, face in enumerate(faces if all_faces else faces[:1]):
            aligned = align_face(photo, face, framing, border=border)
            stem = out / f"{path.stem}_{k}"
            save_image(stem.with_suffix(".png"), aligned.crop)
            record = {"photo": str(path), "face_index": k, "faces_in_photo": len(faces), "orientation": photo.orientation,
                      **aligned.to_dict()}
            stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
            crops += 1
    return {"crops": crops, "failed": len(failed), "failures": failed}


def bundle_framing(bundle: Path | None):
    """The framing a model bundle records (its model.json `framing` and `resolution`)."""
    from faceedit_gui.faces import load_framing

    if bundle is None:
        bundle = _default_bundle_path()
    card = Path(bundle) / "model.json"
    if not card.is_file():
        raise ValueError(
            f"no model bundle at {bundle} (no model.json there), so its framing is unknown. "
            "Pass --bundle DIR, or use --framing ffhq [--size N] for the FFHQ crop."
        )
    try:
        return load_framing(card)
    except ValueError as e:
        raise ValueError(f"the bundle at {bundle} has no usable framing: {e}") from None


def _default_bundle_path() -> Path:
    try:
        from faceedit_gui.checkpoints.bundle import default_bundle_path  # written in another issue
    except ImportError:
        return REPO / "models" / "default"
    return Path(default_bundle_path())
