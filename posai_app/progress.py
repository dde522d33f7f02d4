"""Progress bars for long CLI work: one tqdm bar per phase, fed by (phase, done, total) callbacks."""

from __future__ import annotations

from tqdm import tqdm


class PhaseBars:
    """A progress callback (phase, done, total) that shows one bar per phase on stderr."""

    def __init__(self, unit: str = "item") -> None:
        self.unit = unit
        self._bars: dict[str, tqdm] = {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        bar = self._bars.get(phase)
        if bar is None:
            for other in self._bars.values():
                other.close()
            bar = self._bars[phase] = tqdm(total=total, desc=phase, unit=self.unit, dynamic_ncols=True)
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def __enter__(self) -> PhaseBars:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
