"""Seeded, stratified train/validation splits (the ResNet paper's 45k/5k split of CIFAR-10's train)."""
import math

import torch


def stratified_split(labels: torch.Tensor, val_size: int | float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of (train, val): every class gives the same share to validation. `val_size` is a count
    (exactly that many: 5000 is 500 of each of 10 balanced classes; the shares' remainders go to the
    classes with the largest fractions) or a fraction (each class's share rounded)."""
    labels = torch.as_tensor(labels)
    classes = torch.unique(labels).tolist()
    members = [torch.nonzero(labels == c).flatten() for c in classes]
    fraction = val_size / len(labels) if val_size >= 1 else float(val_size)
    if val_size >= 1:
        exact = [len(idx) * fraction for idx in members]
        counts = [math.floor(e) for e in exact]
        by_remainder = sorted(range(len(classes)), key=lambda i: (-(exact[i] - counts[i]), i))
        for i in by_remainder[: round(val_size) - sum(counts)]:
            counts[i] += 1
    else:
        counts = [round(len(idx) * fraction) for idx in members]
    g = torch.Generator().manual_seed(seed)
    train, val = [], []
    for idx, k in zip(members, counts):
        idx = idx[torch.randperm(len(idx), generator=g)]
        val.append(idx[:k])
        train.append(idx[k:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values
