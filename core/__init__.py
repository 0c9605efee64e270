"""The service's domain, shared by api/ and worker/: settings, the broker's names, and the
jobs themselves (a request parsed and checked against the limits, stored, planned into
shards). Torch-free: the API process imports it."""
