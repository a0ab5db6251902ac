"""Evaluating a trained model on labelled images it has never seen: a plain folder of `<class>/` folders
(no train split), matched to the checkpoint's classes by name and fed with the checkpoint's own
preprocessing; checked against a direct computation on the same files."""
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnzoo.cli import main
from cnnzoo.data.decoding import decode
from cnnzoo.data.transforms import meta_transform
from cnnzoo.eval.options import EvalOptions
from cnnzoo.eval.runner import evaluate_checkpoints
from cnnzoo.train import load_trained

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights" / "cifar10-resnet20" / "model.safetensors"  # the committed ResNet-20 (CIFAR-10 classes)


@pytest.fixture
def test_folder(tmp_path, request) -> Path:
    """DIR/cat/*.png and DIR/dog/*.png: real CIFAR-10 photos where the shared data are, noise otherwise."""
    try:
        cifar = request.getfixturevalue("cifar10_root")
    except pytest.skip.Exception:
        cifar = None
    root = tmp_path / "my-test-images"
    for k, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        if cifar is not None:
            for f in sorted((cifar / "train" / cls).iterdir())[-12:]:
                shutil.copy(f, root / cls / f.name)
        else:
            g = torch.Generator().manual_seed(k)
            for i in range(12):
                pixels = torch.randint(0, 256, (32, 32, 3), generator=g, dtype=torch.uint8).numpy()
                Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def _direct(root: Path) -> tuple[float, float]:
    """Mean NLL and top-1 error of the committed model on the folder, computed image by image."""
    model, meta = load_trained(WEIGHTS)
    transform, index = meta_transform(meta), {c: i for i, c in enumerate(meta["classes"])}
    nll, wrong, n = 0.0, 0, 0
    for cls in sorted(p.name for p in root.iterdir()):
        for f in sorted((root / cls).iterdir()):
            with torch.no_grad():
                logits = model(transform(decode(str(f))).unsqueeze(0))
            nll += F.cross_entropy(logits, torch.tensor([index[cls]])).item()
            wrong += int(logits.argmax(1).item() != index[cls])
            n += 1
    return nll / n, 100 * wrong / n


def test_a_checkpoint_on_a_plain_folder_of_labelled_images(test_folder):
    result = evaluate_checkpoints([WEIGHTS], EvalOptions(data=test_folder, workers=0))
    metrics = result.members[0].metrics
    ref_loss, ref_top1 = _direct(test_folder)
    assert metrics.count == 24 and metrics.loss == pytest.approx(ref_loss, abs=1e-4)
    assert metrics.top1_error == pytest.approx(ref_top1)
    assert metrics.confusion.shape == (10, 10)  # two of the ten classes, scored against all ten outputs
    rows = metrics.confusion.sum(1)
    assert rows[3] == rows[5] == 12 and rows.sum() == 24  # cat is class 3 and dog class 5 of CIFAR-10, by name
    assert result.path.precision == "fp32" and "2 of its 10 classes" in result.data.description


def test_eval_on_a_labelled_folder_from_the_command_line(capsys, test_folder, tmp_path):
    code = main(["eval", "--checkpoint", str(WEIGHTS), "--data", str(test_folder), "--workers", "0",
                 "--confusion", str(tmp_path / "c.png")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "class folders at" in out and "24 images" in out and (tmp_path / "c.png").is_file()
    ref_loss, _ = _direct(test_folder)
    assert f"loss {ref_loss:.4f}" in out
    # readable class names work as folder names too; a class the checkpoint does not know is an error
    (test_folder / "zebra").mkdir()
    Image.new("RGB", (32, 32)).save(test_folder / "zebra" / "z.png")
    assert main(["eval", "--checkpoint", str(WEIGHTS), "--data", str(test_folder), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "'zebra' is not one of the model's 10 classes (airplane, automobile" in err and len(err.strip().splitlines()) == 1


def test_ten_crops_and_bf16_on_a_labelled_folder_stay_close_to_one_fp32_crop(test_folder):
    one = evaluate_checkpoints([WEIGHTS], EvalOptions(data=test_folder, workers=0)).members[0].metrics
    ten = evaluate_checkpoints([WEIGHTS], EvalOptions(data=test_folder, workers=0, crops=10)).members[0].metrics
    fast = evaluate_checkpoints([WEIGHTS], EvalOptions(data=test_folder, workers=0, precision="bf16")).members[0].metrics
    assert ten.count == one.count == fast.count == 24
    assert ten.loss != one.loss and abs(ten.loss - one.loss) < 0.5  # other views of the same images
    assert fast.loss == pytest.approx(one.loss, rel=0.05)  # bf16: the same model to 8 bits of mantissa
