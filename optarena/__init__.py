"""optarena: the command line (`optarena ...`) and the Python HTTP client (`optarena.client`)."""
