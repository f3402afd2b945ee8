"""trio_dht: a Chord-like overlay messaging system on trio."""

__version__ = "0.1.0"
