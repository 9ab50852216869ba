"""`faceedit info [BUNDLE]`: print a model bundle's card.

Examples:
    faceedit info                      # the bundled default model, models/default
    faceedit info runs/editor/bundle   # any bundle folder
    faceedit info BUNDLE --json        # model.json as JSON, for scripts
    faceedit info BUNDLE --verify      # also check every file's sha256 and tensor shapes

Reads `model.json` and the files' sizes; builds no network (`--verify` builds them on the
meta device only). Exit status 0, or 1 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from faceedit_gui.checkpoints.bundle import default_bundle_path, read_card, verify_bundle
from faceedit_gui.checkpoints.bundle_files import external_path
from faceedit_gui.checkpoints.card import BundleCard, NetworkEntry, card_to_dict
from faceedit_gui.checkpoints.safe_load import CheckpointError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `info` subcommand."""
    parser = subparsers.add_parser(
        "info",
        help="print a model bundle's card",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bundle", nargs="?", type=Path, default=None, help="bundle folder (default: models/default)")
    parser.add_argument(
        "--bundle", dest="bundle_option", type=Path, default=None, metavar="DIR", help="same as BUNDLE"
    )
    parser.add_argument("--json", action="store_true", help="print model.json as JSON")
    parser.add_argument("--verify", action="store_true", help="check every file's sha256 and tensor shapes")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.bundle is not None and args.bundle_option is not None and args.bundle != args.bundle_option:
        print("faceedit info: give the bundle once (BUNDLE or --bundle)", file=sys.stderr)
        return 1
    return info(args.bundle or args.bundle_option, as_json=args.json, verify=args.verify)


def info(bundle: Path | None = None, *, as_json: bool = False, verify: bool = False) -> int:
    """Print the card of `bundle` (default: `default_bundle_path()`) to stdout."""
    folder = Path(bundle) if bundle is not None else default_bundle_path()
    if bundle is None and not (folder / "model.json").is_file():
        print(
            f"faceedit info: the default model bundle does not exist yet ({folder}); "
            "train it (see README) or pass a bundle folder: faceedit info DIR",
            file=sys.stderr,
        )
        return 1
    try:
        card = verify_bundle(folder) if verify else read_card(folder)
    except CheckpointError as exc:
        print(f"faceedit info: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(card_to_dict(card), indent=2))
    else:
        print(format_card(card, folder))
        if verify:
            print("\nverified: every file's sha256 and tensor shapes match the card")
    return 0


def format_card(card: BundleCard, folder: Path) -> str:
    """The card as aligned text sections, for people."""
    lines = [
        f"bundle      {folder}",
        f"name        {card.name}",
        f"format      {card.format_version}",
        f"resolution  {card.resolution} px   n_w {card.n_w}   style_dim {card.style_dim}",
        "",
        f"networks ({len(card.networks)})",
    ]
    rows = [("name", "type", "params", "dtype", "size", "sha256", "")]
    for name, entry in card.networks.items():
        rows.append(_network_row(folder, name, entry))
    lines += _table(rows)
    if card.extras is not None:
        lines.append(f"  extras: {card.extras.file}  {_size(folder / card.extras.file)}  {card.extras.sha256[:12]}")
    lines += ["", f"attributes ({len(card.attributes)})"]
    rows = [("name", "label", "range", "default", "")]
    rows += [(a.name, a.label, f"[{a.min:g}, {a.max:g}]", f"{a.default:g}", a.description) for a in card.attributes]
    lines += _table(rows) if card.attributes else ["  none"]
    lines += ["", f"extra directions ({len(card.extra_directions)})"]
    rows = [("name", "label", "range", "tensor", "")]
    rows += [
        (d.name, d.label, f"[{d.min:g}, {d.max:g}]", f"{d.file}:{d.key}", d.description)
        for d in card.extra_directions
    ]
    lines += _table(rows) if card.extra_directions else ["  none"]
    lines += ["", f"framing     {_framing(card.framing)}"]
    for title, section in (("provenance", card.provenance), ("recipe", card.recipe), ("metrics", card.metrics)):
        lines += ["", title] + (_flatten(section) or ["  none"])
    if card.notes:
        lines += ["", "notes", *("  " + line for line in card.notes.splitlines())]
    return "\n".join(lines)


def _network_row(folder: Path, name: str, entry: NetworkEntry) -> tuple[str, ...]:
    marker = "training-only" if entry.training_only else ""
    if entry.external is not None:
        path = external_path(folder, entry.external)
        where = f"external {path}" + ("" if path.is_file() else " (MISSING)")
        rule = ", ".join(f"{k} {v}" for k, v in (("key", entry.external.key), ("prefix", entry.external.prefix)) if v)
        marker = " ".join(x for x in (marker, where, f"({rule})" if rule else "") if x)
        size, sha = _size(path), entry.external.sha256[:12]
    else:
        size, sha = _size(folder / entry.file), (entry.sha256 or "")[:12]  # type: ignore[operator]
    return (name, entry.type, _count(entry.parameters), entry.dtype, size, sha, marker)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} M"
    if n >= 1_000:
        return f"{n / 1e3:.1f} k"
    return str(n)


def _size(path: Path) -> str:
    if not path.is_file():
        return "missing"
    size = float(path.stat().st_size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _framing(framing: dict[str, Any]) -> str:
    if not framing:
        return "unspecified"
    parts = [str(framing.get("kind", "unspecified"))]
    if "size" in framing:
        parts.append(f"size {framing['size']}")
    if framing.get("name"):
        parts.append(str(framing["name"]))
    for key, value in framing.items():
        if isinstance(value, list):
            parts.append(f"{key}: {len(value)} entries")
    return ", ".join(parts)


def _flatten(section: dict[str, Any], prefix: str = "") -> list[str]:
    """Nested dicts as `  a.b: value` lines; long lists summarised."""
    lines = []
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            lines += _flatten(value, f"{name}.")
        else:
            lines.append(f"  {name}: {_value(value)}")
    return lines


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value in ([], {}, None, ""):
        return "none"
    if isinstance(value, list) and len(value) > 6:
        return f"[{len(value)} items]"
    if isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value):
        return json.dumps(value)
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    return str(value)
