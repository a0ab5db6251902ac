"""Seeded, stratified train/validation splits (the ResNet paper's 45k/5k split of CIFAR-10's train)."""
import torch


def stratified_split(labels: torch.Tensor, val_size: int | float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of (train, val): every class gives the same share to validation. `val_size` is a count
    (5000: 500 of each of 10 balanced classes) or a fraction."""
    labels = torch.as_tensor(labels)
    classes = torch.unique(labels)
    fraction = val_size / len(labels) if val_size >= 1 else float(val_size)
    g = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in classes.tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = round(len(idx) * fraction)
        val.append(idx[:k])
        train.append(idx[k:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values
