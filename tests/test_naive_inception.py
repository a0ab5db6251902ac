"""The lecture's "naive Inception module" against the module "with dimension reduction" (GoogLeNet
Fig. 2a/2b), as a configuration of the generic Inception module and as an option of GoogLeNet, with
the costs counted by hand."""
from functools import partial

import torch

from cnnzoo import analyze
from cnnzoo.layers import ConvNormAct
from cnnzoo.models.googlenet import TABLE1
from cnnzoo.models.inception_blocks import Branch, Conv, Inception, naive

CONV = partial(ConvNormAct, norm_layer=None, bias=True)


def conv_macs(h: int, w: int, c_out: int, k: int, c_in: int) -> int:
    return h * w * c_out * k * k * c_in  # one multiply-add per output value per input value under the kernel


def _module(branches, in_channels=256):
    with torch.device("meta"):
        return Inception(in_channels, branches, CONV)


def test_the_classic_28x28x256_module_naive_and_with_reductions():
    """The lecture's example: 1x1 128, 3x3 192, 5x5 96 and a 3x3 pool on 28x28x256."""
    reduced = (Branch((Conv(128),)), Branch((Conv(64), Conv(192, 3))), Branch((Conv(64), Conv(96, 5))), Branch((Conv(64),), pool="max"))
    plain = naive(reduced)
    assert plain == (Branch((Conv(128),)), Branch((Conv(192, 3),)), Branch((Conv(96, 5),)), Branch((), pool="max"))
    a = analyze(_module(plain), 28)
    branches = [conv_macs(28, 28, 128, 1, 256), conv_macs(28, 28, 192, 3, 256), conv_macs(28, 28, 96, 5, 256)]
    assert branches == [25_690_112, 346_816_512, 481_689_600]  # 854M in all: the slide's "very expensive"
    assert a.macs == sum(branches)
    assert a.rows[-1].out_shape[0] == 128 + 192 + 96 + 256  # 672: the pool passes all 256 through
    b = analyze(_module(reduced), 28)
    by_hand = [conv_macs(28, 28, 128, 1, 256), conv_macs(28, 28, 64, 1, 256), conv_macs(28, 28, 192, 3, 64),
               conv_macs(28, 28, 64, 1, 256), conv_macs(28, 28, 96, 5, 64), conv_macs(28, 28, 64, 1, 256)]  # fmt: skip
    assert b.macs == sum(by_hand) == 271_351_808  # the slide's "271M ops" and b.rows[-1].out_shape[0] == 480


def test_googlenet_naive_grows_at_every_module():
    plain, reduced = analyze("googlenet", naive=True, aux_logits=False), analyze("googlenet", aux_logits=False)
    depth, row_depth = 192, {}
    for name, row in TABLE1.items():  # the output depth grows by the whole input at every module
        depth = row.ch1x1 + row.ch3x3 + row.ch5x5 + depth
        row_depth[name] = depth
    outputs = {r.name.split(".")[1]: r.out_shape[0] for r in plain.group(2) if r.name.count(".") == 1}
    for name, depth in row_depth.items():
        assert outputs[name] == depth, name
    in3a = 192  # inception3a at 28x28, naive: Table 1's 64, 128, 32 on all 192 input channels
    expected = conv_macs(28, 28, 64, 1, in3a) + conv_macs(28, 28, 128, 3, in3a) + conv_macs(28, 28, 32, 5, in3a)
    assert sum(r.macs() for r in plain.rows if r.name.startswith("features.inception3a.")) == expected
    assert plain.macs > 7 * reduced.macs and plain.params > 10 * reduced.params
