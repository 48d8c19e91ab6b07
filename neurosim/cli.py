"""Command line: ``neurosim demo [--out DIR] [--duration T] [--n N] [--seed K]`` and
``neurosim info`` (versions, devices, which compiled kernels are present).

Times take a unit, ``--duration 1s`` or ``--duration 500ms``; a bare number means milliseconds,
as everywhere in the Python API (``simulate(net, duration=500.0)`` is 500 ms), which takes the same
strings (``simulate(net, "1s")``).
"""
from __future__ import annotations

import argparse
import sys

from ._checks import time_text

_MAX_DEMO_N = 2_000_000


def duration_ms(text: str) -> float:
    """``"1s"`` -> 1000.0, ``"500ms"`` -> 500.0, ``"250"`` -> 250.0 (bare numbers are ms); an
    ``argparse.ArgumentTypeError`` for anything else, or a duration that is not positive. The
    parser is ``simulate(duration=...)``'s (:func:`neurosim._checks.time_text`)."""
    try:
        return time_text(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _neuron_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of neurons, got {text!r}") from None
    if not 10 <= n <= _MAX_DEMO_N:
        raise argparse.ArgumentTypeError(f"must be between 10 and {_MAX_DEMO_N:,} neurons, got {n:,}")
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="neurosim", description="neurosim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="simulate the Vogels-Abbott COBA network and plot it")
    d.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    d.add_argument("--duration", type=duration_ms, default=1000.0,
                   help="biological time with a unit, e.g. 1s or 500ms; a bare number is ms (default 1s)")
    d.add_argument("--n", type=_neuron_count, default=4000, help="number of neurons (default 4000)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_parser("info", help="versions, devices and which compiled kernels are present")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(info())
        return 0
    if args.command == "demo":
        from .demo import demo
        try:
            s = demo(args.out, args.duration / 1000.0, args.n, args.seed)
        except ValueError as err:
            parser.error(str(err))
        except OSError as err:
            parser.error(f"--out {args.out!r}: cannot write there ({err.strerror or err})")
        except MemoryError:
            parser.error(f"--n {args.n:,}: the network does not fit in this machine's memory; choose a smaller --n")
        print(f"neurosim demo: COBA network, {s['n']} LIF neurons, {s['duration_s']:g} s ({1000 * s['duration_s']:g} ms) "
              f"biological time on {s['device']}")
        print(f"  rates: E {s['rate_e_hz']:.2f} Hz, I {s['rate_i_hz']:.2f} Hz; ISI CV (E) {s['cv_isi_e']:.2f}")
        print(f"  build {s['build_s']:.2f} s, compile {s['compile_s']:.2f} s, run {s['run_s']:.2f} s "
              f"(real-time factor {s['rtf']:.3f})")
        print(f"  wrote {args.out}/raster.png and {args.out}/summary.json")
    return 0


def info() -> str:
    """A plain-text summary: versions, devices, each compiled kernel library and whether it loads."""
    import jax

    from . import __version__, _build, _kernels

    lines = [f"neurosim {__version__}, jax {jax.__version__}, devices: {', '.join(str(d) for d in jax.devices())}",
             f"compiled kernels ({_build.LIB}){'' if _kernels.ENABLED else ': disabled by NEUROSIM_KERNELS=off'}:"]
    sources = [(p.stem, "cpu") for p in sorted((_build.KERNELS / "cpu").glob("*.cc"))]
    sources += [(p.stem, "cuda") for p in sorted((_build.KERNELS / "cuda").glob("*.cu"))]
    for name, platform in sources:
        path = _build.library_path(name, platform)
        state = "built" if path.exists() else "missing (run `make kernels` or `python -m neurosim._build`)"
        lines.append(f"  {name:<10} {platform:<5} {state}")
    if not sources:  # an installed wheel: no sources, only what was built
        lines += [f"  {p.name} built" for p in sorted(_build.LIB.glob("*.so"))] or ["  none"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
