"""torch.export on the registry: every model captured in eval mode with a dynamic batch dimension,
and the captured program computing the eager outputs at another batch size."""
import io
import os

import pytest
import torch

import cnnzoo
from cnnzoo import list_models
from cnnzoo.artifacts.exported import ExportError, weights_only_loads
from cnnzoo.deploy.export import exported_program

# one of each code path (LRN and groups, Inception concat and ceil pools, asymmetric convs, option-A
# padded shortcuts, SE, separable convs, TF-same padding, h-swish);
# CNNZOO_ALL_MODELS=1 runs every registered model (about 3 minutes on 2 cores)
REPRESENTATIVE = {"alexnet", "googlenet", "inception_v3", "resnet20", "resnet50", "resnext29_cifar",
                  "se_resnet18", "plain20", "xception", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small"}  # fmt: skip
ALL = os.environ.get("CNNZOO_ALL_MODELS") == "1"


@pytest.mark.parametrize("name", list_models())
def test_torch_export_captures_the_model_with_any_batch(name):
    if not (ALL or name in REPRESENTATIVE):
        pytest.skip("a representative of each code path runs by default; CNNZOO_ALL_MODELS=1 runs them all")
    torch.manual_seed(0)
    options = {"mobilenet_v2": {"tf_padding": True}, "resnet1202": {"zero_init_residual": True}}.get(name, {})  # 1202 random layers overflow
    model = cnnzoo.create_model(name, **options).eval()
    size = max(model.min_input_size(), 64 if model.input_size > 32 else 32)
    program = exported_program(model, torch.randn(2, 3, size, size))
    x = torch.randn(3, 3, size, size)  # another batch size than the example's
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-4, atol=1e-4)


def test_a_model_torch_export_cannot_capture_is_named_with_the_reason():
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x  # Python control flow on a tensor's value

    with pytest.raises(ExportError, match="torch.export cannot capture the model: .*"):
        exported_program(DataDependent(), torch.randn(2, 3))


def test_loading_an_exported_program_never_unpickles_code():
    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    buffer = io.BytesIO()
    torch.save({"x": Payload()}, buffer)
    buffer.seek(0)
    with weights_only_loads(), pytest.raises(Exception, match="Weights only load failed|Unsupported global"):
        torch.load(buffer, weights_only=False)  # what torch.export.load falls back to, refused
