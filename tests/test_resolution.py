"""Which resolutions the builders take, and how auto picks one."""

from kgan.images.resolution import auto_resolution, plan_resolution, supported_resolutions


def test_common_resolutions_are_supported():
    assert plan_resolution(28) == (7, 2)
    assert plan_resolution(32) == (4, 3)
    assert plan_resolution(64) == (4, 4)
    assert plan_resolution(128) == (4, 5)
    assert plan_resolution(30) is None and plan_resolution(12) is None


def test_supported_resolutions_start_at_sixteen():
    assert supported_resolutions(64)[:4] == [16, 20, 24, 28]


def test_auto_resolution_follows_the_images_and_caps_at_64():
    assert auto_resolution([28] * 10) == 28
    assert auto_resolution([250, 300, 400]) == 64
    assert auto_resolution([1, 1, 1]) == 16
    assert auto_resolution([45, 45]) == 40
