"""optarena: fair, fast optimizer comparisons."""
