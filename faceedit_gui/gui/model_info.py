"""What the window says about a bundle (no Qt here: plain text from the model card).

Rule for "untrained": a bundle is shown as untrained (title suffix and a banner) when its
card has no evaluation metrics, or its notes mention random weights or "untrained".
A trained bundle always carries the metrics of its evaluation (DESIGN.md §4, §7).
"""

from __future__ import annotations

import html
import json

from faceedit_gui.checkpoints.card import BundleCard


def is_untrained(card: BundleCard) -> bool:
    notes = card.notes.lower()
    return not card.metrics or "random" in notes or "untrained" in notes


def untrained_reason(card: BundleCard) -> str:
    if "random" in card.notes.lower() or "untrained" in card.notes.lower():
        return f"its card says: “{card.notes}”"
    return "its card has no evaluation metrics"


def card_html(card: BundleCard, folder: str = "") -> str:
    """The model card as small HTML for Help ▸ About."""
    e = html.escape
    rows = [
        ("Name", card.name),
        ("Folder", folder),
        ("Resolution", f"{card.resolution} px, n_w = {card.n_w}, style_dim = {card.style_dim}"),
        ("Attributes", ", ".join(f"{a.label} [{a.min:g}, {a.max:g}]" for a in card.attributes) or "none"),
        ("Extra directions", ", ".join(d.label for d in card.extra_directions) or "none"),
        ("Networks", ", ".join(f"{n}{' (training only)' if ent.training_only else ''}" for n, ent in card.networks.items())),
        ("Framing", str(card.framing.get("kind", "none")) if card.framing else "none"),
        ("Notes", card.notes or "—"),
    ]
    body = "".join(f"<tr><td><b>{e(k)}</b></td><td>{e(str(v))}</td></tr>" for k, v in rows)
    status = (
        f"<p style='color:#d08000'><b>Untrained model</b>: {e(untrained_reason(card))}. "
        "Edits show the machinery, not meaningful faces.</p>" if is_untrained(card) else ""
    )
    metrics = json.dumps(card.metrics, indent=1, sort_keys=True) if card.metrics else "none recorded"
    provenance = json.dumps(card.provenance, indent=1, sort_keys=True, default=str) if card.provenance else "none recorded"
    return (
        f"<h3>{e(card.name)}</h3>{status}<table cellspacing=4>{body}</table>"
        f"<p><b>Metrics</b></p><pre>{e(metrics)}</pre><p><b>Provenance</b></p><pre>{e(provenance[:3000])}</pre>"
    )
