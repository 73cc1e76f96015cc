# Two commands matter: `make demo` (the main job) and `make test` (every test).
# Both bootstrap what they need (venv, npm package of the MicroPython VM).
.PHONY: demo test bench bootstrap typecheck

bootstrap:
	@scripts/bootstrap

demo: bootstrap
	.venv/bin/vitale-sim demo

# One worker per core (at most 4), a test file per worker at a time: module fixtures (emulators, VMs) start once.
test: bootstrap
	.venv/bin/python -m pytest -n auto --maxprocesses 4 --dist loadfile

bench: bootstrap
	.venv/bin/vitale-sim bench crypto

typecheck: bootstrap
	.venv/bin/mypy
