import pytest
import torch
from torch import nn

from cnnzoo.errors import InvalidOptionError
from cnnzoo.layers import ConvNormAct, LocalResponseNorm, SqueezeExcite, get_act_layer, make_divisible, make_se


def lrn_by_the_formula(a, n=5, alpha=1e-4, beta=0.75, k=2.0):
    """b[i] = a[i] / (k + alpha * sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a[j]^2)^beta, written as a loop."""
    channels = a.shape[1]
    out = torch.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        out[:, i] = a[:, i] / (k + alpha * (a[:, lo : hi + 1] ** 2).sum(1)) ** beta
    return out


def test_lrn_follows_the_paper_formula():
    a = torch.randn(2, 12, 5, 5) * 30  # large activations, so the normaliser matters
    torch.testing.assert_close(LocalResponseNorm()(a), lrn_by_the_formula(a))
    # torch's module divides alpha by n: with the paper's constants it is a different function
    torch_lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a)
    assert not torch.allclose(torch_lrn, lrn_by_the_formula(a), rtol=1e-3)


def test_lrn_from_caffe_matches_caffe_convention():
    a = torch.randn(1, 8, 3, 3) * 10
    caffe = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)  # torch uses Caffe's alpha / n
    torch.testing.assert_close(LocalResponseNorm.from_caffe()(a), caffe(a))


def test_squeeze_excite_rescales_channels():
    se = SqueezeExcite(64)  # r = 16 by default
    assert se.fc1.out_channels == 4 and se.fc2.out_channels == 64
    x = torch.randn(2, 64, 7, 7)
    y = se(x)
    scale = y / x
    # one factor per (image, channel), in (0, 1): a sigmoid gate on the channel
    assert torch.allclose(scale, scale[..., :1, :1].expand_as(scale), atol=1e-5)
    assert ((scale > 0) & (scale < 1)).all()


def test_make_se_option():
    assert make_se(None, 64) is None and make_se(False, 64) is None
    assert make_se(True, 64).fc1.out_channels == 4
    assert make_se(8, 64).fc1.out_channels == 8
    with pytest.raises(InvalidOptionError, match="reduction"):
        make_se(True, 8)  # 8 // 16 = 0 channels


def test_conv_norm_act_bias_only_without_norm():
    with_bn = ConvNormAct(3, 8)
    without = ConvNormAct(3, 8, norm_layer=None)
    assert with_bn.conv.bias is None and isinstance(with_bn.bn, nn.BatchNorm2d)
    assert without.conv.bias is not None and not hasattr(without, "bn")
    assert ConvNormAct(3, 8, 5)(torch.randn(1, 3, 9, 9)).shape == (1, 8, 9, 9)  # "same" padding


def test_activations_by_name():
    assert get_act_layer("hard_swish") is nn.Hardswish
    with pytest.raises(InvalidOptionError, match="relu6"):
        get_act_layer("relu7")


@pytest.mark.parametrize("value, expected", [(32 * 0.75, 24), (16 * 0.35, 8), (1280 * 1.4, 1792), (96 * 0.5, 48), (20, 24)])
def test_make_divisible(value, expected):
    assert make_divisible(value) == expected
