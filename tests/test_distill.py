"""Knowledge distillation: Hinton's loss and gradient, a teacher's outputs reaching the student, and
teachers that cannot teach this run refused before any step."""
import pytest
import torch
from safetensors.torch import load_file

from cnnzoo import CnnzooError
from cnnzoo.train import CheckpointError, StopRequested, get_recipe, load_trained, loop, save_weights
from cnnzoo.train.distill import Teacher, _renormaliser, distillation_loss
from helpers import quick_run


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_the_loss_gradient_is_hintons(temperature):
    """Hinton et al. 2015, Sec. 2: dC/dz_i = (q_i - p_i) / T for the soft targets' cross-entropy; times
    the T^2 the loss carries, T (q - p), per image of the batch."""
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 10, requires_grad=True), torch.randn(5, 10) * 3
    distillation_loss(student, teacher, temperature).backward()
    q, p = torch.softmax(student.detach() / temperature, 1), torch.softmax(teacher / temperature, 1)
    torch.testing.assert_close(student.grad, temperature * (q - p) / 5)
    assert distillation_loss(teacher, teacher, temperature).abs() < 1e-6


def test_images_are_renormalised_for_a_teacher_trained_with_other_statistics():
    raw = torch.rand(2, 3, 8, 8)
    mean_s, std_s = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.3])
    mean_t, std_t = torch.rand(3, 8, 8), torch.tensor([0.1, 0.2, 0.3])  # per pixel, as the ResNet paper's CIFAR nets
    s = {"normalization": {"mean": mean_s.tolist(), "std": std_s.tolist()}}
    t = {"normalization": {"mean": mean_t.tolist(), "std": std_t.tolist()}}
    to_teacher = _renormaliser(s, t, "t.safetensors", "cpu")
    per_channel = lambda v: v.view(3, 1, 1)  # noqa: E731
    student_view = (raw - per_channel(mean_s)) / per_channel(std_s)
    torch.testing.assert_close(to_teacher(student_view), (raw - mean_t) / per_channel(std_t))
    assert _renormaliser(s, s, "s.safetensors", "cpu") is None
    with pytest.raises(CnnzooError, match="per pixel at another size"):
        _renormaliser({"normalization": {"mean": torch.rand(3, 4, 4).tolist(), "std": [1.0] * 3}}, t, "t.safetensors", "cpu")






def test_the_teacher_sees_the_students_very_batches(tmp_path, two_step_weights, monkeypatch):
    """Augmented and Cutout batches reach the teacher as they reach the student; a run stopped with one
    teacher does not resume with another."""
    seen = {"student": [], "teacher": []}
    build = loop.build_model

    def recording_build(*args):
        model, options = build(*args)
        model.register_forward_pre_hook(lambda _, inputs: seen["student"].append(inputs[0].clone()))
        return model, options

    logits = Teacher.logits
    monkeypatch.setattr(loop, "build_model", recording_build)
    monkeypatch.setattr(Teacher, "logits", lambda self, x: (seen["teacher"].append(x.clone()), logits(self, x))[1])
    recipe = get_recipe("short").override(batch_size=64, augment="cutout", teacher=str(two_step_weights), checkpoint_every=1)
    with pytest.raises(StopRequested):
        quick_run(tmp_path / "s", recipe, max_steps=2)
    assert len(seen["teacher"]) == 2 and all(torch.equal(a, b) for a, b in zip(seen["student"], seen["teacher"]))
    assert (seen["teacher"][0] == 0).float().mean() > 0.05  # Cutout's squares (0: the mean) are in what the teacher saw

    model, meta = load_trained(two_step_weights)
    with torch.no_grad():
        model.fc.bias.add_(1.0)
    save_weights(tmp_path / "other.safetensors", model, meta)
    with pytest.raises(CheckpointError, match="teacher: another file"):
        quick_run(tmp_path / "s", recipe.override(teacher=str(tmp_path / "other.safetensors")), resume=True)


@pytest.mark.heavy(8)
def test_a_student_learns_its_teachers_answers_not_the_labels(tmp_path, two_step_weights):
    """A teacher that answers 3 to every image; a student trained on its soft targets alone
    (distill_weight=1) answers 3 too. A teacher of other classes is refused before any step."""
    recipe = get_recipe("short").override(epochs=1, batch_size=256)
    weights = two_step_weights
    model, meta = load_trained(weights)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.arange(10).eq(3).float() * 10)
    save_weights(tmp_path / "threes.safetensors", model, meta)

    student = recipe.override(batch_size=64, teacher=str(tmp_path / "threes.safetensors"), distill_weight=1.0, distill_temperature=1.0)
    quick_run(tmp_path / "student", student)
    learned, _ = load_trained(tmp_path / "student" / "model.safetensors")
    images = torch.randn(32, 3, meta["input_size"], meta["input_size"])
    assert (learned(images).argmax(1) == 3).float().mean() > 0.9
    assert set(load_file(tmp_path / "student" / "model.safetensors")) == set(load_file(weights))

    save_weights(tmp_path / "other.safetensors", model, {**meta, "classes": meta["classes"][::-1]})
    with pytest.raises(CnnzooError, match="other classes"):
        quick_run(tmp_path / "refused", recipe.override(teacher=str(tmp_path / "other.safetensors")))
    assert not (tmp_path / "refused" / "checkpoint.pt").exists()
    with pytest.raises(CnnzooError, match="distill_weight=0"):
        recipe.override(teacher=str(weights), distill_weight=0.0).validated()
