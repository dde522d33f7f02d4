"""Progress bars for long CLI work: one tqdm bar per phase, fed by (phase, done, total) callbacks."""

from __future__ import annotations

import sys

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
            bar = self._bars[phase] = tqdm(
                total=total,
                desc=phase,
                unit=self.unit,
                dynamic_ncols=True,
                # In logs (no terminal) a line every 10 s, not one per update.
                mininterval=0.1 if sys.stderr.isatty() else 10.0,
            )
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # update() honours mininterval; refresh() would not

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def __enter__(self) -> PhaseBars:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
