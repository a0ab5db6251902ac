"""Local response normalisation as the AlexNet paper writes it (Krizhevsky et al. 2012, Sec. 3.3).

    b[i] = a[i] / (k + alpha * sum_{j=i-n/2}^{i+n/2} a[j]^2) ** beta

torch.nn.LocalResponseNorm (like Caffe) divides alpha by n inside the sum. With the paper's
alpha = 1e-4 that module normalises five times too weakly; this one follows the paper.
"""
import torch.nn.functional as F
from torch import Tensor, nn


class LocalResponseNorm(nn.Module):
    """Cross-channel LRN with the paper's scaling of alpha (defaults: AlexNet's k=2, n=5, alpha=1e-4, beta=0.75)."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        # F.local_response_norm averages the squares over the window (alpha / n); undo the 1/n.
        return F.local_response_norm(x, self.size, alpha=self.alpha * self.size, beta=self.beta, k=self.k)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k} (paper formula)"

    @classmethod
    def from_caffe(cls, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> "LocalResponseNorm":
        """An LRN given in Caffe's convention (alpha already divided by n), as GoogLeNet's release uses."""
        return cls(size, alpha / size, beta, k)
