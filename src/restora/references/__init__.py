"""Supervised restoration models that zero-shot methods are compared with (trained for one degradation,
not priors): their architectures are restora's own code, their weights read from the user's installed
packages (:class:`restora.installed.PackageFile`), never shipped or downloaded."""
