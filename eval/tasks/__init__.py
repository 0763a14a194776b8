"""Evaluation tasks: one module each (see :mod:`sleeplm.eval.registry`)."""
