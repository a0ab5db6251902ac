"""Xception's studied details as options (Sec. 4.7): the order of the separable convolution's parts
(Fig. 4, "extreme" Inception) and a non-linearity between them (Fig. 10). The default stays the paper's."""
import pytest
import torch
import torch.nn.functional as F

from cnnzoo import analyze, create_model
from cnnzoo.errors import InvalidOptionError
from cnnzoo.factory import meta_model
from cnnzoo.layers import SeparableConv2d


@pytest.mark.parametrize("pointwise_first,act", [(False, None), (False, "relu"), (False, "elu"), (True, None), (True, "relu")])
def test_a_separable_conv_computes_its_parts_in_the_stated_order(pointwise_first, act):
    torch.manual_seed(0)
    conv = SeparableConv2d(4, 6, pointwise_first=pointwise_first, act=act)
    x = torch.randn(2, 4, 5, 5)
    between = {None: lambda t: t, "relu": F.relu, "elu": F.elu}[act]
    dw, pw = conv.depthwise.weight, conv.pointwise.weight
    if pointwise_first:  # 1x1 to 6 channels, then one 3x3 filter per output channel
        assert dw.shape == (6, 1, 3, 3)
        expected = F.conv2d(between(F.conv2d(x, pw)), dw, padding=1, groups=6)
    else:
        assert dw.shape == (4, 1, 3, 3)
        expected = F.conv2d(between(F.conv2d(x, dw, padding=1, groups=4)), pw)
    assert torch.allclose(conv(x), expected, atol=1e-6)


def test_xception_variants_counts_and_shapes():
    base = analyze("xception")
    flipped = analyze("xception", pointwise_first=True)
    separables = [m for m in meta_model("xception").modules() if isinstance(m, SeparableConv2d)]
    assert len(separables) == 34  # 36 conv layers less the two of the stem
    # the depthwise 3x3 filters move from the input channels to the output channels of each part
    extra = sum(9 * (m.pointwise.out_channels - m.pointwise.in_channels) for m in separables)
    assert flipped.params - base.params == extra > 0
    assert analyze("xception", intermediate_act="elu").params == base.params  # a non-linearity has no parameters
    assert analyze("xception", intermediate_act="relu").macs == base.macs
    for options in ({"pointwise_first": True}, {"intermediate_act": "elu"}):
        model = create_model("xception", num_classes=7, **options).eval()
        with torch.no_grad():
            assert model(torch.randn(1, 3, 71, 71)).shape == (1, 7)
    with pytest.raises(InvalidOptionError, match="intermediate_act must be None, 'relu' or 'elu'"):
        meta_model("xception", intermediate_act="tanh")
