"""One module or package per command verb, each exposing the one function its CLI calls."""
