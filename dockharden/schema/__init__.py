"""The JSON Schemas of layers, daemon.json, managed.json and generation records (package data), and the fast
validators generated from them when the package is built (_fast_*.py, not in git). Pure data.
"""
