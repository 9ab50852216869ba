"""The engine: a photo's edit session (cache, render as plain data) and the latest-wins scheduler."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from faceedit_gui.checkpoints.bundle import load_bundle
from faceedit_gui.engine.scheduler import Delivery, RenderScheduler
from faceedit_gui.engine.session import EditSession
from faceedit_gui.faces.loading import load_photo


@pytest.fixture(scope="module")
def session(edit_bundle_dir, shared_dir):
    bundle = load_bundle(edit_bundle_dir)
    photo = load_photo(shared_dir / "data" / "photos" / "ffhq" / "00001.png")
    return EditSession(bundle, photo)


def test_session_caches_the_inversion_and_renders_plain_data(session):
    assert session.w_p.shape == (1, session.generator.n_latent, 16)
    assert set(session.q_features) == set(session.generator.level_names)
    result = session.render({"age": 1.0})
    assert result.ok, result.error
    assert result.refined.dtype == np.uint8 and result.refined.shape == (32, 32, 3)
    assert result.style.shape == (32, 32, 3)
    assert set(result.masks) == set(session.generator.level_names)
    assert all(m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1 for m in result.masks.values())
    assert result.photo is None and result.timings["render_ms"] > 0


def test_sliders_change_the_image_and_zero_sliders_are_deterministic(session):
    a = session.render({})
    b = session.render({"age": 0.0, "smile": 0.0})
    c = session.render({"smile": 2.0})
    assert np.array_equal(a.refined, b.refined)
    assert not np.array_equal(a.style, c.style)


def test_pose_direction_moves_the_style_image(session):
    a = session.render({"pose": 0.0})
    b = session.render({"pose": 1.5})
    assert b.ok, b.error
    assert not np.array_equal(a.style, b.style)


def test_bad_requests_come_back_as_errors_not_exceptions(session):
    unknown = session.render({"hair_colour": 1.0})
    assert not unknown.ok and "unknown slider" in unknown.error and "hair_colour" in unknown.error
    nan = session.render({"age": float("nan")})
    assert not nan.ok and "finite" in nan.error


def test_paste_back_returns_the_full_photo(session):
    result = session.render({"age": 1.0}, paste=True)
    assert result.ok, result.error
    assert result.photo.shape == session.photo.rgb.shape and result.photo.dtype == np.uint8


def test_scheduler_coalesces_a_burst_and_ends_on_the_latest_request():
    rendered: list[int] = []
    delivered: list[Delivery] = []

    def render(request: int) -> int:
        rendered.append(request)
        time.sleep(0.02)
        return request * 10

    scheduler = RenderScheduler(render, delivered.append)
    try:
        last = 0
        for i in range(1, 101):
            last = scheduler.submit(i)
        assert scheduler.wait_idle(5)
    finally:
        scheduler.close()
    assert len(rendered) <= 5, rendered  # no backlog: at most the first and the last few
    assert rendered[-1] == 100 and delivered[-1].generation == last and delivered[-1].result == 1000
    gens = [d.generation for d in delivered]
    assert gens == sorted(set(gens))  # strictly newer each time: nothing stale is shown


def test_scheduler_cancel_drops_the_frame_in_flight_and_survives_errors():
    started = threading.Event()
    release = threading.Event()
    delivered: list[Delivery] = []

    def render(request):
        if request == "boom":
            raise RuntimeError("renderer failed")
        started.set()
        release.wait(5)
        return request

    scheduler = RenderScheduler(render, delivered.append)
    try:
        scheduler.submit("slow")
        assert started.wait(5)
        scheduler.cancel()
        release.set()
        assert scheduler.wait_idle(5)
        assert delivered == []  # the cancelled frame never shows
        g = scheduler.submit("boom")
        assert scheduler.wait_idle(5)
        assert delivered[-1].generation == g and "renderer failed" in delivered[-1].error
        scheduler.submit("after")
        assert scheduler.wait_idle(5)
        assert delivered[-1].result == "after"
    finally:
        scheduler.close()


def test_preview_is_full_size_skips_the_finest_level_and_never_pastes(session):
    full = session.render({"age": 1.0})
    preview = session.render({"age": 1.0}, preview=True, paste=True)
    assert preview.ok, preview.error
    assert preview.refined.shape == full.refined.shape
    finest = session.generator.level_names[-1]
    assert finest in full.masks and finest not in preview.masks
    assert set(preview.masks) == set(full.masks) - {finest}
    assert preview.photo is None
    # a blurrier but close version of the same edit
    diff = np.abs(preview.refined.astype(int) - full.refined.astype(int)).mean()
    assert 0 < diff < 60


def test_preview_depth_adapts_to_the_frame_budget():
    from faceedit_gui.engine.session import PREVIEW_FPS, adapt_preview_drop

    budget = 1000.0 / PREVIEW_FPS
    assert adapt_preview_drop(1, budget * 1.5, num_levels=6) == 2  # too slow: coarser
    assert adapt_preview_drop(2, budget * 1.5, num_levels=6) == 2  # never coarser than 2
    assert adapt_preview_drop(2, budget * 0.4, num_levels=6) == 1  # fast: sharper again
    assert adapt_preview_drop(1, budget * 0.1, num_levels=6) == 1  # never the full frame
    assert adapt_preview_drop(2, budget * 0.8, num_levels=6) == 2  # within budget: stay
    assert adapt_preview_drop(2, budget * 2, num_levels=2) == 1  # a 2-level generator drops 1 at most


def test_preview_can_drop_two_levels(session):
    two = session.render({"age": 1.0}, preview=2)
    assert two.ok, two.error
    assert two.refined.shape == (32, 32, 3)
    assert set(two.masks) == set(session.generator.level_names[:-2])


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_a_session_on_the_gpu_renders_what_the_cpu_renders(edit_bundle_dir, shared_dir, session):
    photo = load_photo(shared_dir / "data" / "photos" / "ffhq" / "00001.png")
    gpu = EditSession(load_bundle(edit_bundle_dir, device="cuda"), photo, faces=session.faces)
    assert gpu.device.type == "cuda" and gpu.image.device.type == "cuda"
    sliders = {session.attribute_names[0]: 0.8}
    a, b = session.render(sliders, paste=True), gpu.render(sliders, paste=True)
    assert a.ok and b.ok, (a.error, b.error)
    assert np.abs(a.refined.astype(int) - b.refined.astype(int)).max() <= 2
    assert b.photo.shape == a.photo.shape
