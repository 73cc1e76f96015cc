# Two commands matter: `make demo` (the main job) and `make test` (every test).
# Both bootstrap what they need (venv, npm package of the MicroPython VM).
.PHONY: demo test bench bootstrap typecheck

bootstrap:
	@scripts/bootstrap

demo: bootstrap
	.venv/bin/vitale-sim demo

test: bootstrap
	.venv/bin/python -m pytest

bench: bootstrap
	.venv/bin/vitale-sim bench crypto

typecheck: bootstrap
	.venv/bin/mypy
