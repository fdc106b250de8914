# Thin wrappers around dev.sh, which does the setup (see README).
.PHONY: setup demo test test-all lint bench-models
setup: ; bash dev.sh setup
demo: ; bash dev.sh demo
test: ; bash dev.sh test
test-all: ; bash dev.sh test -m "not gpu"
lint: ; bash dev.sh lint
bench-models: ; bash dev.sh bench-models
