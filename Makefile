# Everyday targets.  ./run.sh installs everything first; these assume the .venv exists.
PYTHON ?= .venv/bin/python
PE_COUNT ?= 64

.PHONY: help demo test test-all rtl synth bench quality

help:
	@echo "make demo      main job on the embedded default model (DEMO_ARGS='--model resnet8 ...')"
	@echo "make test      default test suite (pytest tests verif, 2 workers)"
	@echo "make test-all  everything, slow tests included"
	@echo "make rtl       python -m rtl_gen --pe-count \$$(PE_COUNT)"
	@echo "make synth     area / timing / power report in synth/out/ (LIBERTY=/path/to/cells.lib for your own cells)"
	@echo "make bench     speed benchmarks (search, MiniLM search, generation), results in bench/results/"
	@echo "make quality   accuracy of every model under every method (hours), bench/results/quality.json"

demo:
	$(PYTHON) demo.py $(DEMO_ARGS)

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
	$(PYTHON) bench/search_minilm.py
	$(PYTHON) bench/gen_time.py

quality:
	$(PYTHON) bench/quality.py
