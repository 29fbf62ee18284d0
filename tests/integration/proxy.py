"""A TCP proxy between the bridge and the broker that tests can cut, stall and restore.

It runs as a process of its own (`python -m tests.integration.proxy PORT TARGET_PORT`),
driven by one command per line on stdin (`cut`, `stall`, `restore`), each answered `ok`.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys

from bridge.cli.dev_broker import free_port


class FaultProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>.

    cut(): every open connection is reset and new ones are closed at once.
    stall(): connections stay open but no byte moves in either direction (a black hole).
    restore(): back to forwarding.
    """

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._process: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.proxy", str(self.port), str(self.target_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            self._expect_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _expect_ok(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if line.strip() != "ok":
            raise RuntimeError(f"fault proxy did not answer: {line!r}")

    def _command(self, command: str) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        self._expect_ok()

    def cut(self) -> None:
        self._command("cut")

    def stall(self) -> None:
        self._command("stall")

    def restore(self) -> None:
        self._command("restore")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def forward(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, target_port: int,
                  writers: set[asyncio.StreamWriter], flowing: asyncio.Event | None = None) -> None:
    """One client connection piped both ways to 127.0.0.1:<target_port> until either side ends (its writers in
    `writers` meanwhile, so the caller can reset them); bytes move only while `flowing` is set, if given."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                if flowing is not None:
                    await flowing.wait()
                if writer.transport.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    try:
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", target_port)
    except OSError:
        client_writer.transport.abort()
        return
    pair = {client_writer, broker_writer}
    writers.update(pair)
    try:
        await asyncio.gather(pipe(client_reader, broker_writer), pipe(broker_reader, client_writer))
    finally:
        writers.difference_update(pair)


async def _serve(port: int, target_port: int) -> None:
    writers: set[asyncio.StreamWriter] = set()
    flowing = asyncio.Event()
    flowing.set()
    state = {"cut": False}

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if state["cut"]:
            client_writer.transport.abort()
            return
        await forward(client_reader, client_writer, target_port, writers, flowing)

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    print("ok", flush=True)
    while line := (await stdin.readline()).decode().strip():
        if line == "cut":
            state["cut"] = True
            flowing.set()
            for writer in list(writers):
                writer.transport.abort()
        elif line == "stall":
            flowing.clear()
        elif line == "restore":
            state["cut"] = False
            flowing.set()
        print("ok", flush=True)
    server.close()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), int(sys.argv[2])))
