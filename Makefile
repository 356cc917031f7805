# Everyday targets.  ./run.sh installs everything first; these assume the .venv exists.
PYTHON ?= .venv/bin/python
PE_COUNT ?= 64

.PHONY: help demo test test-all rtl synth bench

help:
	@echo "make demo      main job on the embedded default model"
	@echo "make test      default test suite (pytest tests verif, 2 workers)"
	@echo "make test-all  everything, slow tests included"
	@echo "make rtl       python -m rtl_gen --pe-count \$$(PE_COUNT)"
	@echo "make synth     area / timing / power report in synth/out/ (LIBERTY=/path/to/cells.lib for your own cells)"
	@echo "make bench     benchmarks, results in bench/results/"

demo:
	$(PYTHON) bench/search_speed.py --repeats 1

test:
	$(PYTHON) -m pytest -n 2

test-all:
	$(PYTHON) -m pytest -n 2 -m "slow or not slow"

rtl:
	$(PYTHON) -m rtl_gen --pe-count $(PE_COUNT)

synth:
	$(MAKE) -C synth PYTHON=$(abspath $(PYTHON)) $(if $(LIBERTY),LIBERTY=$(abspath $(LIBERTY)))

bench:
	$(PYTHON) bench/search_speed.py
