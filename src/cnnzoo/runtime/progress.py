"""A progress bar for long work, on stderr: done/total, rate and ETA. No dependency."""
import sys
import time


def duration(seconds: float) -> str:
    """A wait as people read it: "45 s", "12 min", "2h05m"."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


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
        eta_text = duration(eta)
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
