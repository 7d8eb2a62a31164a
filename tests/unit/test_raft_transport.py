"""The Raft peer transport over real sockets on the node's event loop (uvloop)."""

from __future__ import annotations

import asyncio

import uvloop

from configdb_nodes.raft.transport import Transport
from configdb_nodes.raft.types import Message, MsgType
from infra.local.ports import free_port


def test_send_on_a_connection_the_kernel_just_aborted_drops_the_message() -> None:
    """A dialed connection can be closed under the transport (the peer resets it, or the
    unacknowledged-data timeout fires) before the dialing task has noticed. A message sent
    in that window is dropped like any message to an unreachable peer: it must not raise into
    the Raft loop (which stops the node)."""

    async def scenario() -> None:
        peer_port, own_port = free_port(), free_port()
        accepted = asyncio.Event()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set()
            await reader.read()
            writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", peer_port)
        peer = f"127.0.0.1:{peer_port}"
        me = f"127.0.0.1:{own_port}"
        transport = Transport(me, [peer], {"node_id": "n1", "raft": me}, "peer-token", lambda m: None)
        await transport.start("127.0.0.1", own_port)
        try:
            await asyncio.wait_for(accepted.wait(), 10)
            while not transport.peers[peer].connected:
                await asyncio.sleep(0.01)
            writer = transport.peers[peer].writer
            assert writer is not None
            writer.transport.abort()
            # Send on every loop turn until the dialing task has noticed: the turns between the
            # socket's close and that task's wake-up are the window.
            sends = 0
            while transport.peers[peer].connected:
                transport.send(Message(MsgType.HEARTBEAT, frm=me, to=peer, term=1))
                sends += 1
                await asyncio.sleep(0)
            assert sends >= 1
        finally:
            await transport.stop()
            server.close()

    uvloop.run(scenario())
