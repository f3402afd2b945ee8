"""Scripted peers for interoperability tests (see README.md here).

Stand-ins for independent implementations, written from the captures in
tests/vectors/ and not from trio_dht's code: they encode and decode their
own frames (struct for cs455; the generated protobuf module for minichord)
and route by SYSTEM.md with their own few lines, so a bug in trio_dht's
codec or routing cannot hide in them.

- go_per_message: GoNode and GoRegistry, the seed's one-message-per-
  connection Go port, exactly as its transcript shows.
- java_variants: TextAddressNode and TextAddressRegistry, the cs455 Java
  variant that marshals addresses as text, persistent connections.
- connlog: the connection log every scripted peer writes (who dialled
  whom, frames per connection, closes), for tests to assert the model.
"""
