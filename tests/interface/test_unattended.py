"""An unattended registry (``--start``) sets the overlay up again whenever
it changes before it is ready, instead of waiting for its --timeout."""

from __future__ import annotations

import io

import trio
from rich.console import Console
from trio.testing import MockClock

from trio_dht.interface.cli import build_parser
from trio_dht.interface.options import check_registry
from trio_dht.interface.registry_app import RegistryApp
from trio_dht.services.node import MessagingNode
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Registration

LOCAL = "127.0.0.1"
CS455 = get_dialect("cs455")


async def test_a_silent_member_is_dropped_and_the_run_goes_on(mock_clock: MockClock) -> None:
    # The first of three members listens (so it passes the reachability
    # check) but answers no manifest; the registry removes it after the
    # dialled delivery's 10 s and sets up the two others.
    mock_clock.autojump_threshold = 0.01
    args = build_parser().parse_args(
        ["registry", "0", "--host", LOCAL, "--nodes", "3", "--nr", "1", "--start", "100"]
    )
    assert check_registry(args) is None
    console = Console(file=io.StringIO(), width=100, record=True, force_terminal=False)
    app = RegistryApp(args, console)
    status: list[int] = []
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:

            async def registry() -> None:
                status.append(await app.main())
                nursery.cancel_scope.cancel()

            nursery.start_soon(registry)
            await app.registry.listening.wait()
            fake_listener = (await trio.open_tcp_listeners(0, host=LOCAL))[0]
            fake_port = fake_listener.socket.getsockname()[1]
            fake = await trio.open_tcp_stream(LOCAL, app.registry.port)
            await fake.send_all(CS455.encode(Registration(LOCAL, fake_port)))
            for _ in range(2):
                nursery.start_soon(MessagingNode(LOCAL, app.registry.port, CS455).run)
            await trio.sleep_forever()
    await fake.aclose()
    await fake_listener.aclose()
    assert status == [0]
    result = app.results[-1]
    assert result.correct and len(result.nodes) == 2
    text = console.export_text()
    assert "answered no manifest within 10 s: removed" in text
