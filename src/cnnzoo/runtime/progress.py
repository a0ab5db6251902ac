"""A progress bar for long work, on stderr: done/total, rate and ETA. No dependency."""
import sys
import time


class Progress:
    def __init__(self, total: int, label: str = "", unit: str = "it", stream=None, enabled: bool | None = None):
        self.total, self.label, self.unit = total, label, unit
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done, self.start, self.note = 0, time.perf_counter(), ""

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        self.note = note
        if self.enabled:
            self._draw()

    def _draw(self) -> None:
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        eta_text = f"{eta:4.0f}s" if eta != float("inf") else "   ?"
        line = f"\r{self.label} [{bar}] {self.done}/{self.total} {rate:.2f} {self.unit}/s ETA {eta_text} {self.note}"
        self.stream.write(line[:160].ljust(100))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
