"""What a sweep returns: one row per instance (its parameters, its seed, its measures), as a
pandas DataFrame where pandas is installed and a numpy record array otherwise, and the plots
people look at: a heat map of a measure over two swept parameters (averaged over seeds and any
other axis)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .design import Design


@dataclass
class SweepResult:
    """``columns[name]`` (n,) per measure (``"E.rate"``, ``"E.cv"``, ...; ``"EE.weights_mean"``;
    a ``reduce`` output by its own name); ``series[pop]`` (n, n_bins) the population spike
    count per ``psd_bin_ms``; ``design`` the instances (their parameter values and seeds)."""

    design: Design
    columns: dict
    series: dict
    populations: tuple
    dt: float
    duration: float
    psd_bin_ms: float
    batch_size: int
    n_devices: int
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.design.n

    def table(self, pandas: bool | None = None):
        """One row per instance: ``instance``, each axis's value (as given; an array value by its
        index), ``seed``, then every measure. A ``pandas.DataFrame`` when pandas is importable
        (``pandas=False``: a numpy record array)."""
        cols = {"instance": np.arange(self.n)}
        cols.update({p: self.design.labels[p] for p in self.design.paths})
        cols["seed"] = self.design.seeds
        cols.update(self.columns)
        if pandas is not False:
            try:
                import pandas as pd
            except ImportError:
                if pandas:
                    raise
            else:
                return pd.DataFrame(cols)
        return np.rec.fromarrays(list(cols.values()), names=list(cols))

    def grid(self, measure: str, x: str, y: str):
        """``(xs, ys, values)``: the mean of ``measure`` over the instances at each (x, y) pair
        of axis values, ``values[j, i]`` at ``ys[j], xs[i]`` (NaN where none ran)."""
        if measure not in self.columns:
            raise ValueError(f"no measure {measure!r}; measures: {sorted(self.columns)}")
        for a in (x, y):
            if a not in self.design.paths:
                raise ValueError(f"{a!r} is not an axis of this sweep; axes: {list(self.design.paths)}")
        lx, ly = self.design.labels[x], self.design.labels[y]
        xs, ys = np.unique(lx), np.unique(ly)
        out = np.full((ys.size, xs.size), np.nan)
        v = self.columns[measure]
        for j, yv in enumerate(ys):
            for i, xv in enumerate(xs):
                sel = (lx == xv) & (ly == yv) & np.isfinite(v)
                if np.any(sel):
                    out[j, i] = float(np.mean(v[sel]))
        return xs, ys, out

    def heatmap(self, measure: str, x: str, y: str, ax=None, cmap: str = "viridis", *, labels=None):
        """A heat map of ``measure`` over the axes ``x`` and ``y`` (the mean over seeds and any
        other axis). Draws into ``ax`` if given; returns the matplotlib Figure.

        The axes and the colour bar are labelled with what they are and their unit
        (``neurons.E.v_th`` -> ``E: threshold v_th (mV)``, ``E.rate`` -> ``E: firing rate
        (Hz)``: ``neurosim.plot.labels``); a name the table does not know is shown as it is.
        ``labels`` maps an axis path or the measure to a label of your own (a weight's unit,
        say, which is the synapse's: pA, nS or mV)."""
        from matplotlib.figure import Figure

        from neurosim.plot.labels import measure_label, param_label

        labels = {} if labels is None else labels
        if not isinstance(labels, dict):
            raise TypeError(f"heatmap: labels must be a dict of axis path or measure -> label, got {type(labels).__name__}")
        stray = sorted(set(labels) - {x, y, measure})
        if stray:
            raise ValueError(f"heatmap: labels names {stray}, which is neither x={x!r}, y={y!r} nor the measure {measure!r}")
        xs, ys, values = self.grid(measure, x, y)
        if ax is None:
            fig = Figure(figsize=(5.6, 4.2), layout="constrained")
            ax = fig.subplots()
        else:
            fig = ax.figure
        im = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap,
                       extent=(-0.5, xs.size - 0.5, -0.5, ys.size - 0.5))
        ax.set_xticks(range(xs.size), [f"{v:g}" for v in xs], fontsize=7, rotation=45)
        ax.set_yticks(range(ys.size), [f"{v:g}" for v in ys], fontsize=7)
        ax.set(xlabel=labels.get(x, param_label(x)), ylabel=labels.get(y, param_label(y)))
        ax.set_title(measure, fontsize="small")      # the column's name in .table()
        bar = fig.colorbar(im, ax=ax)
        bar.set_label(labels.get(measure, measure_label(measure)))
        return fig
