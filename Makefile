# Two commands do all set-up on a fresh clone (README):
#   make dev    install, initialise SQLite + keys + demo data, serve provider and demo RP
#   make test   install everything the suite needs, then run the whole suite
.PHONY: dev test bench

dev:
	bash scripts/dev.sh

test:
	bash scripts/test.sh

bench:
	bash bench/run.sh
