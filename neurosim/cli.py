"""Command line: ``neurosim demo [--out DIR] [--duration S] [--n N] [--seed K]``."""
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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
