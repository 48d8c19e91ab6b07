"""The main job: the COBA benchmark network, simulated, summarised and plotted.

``run_coba`` is also what ``benchmarks/coba.py`` times for neurosim.
"""
from __future__ import annotations

import json
import os
import time

import jax

from . import analysis, plot
from .builders import coba
from .network import Spikes, simulate


def device_name() -> str:
    d = jax.devices()[0]
    if d.platform == "cpu":
        return f"cpu ({os.cpu_count()} cores)"
    return f"{d.platform} ({getattr(d, 'device_kind', d.platform)})"


def run_coba(n: int = 4000, duration_s: float = 1.0, seed: int = 0, device: str | None = None,
             dt_ms: float = 0.1, record: bool = False, p: float | None = None) -> dict:
    """Build and run the COBA benchmark; return timings and rates (and the spikes if ``record``).

    ``device``: None (JAX's default), "cpu" or "gpu". Compilation is timed apart from the run.
    """
    if device is not None:
        if device not in ("cpu", "gpu"):
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        try:
            jax.config.update("jax_default_device", jax.devices(device)[0])
        except RuntimeError as err:
            raise ValueError(f"device {device!r} is not available here: {err}") from None
    t0 = time.perf_counter()
    net = coba(n, seed=seed, p=p)
    build_s = time.perf_counter() - t0
    res = simulate(net, duration_s * 1e3, dt_ms, key=seed, monitors=[Spikes("neurons")], progress=False)
    times, ids = res.spikes["neurons"]
    n_e = net.projections[0].conn.n_pre
    exc = ids < n_e
    t_stop = duration_s * 1e3
    out = {
        "tool": "neurosim",
        "n": n,
        "duration_s": duration_s,
        "build_s": build_s + res.timings["build_s"],
        "compile_s": res.timings["compile_s"],
        "run_s": res.timings["run_s"],
        "rtf": res.timings["run_s"] / duration_s,
        "rate_e_hz": analysis.mean_rate(times[exc], ids[exc], n_e, 0.0, t_stop),
        "rate_i_hz": analysis.mean_rate(times[~exc], ids[~exc] - n_e, n - n_e, 0.0, t_stop),
        "cv_isi_e": analysis.mean_isi_cv(times[exc], ids[exc], n_e),
        "device": device_name(),
        "version": __import__("neurosim").__version__,
        "jax": jax.__version__,
    }
    if record:
        out["_spikes"] = (times, ids, n_e)
    return out


def demo(out_dir: str = "out/demo", duration_s: float = 1.0, n: int = 4000, seed: int = 0) -> dict:
    """Run COBA, write ``raster.png`` (``raster_figure``) and ``summary.json`` into
    ``out_dir``, return the summary."""
    os.makedirs(out_dir, exist_ok=True)
    s = run_coba(n=n, duration_s=duration_s, seed=seed, record=True)
    times, ids, n_e = s.pop("_spikes")
    fig = raster_figure(times, ids, n_e, n, duration_s, s["rate_e_hz"], s["rate_i_hz"])
    fig.savefig(os.path.join(out_dir, "raster.png"), dpi=120, format="png")
    summary = {k: s[k] for k in ("rate_e_hz", "rate_i_hz", "cv_isi_e", "build_s", "compile_s", "run_s", "rtf", "device")}
    summary.update(n=n, duration_s=duration_s, seed=seed)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def raster_figure(times, ids, n_e: int, n: int, duration_s: float, rate_e_hz: float, rate_i_hz: float):
    """The demo's figure: the spikes of every neuron (y: neuron index, the E band below the I
    band, each named at the right) above the E and I population rates (1-ms bins, 2-ms Gaussian
    smoothing). The rate axis is scaled to the rates after the first 50 ms (a quarter of the run
    if shorter): the start from rest fires ~110 Hz for a millisecond or two against a steady
    ~22 Hz, and the panel notes the clipped peak (``neurosim.plot.raster_with_rate``)."""
    t_stop = duration_s * 1e3
    exc = ids < n_e
    by_pop = {"E": (times[exc], ids[exc], n_e), "I": (times[~exc], ids[~exc] - n_e, n - n_e)}
    fig, (ax_r, _) = plot.raster_with_rate(by_pop, 0.0, t_stop, bin_ms=1.0, smooth_ms=2.0,
                                           transient_ms=min(50.0, t_stop / 4))
    ax_r.set_title(f"COBA, {n} LIF neurons, {duration_s:g} s (E {rate_e_hz:.1f} Hz, I {rate_i_hz:.1f} Hz)")
    return fig
