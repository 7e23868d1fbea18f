"""Learned win probabilities: causal features, purged cross-validation, calibration, a registry.

The Beta-Binomial priors of :mod:`app.risk.priors` stay the default and the fallback; a model
here is used only once it has beaten them out of sample and been promoted.
"""
