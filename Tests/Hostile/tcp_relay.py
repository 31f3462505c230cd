"""A TCP relay that can be cut, for the fleet test's replica cut off from PostgreSQL (make test).

Listens on 127.0.0.1:LISTEN_PORT and relays each connection to TARGET_HOST:TARGET_PORT.
SIGUSR1 cuts: the listening socket is closed (new connections are refused, as by a stopped
server) and every relayed connection is reset. SIGUSR2 restores: the port listens again.
Prints "ready", "cut" and "restored" on stdout as each takes effect.

usage: tcp_relay.py LISTEN_PORT TARGET_HOST TARGET_PORT
"""
import asyncio
import signal
import sys


async def main():
    listen, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    open_writers = set()
    server = None

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def relay(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.transport.abort()
            return
        pair = {client_writer, upstream_writer}
        open_writers.update(pair)
        try:
            await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
        finally:
            open_writers.difference_update(pair)

    async def listen_again():
        nonlocal server
        server = await asyncio.start_server(relay, "127.0.0.1", listen, reuse_address=True)

    def cut():
        server.close()
        for writer in list(open_writers):
            writer.transport.abort()
        print("cut", flush=True)

    async def restore():
        await listen_again()
        print("restored", flush=True)

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, cut)
    loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(restore()))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    await listen_again()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    # A child of the test runner inherits its signal mask, where these may be blocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM})
    try:
        asyncio.run(main())
    except RuntimeError:
        pass  # SIGTERM stopped the loop
