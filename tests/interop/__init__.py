"""Interoperability tests against scripted peers (tests/peers/).

A package so that pytest puts tests/ on sys.path and ``import peers`` works.
"""
