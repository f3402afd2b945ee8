"""Conformance checking and traffic capture for any implementation of the overlay.

``frames`` and ``capture`` are sans-IO (split a byte stream into frames with
offsets; name messages and fields as the wire vectors do); ``proxy`` is the
sniffing TCP proxy; the node and registry checkers grade a foreign
implementation case by case.
"""
