"""A face sampled from the bundle's generator edits like a photo (the editor's first start)."""

from __future__ import annotations

import numpy as np

from faceedit_gui.checkpoints.bundle import load_bundle
from faceedit_gui.engine.sampled import SampledSession


def test_sampled_session_is_seeded_reconstructs_exactly_and_renders(edit_bundle_dir):
    bundle = load_bundle(edit_bundle_dir)
    a, b, c = SampledSession(bundle, 5), SampledSession(bundle, 5), SampledSession(bundle, 6)
    assert np.array_equal(a.aligned.crop, b.aligned.crop) and not np.array_equal(a.aligned.crop, c.aligned.crop)
    assert np.array_equal(a.reconstruction(), a.aligned.crop)  # w_p is the sampled code itself
    result = a.render({"age": 1.0, "pose": 0.5}, paste=True)
    assert result.ok, result.error
    assert result.refined.shape == (32, 32, 3) and np.array_equal(result.photo, result.refined)
    assert not a.render({"nose": 1.0}).ok
