"""Whether a node's load report may enter the run's figures.

A load report is a node's own word about its links and deliveries. The
registry cannot check it packet by packet, but it refuses what cannot be
true before it reaches a figure: a report not from the node's own session,
links that are not the entries of the manifest the registry sent that node,
negative counts, more deliveries than the node reported received, more
packets forwarded than it reported sent and relayed. A refused report is
logged and leaves the node's earlier one (or "unknown") in place.
"""

from __future__ import annotations

import logging

from trio_dht.protocol.events import Log
from trio_dht.protocol.members import Member
from trio_dht.protocol.rules import Sender
from trio_dht.wire.messages import LoadReport, NodeManifest


def take_load_report(
    member: Member, report: LoadReport, sender: Sender, manifest: NodeManifest | None
) -> Log | None:
    """Keep ``report`` as ``member``'s measures if it can be true; else
    the warning to log (the node keeps its earlier measures)."""
    why = load_refusal(member, report, sender, manifest)
    if why is None:
        member.loads = report
        return None
    return Log(logging.WARNING, f"refused node {member.node_id}'s load report: {why}")


def load_refusal(
    member: Member, report: LoadReport, sender: Sender, manifest: NodeManifest | None
) -> str | None:
    """Why ``report`` from ``member`` cannot be taken (None: it can). The
    caller has checked that the node is in its part of a run and was asked
    for progress."""
    if sender is not Sender.SESSION:
        return "it did not come on the node's own connection"
    if manifest is None:
        return "this registry sent that node no manifest"
    table = [entry.node_id for entry in manifest.entries]
    ids = [link.node_id for link in report.links]
    stranger = [i for i in ids if i not in table]
    if stranger:
        return f"{stranger[0]} is not an entry of its routing table {table}"
    if len(set(ids)) != len(ids):
        return "it names an entry twice"
    counts = [link.packets for link in report.links] + list(report.relays)
    if any(count < 0 for count in counts):
        return f"a negative count ({min(counts)})"
    progress = member.progress
    if progress is None:
        return "no progress report of the run came before it"
    delivered = sum(report.relays)
    if delivered > progress.received:
        return f"{delivered} packets in its relay counts but {progress.received} received"
    forwarded = sum(link.packets for link in report.links)
    if forwarded > progress.sent + progress.relayed:
        return (
            f"{forwarded} packets forwarded on its links but {progress.sent} sent and "
            f"{progress.relayed} relayed"
        )
    return None
