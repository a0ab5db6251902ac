"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
Network", Sec. 2): the student learns from a trained teacher's softened outputs as well as from the
labels. The teacher is a cnnzoo run's weights (`teacher=PATH` in the recipe); it sees the very images
the student sees in each step, augmentation included (the "consistent" teaching of Beyer et al. 2022).

    loss = (1 - distill_weight) * CE(student, labels) + distill_weight * T^2 * KL(teacher_T || student_T)

where X_T = softmax(logits / T). The T^2 keeps the soft targets' gradients on the labels' scale as T
changes (Hinton Sec. 2)."""
import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F

from ..artifacts.weights import load_trained
from ..data.transforms import meta_normalization
from ..errors import CnnzooError
from ..runtime.execution import ExecPath, prepare


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch."""
    log_p = F.log_softmax(student.float() / temperature, dim=1)
    log_q = F.log_softmax(teacher.float() / temperature, dim=1)
    return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * temperature**2


class Teacher:
    """A trained run's model, frozen, on the student's execution path (BatchNorm folded), taking the
    student's normalised batches: where the two runs' normalisations differ, the images are mapped from
    the student's to the teacher's."""

    def __init__(self, file: str, meta: dict, path: ExecPath):
        model, teacher_meta = load_trained(file)
        if _class_list(teacher_meta) != _class_list(meta):
            raise CnnzooError(f"teacher={file!r} was trained on other classes ({_classes(teacher_meta)}) than this run's data "
                              f"({_classes(meta)}): a teacher must have the student's classes, in the same order")  # fmt: skip
        if teacher_meta["input_size"] != meta["input_size"]:
            raise CnnzooError(f"teacher={file!r} takes {teacher_meta['input_size']}px inputs, this run's are {meta['input_size']}px: "
                              f"a teacher must see the student's images (set input_size={teacher_meta['input_size']})")  # fmt: skip
        self.file, self.model_name = file, teacher_meta["model"]
        self.sha256 = hashlib.sha256(Path(file).read_bytes()).hexdigest()  # a resumed run must have the same teacher
        self.model = prepare(model, path.replace(fold_bn=True))
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.path = path
        self.renormalise = _renormaliser(meta, teacher_meta, file, path.device)
        if self.renormalise is not None and any(m.dim() == 3 and m.shape[-1] != meta["input_size"] for m in
                                                (meta_normalization(meta)[0], meta_normalization(teacher_meta)[0])):  # fmt: skip
            raise CnnzooError(f"teacher={file!r}: the student's and the teacher's per-pixel normalisations differ, at another size than "
                              f"the input ({meta['input_size']}px): give both runs the same normalize= (channel, for example)")  # fmt: skip

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.renormalise is not None:
            x = self.renormalise(x)
        with self.path.autocast():
            return self.model(x).float()

    def describe(self) -> str:
        return f"distilling from {self.file} ({self.model_name}, sha256 {self.sha256[:12]})"


def _class_list(meta: dict) -> list:
    return list(meta.get("classes") or meta.get("class_names") or range(meta["num_classes"]))


def _classes(meta: dict) -> str:
    names = meta.get("class_names") or _class_list(meta)
    return f"{len(names)}: {', '.join(map(str, names[:4]))}{', ...' if len(names) > 4 else ''}"


def _renormaliser(student_meta: dict, teacher_meta: dict, file: str, device: str):
    """x normalised as the student's data -> as the teacher's; None when they agree."""
    (mean_s, std_s), (mean_t, std_t) = meta_normalization(student_meta), meta_normalization(teacher_meta)
    if mean_s.shape == mean_t.shape and torch.equal(mean_s, mean_t) and torch.equal(std_s, std_t):
        return None
    m_s, s_s, m_t, s_t = (t.view(-1, 1, 1) if t.dim() == 1 else t for t in (mean_s, std_s, mean_t, std_t))
    try:
        torch.broadcast_shapes(m_s.shape, m_t.shape)
    except RuntimeError:
        raise CnnzooError(f"teacher={file!r} was normalised per pixel at another size ({tuple(mean_t.shape)}) than this run's "
                          f"images ({tuple(mean_s.shape)}): train the teacher at this run's input size") from None
    scale, shift = (s_s / s_t).to(device), ((m_s - m_t) / s_t).to(device)  # x_t = (x_s * s_s + m_s - m_t) / s_t
    return lambda x: x.float() * scale + shift
