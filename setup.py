"""Install hook: compile the event kernels of ``kernels/`` while installing (see
``neurosim/_build.py``). A kernel that fails to build never fails the install: neurosim warns
once at run time and uses its pure-JAX reference instead. ``NEUROSIM_BUILD_KERNELS=0`` skips
the build (the Makefile builds them itself, with ``python -m neurosim._build``)."""
import importlib.util
import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _load_builder():
    spec = importlib.util.spec_from_file_location("neurosim_build", HERE / "neurosim" / "_build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BuildWithKernels(build_py):
    def run(self):
        super().run()
        if os.environ.get("NEUROSIM_BUILD_KERNELS", "1") == "0":
            return
        editable = getattr(self, "editable_mode", False)
        out = HERE / "neurosim" / "_lib" if editable else Path(self.build_lib) / "neurosim" / "_lib"
        try:
            _load_builder().build(out)
        except Exception as err:  # never fail the install over a kernel
            print(f"neurosim: kernels not built ({err}); the pure-JAX reference will be used")


setup(cmdclass={"build_py": BuildWithKernels})
