"""Feast's module paths under `feast.infra` that its templates import from (its `file` and
`spark` offline stores' sources), each the featurestore class of the same name: a Feast repo
runs with `feast` renamed to `featurestore` and nothing else changed."""
