"""The run's result lives in the protocol layer (the registry core builds
it); re-exported here for the layers above."""

from trio_dht.protocol.report import NodeTotals, RunResult

__all__ = ["NodeTotals", "RunResult"]
