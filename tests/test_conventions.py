"""uint8 HWC RGB <-> float NCHW [-1, 1]: the one place that converts."""

import numpy as np
import pytest
import torch

from faceedit_gui.conventions import tensor_to_uint8, uint8_to_tensor


def test_round_trip_is_exact_for_every_grey_level():
    img = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    img[..., 1] = 255 - img[..., 0]
    t = uint8_to_tensor(img)
    assert t.shape == (1, 3, 16, 16) and t.dtype == torch.float32
    assert float(t.min()) == -1.0 and float(t.max()) == 1.0
    assert torch.equal(t[0, 0, 0, :2], torch.tensor([-1.0, -1.0 + 2 / 255]))
    assert np.array_equal(tensor_to_uint8(t[0]), img)
    assert np.array_equal(tensor_to_uint8(t)[0], img)


def test_channel_order_is_kept_and_out_of_range_values_clip():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 0] = 200  # red only
    t = uint8_to_tensor(img)
    assert float(t[0, 0].mean()) > 0.5 and float(t[0, 2].mean()) == -1.0
    assert tensor_to_uint8(torch.full((3, 1, 1), 3.0))[0, 0].tolist() == [255, 255, 255]
    assert tensor_to_uint8(torch.full((3, 1, 1), -3.0))[0, 0].tolist() == [0, 0, 0]


def test_read_only_arrays_convert_without_aliasing():
    img = np.full((4, 4, 3), 7, np.uint8)
    img.flags.writeable = False
    t = uint8_to_tensor(img)
    t.add_(1)
    assert img[0, 0, 0] == 7


def test_bad_inputs_say_what_was_expected():
    with pytest.raises(TypeError, match="uint8"):
        uint8_to_tensor(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 4\)"):
        uint8_to_tensor(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match="expected"):
        tensor_to_uint8(torch.zeros(1, 4, 2, 2))
