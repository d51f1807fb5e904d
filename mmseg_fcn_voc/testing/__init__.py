# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Baselines for tests and benchmarks (not used by the registered components)."""
from .plain_fcn8s import PlainFCN8s

__all__ = ['PlainFCN8s']
