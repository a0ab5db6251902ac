"""Training the larger nets: stochastic depth (drop_path_rate) on the residual families, and activation
checkpointing (set_grad_checkpointing) on every family, which must change memory, not results."""
import pytest
import torch

import cnnzoo
from cnnzoo import CnnzooError
from cnnzoo.layers import DropPath
from cnnzoo.train import RunConfig, get_recipe, train


def test_drop_path_drops_whole_samples_and_keeps_the_expectation():
    torch.manual_seed(0)
    drop = DropPath(0.25)
    x = torch.ones(4000, 3, 2, 2)
    y = drop(x)
    kept = y.flatten(1).amax(1)
    assert kept.unique().tolist() == pytest.approx([0.0, 4 / 3])  # a sample is dropped whole or scaled by 1/(1-p)
    assert (y.flatten(1) == y.flatten(1)[:, :1]).all()
    assert abs((kept == 0).float().mean().item() - 0.25) < 0.03 and abs(y.mean().item() - 1) < 0.04
    assert drop.eval()(x) is x


@pytest.mark.parametrize("name, blocks", [("resnet20", 9), ("mobilenet_v2", 10), ("inception_resnet_v2", 40), ("mobilenet_v3_small", 6)])
def test_drop_rates_rise_linearly_over_the_residual_blocks(name, blocks):
    with torch.device("meta"):
        model = cnnzoo.create_model(name, drop_path_rate=0.3)
    rates = [m.p for m in model.modules() if isinstance(m, DropPath)]
    assert rates == pytest.approx([0.3 * l / blocks for l in range(1, blocks + 1)])  # Huang et al.: p_l = l / L * p_L


def test_a_plain_net_has_nothing_to_drop(tmp_path):
    with pytest.raises(CnnzooError, match="no residual blocks"):
        cnnzoo.create_model("plain20", drop_path_rate=0.1)
    recipe = get_recipe("short").parse_overrides(["drop_path_rate=0.1", "epochs=1"])
    with pytest.raises(CnnzooError, match="vgg11 has no residual blocks"):
        train(RunConfig("vgg11", "digits", recipe, tmp_path / "r", show_progress=False))


def _step(model, x, labels):
    model.zero_grad()
    out = model(x)
    logits = out.logits if hasattr(out, "logits") else out
    loss = torch.nn.functional.cross_entropy(logits, labels) + sum(a.sum() * 1e-3 for a in getattr(out, "aux_logits", ()))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    stats = {n: b.clone() for n, b in model.named_buffers()}
    return loss.detach(), grads, stats


@pytest.mark.parametrize("name, size", [("resnet20", 32), ("mobilenet_v2", 64), ("googlenet", 80), ("xception", 71)])
def test_grad_checkpointing_gives_the_same_gradients_and_statistics(name, size):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name, num_classes=10).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, labels = torch.randn(4, 3, size, size), torch.randint(0, 10, (4,))
    torch.manual_seed(1)
    plain = _step(model, x, labels)
    model.load_state_dict(state)
    model.set_grad_checkpointing()
    torch.manual_seed(1)
    checkpointed = _step(model, x, labels)
    torch.testing.assert_close(checkpointed[0], plain[0], rtol=0, atol=0)
    assert checkpointed[1].keys() == plain[1].keys()
    for key in plain[1]:
        torch.testing.assert_close(checkpointed[1][key], plain[1][key], rtol=1e-5, atol=1e-6, msg=key)
    for key in plain[2]:  # BatchNorm statistics updated once, not again by the recomputation
        torch.testing.assert_close(checkpointed[2][key], plain[2][key], rtol=0, atol=0, msg=key)
