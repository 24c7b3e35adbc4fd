# `make run` and `make test` set up a fresh machine: a .venv with requirements.txt (the
# app), and for `make test` and `make bench` requirements-dev.txt too (tests, checks and
# bench/ tools); then start the app on the bundled model (`make run PORT=8502` for another
# port than Streamlit's 8501), or run the checks and the test suite.
# `make bench` measures (see bench/run.py).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LLAMA_CPP_VERSION := $(shell sed -n 's/^llama-cpp-python==//p' requirements.txt)

# llama-cpp-python ships only as source. Built with its default -march=native it
# segfaults on these CPUs (ggml's AMX matmul), so on x86-64 it is built for AVX2,
# once per machine, into a wheelhouse that pip's own cache cannot shadow.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
WHEELHOUSE := $(HOME)/.cache/sagemaker-chat/wheels-avx2
else
LLAMA_CMAKE_ARGS :=
WHEELHOUSE := $(HOME)/.cache/sagemaker-chat/wheels-native
endif

.PHONY: run test lint bench
run: $(VENV)/.installed
	$(BIN)/streamlit run app.py $(if $(PORT),--server.port $(PORT))

test: $(VENV)/.installed-dev lint
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

# Every figure against its baseline: bench/results.json, results.md, the README's
# Performance table and plots. QUICK=1: a smoke check under 2 minutes, in bench/quick/.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run $(if $(QUICK),--quick)

$(VENV)/.installed: requirements.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --no-deps --no-cache-dir \
			-w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(BIN)/pip install --find-links $(WHEELHOUSE) -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --find-links $(WHEELHOUSE) -r requirements-dev.txt
	touch $@
