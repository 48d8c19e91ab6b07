"""Command line: ``neurosim demo [--out DIR] [--duration S] [--n N] [--seed K]`` and
``neurosim info`` (versions, devices, which compiled kernels are present)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="neurosim", description="neurosim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="simulate the Vogels-Abbott COBA network and plot it")
    d.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    d.add_argument("--duration", type=float, default=1.0, help="biological time in seconds (default 1)")
    d.add_argument("--n", type=int, default=4000, help="number of neurons (default 4000)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_parser("info", help="versions, devices and which compiled kernels are present")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(info())
        return 0
    if args.command == "demo":
        from .demo import demo
        try:
            s = demo(args.out, args.duration, args.n, args.seed)
        except ValueError as err:
            parser.error(str(err))
        print(f"neurosim demo: COBA network, {s['n']} LIF neurons, {s['duration_s']:g} s biological time on {s['device']}")
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
