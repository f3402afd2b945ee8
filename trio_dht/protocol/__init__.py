"""The sans-IO protocol core: the registry's and the node's protocol logic as
plain state machines.

Why this layer exists: which message is legal, from which connection, in
which phase, used to be spread over flags inside two large service classes,
and every decoded message was trusted. Here it is decided in one place per
role (``rules``), by objects that do no I/O and read no clock: the services
feed them events (a connection opened or closed with its role, a message on
a connection, a command, the time) and carry out the actions they return
(send, dial, close with a reason, say a line, the run's result). So the
whole protocol can be tested by feeding events and reading actions, with no
sockets and no clock.

Data packets never come through here: they stay on the services' batched
synchronous path. The node core owns the counters that path updates; the
registry core sees the nodes' reports of them.

Modules:
- ``events``: the events in and the actions out, shared by both roles;
- ``errors``: Local vs Remote protocol errors (whose fault it is);
- ``rules``: the phase enums and the one table of who may say what;
- ``manifest``: checking a received manifest for meaning;
- ``registry_core`` / ``registry_members`` / ``registry_run``: the registry;
- ``node_core``: the node's control plane.
"""
